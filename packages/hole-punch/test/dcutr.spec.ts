import { createServer } from 'node:net'
import { waitFor } from '@kitsune/test-support'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { pbStream, lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { Registry } from 'prom-client'
import { DCUTR_PROTOCOL, DEFAULT_MAX_DCUTR_ADDRESSES, DEFAULT_MAX_DCUTR_MESSAGE_SIZE, HolePunch } from '../src/index.ts'
import { plainNode, punchNode, relayNode } from './fixtures.ts'
import type { HolePunchService, PunchFailedDetail, PunchSuccessDetail } from '../src/index.ts'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

describe('DCUtR (loopback, through a real relay)', () => {
  let relay: Libp2p<any>
  let b: Libp2p<any>
  let c: Libp2p<any>
  let relayed: Connection
  let failures: PunchFailedDetail[]

  beforeEach(async () => {
    relay = await relayNode()
    b = await punchNode({ messageTimeout: 300, attempts: 3, dialTimeout: 500 })
    c = await plainNode()
    failures = []
    b.services.holePunch.addEventListener('punch:failed', (evt: CustomEvent<PunchFailedDetail>) => { failures.push(evt.detail) })
    const relayAddr = relay.getMultiaddrs()[0]
    await b.dial(relayAddr)
    await (b as any).components.transportManager.listen([multiaddr(`${relayAddr.toString()}/p2p-circuit`)])
    await waitFor(() => b.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 5000, 'reservation')
    relayed = await c.dial(multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${b.peerId.toString()}`))
    expect(relayed.limits).to.not.be.undefined()
  })

  afterEach(async () => {
    await c?.stop()
    await b?.stop()
    await relay?.stop()
  })

  async function rawStream (): Promise<any> {
    return relayed.newStream(DCUTR_PROTOCOL, { runOnLimitedConnection: true })
  }

  it('closes the stream and reports a malformed CONNECT, and keeps serving', async () => {
    const stream = await rawStream()
    const lp = lpStream(stream)
    await lp.write(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))
    await waitFor(() => failures.length === 1, 5000, 'punch:failed')
    expect(failures[0].reason).to.match(/DCUtR stream error|expected CONNECT|invalid|wire|index out of range/i)
    // the node still answers on the relayed connection
    expect(await c.services.ping.ping(b.peerId)).to.be.a('number')
  })

  /** A CONNECT whose encoding is exactly `size` bytes (one non-multiaddr "address" as padding) */
  function connectOfSize (size: number): Uint8Array {
    for (let pad = size; pad > 0; pad--) {
      const bytes = HolePunch.encode({ type: HolePunch.Type.CONNECT, observedAddresses: [new Uint8Array(pad)] })
      if (bytes.byteLength === size) {
        return bytes
      }
    }
    throw new Error(`no CONNECT of ${size} bytes`)
  }

  it('maxMessageSize at its edge: a CONNECT of exactly 4096 bytes is answered, one of 4097 is refused', async () => {
    const exact = lpStream(await rawStream())
    await exact.write(connectOfSize(DEFAULT_MAX_DCUTR_MESSAGE_SIZE))
    const answer = HolePunch.decode(await exact.read())
    expect(answer.type).to.equal(HolePunch.Type.CONNECT)
    // (that punch then ends with "no SYNC")
    await waitFor(() => failures.length === 1, 5000, 'punch:failed')
    expect(failures[0].reason).to.match(/no SYNC/)

    const over = lpStream(await rawStream())
    await over.write(connectOfSize(DEFAULT_MAX_DCUTR_MESSAGE_SIZE + 1))
    await waitFor(() => failures.length === 2, 5000, 'punch:failed')
    expect(failures[1].reason).to.match(/too long|length|max/i)
  })

  it('maxAddresses at its edge: a CONNECT with 16 addresses is answered, one with 17 is refused', async () => {
    const addrs = (n: number): Array<Uint8Array<ArrayBuffer>> => Array.from({ length: n }, (_, i) => Uint8Array.from(multiaddr(`/ip4/127.0.0.1/tcp/${10_000 + i}`).bytes))
    const exact = pbStream(await rawStream()).pb(HolePunch)
    await exact.write({ type: HolePunch.Type.CONNECT, observedAddresses: addrs(DEFAULT_MAX_DCUTR_ADDRESSES) })
    expect((await exact.read()).type).to.equal(HolePunch.Type.CONNECT)
    await waitFor(() => failures.length === 1, 5000, 'punch:failed')
    expect(failures[0].reason).to.match(/no SYNC/)

    const over = pbStream(await rawStream()).pb(HolePunch)
    await over.write({ type: HolePunch.Type.CONNECT, observedAddresses: addrs(DEFAULT_MAX_DCUTR_ADDRESSES + 1) })
    await waitFor(() => failures.length === 2, 5000, 'punch:failed')
    expect(failures[1].reason).to.match(/observedAddresses|too many|limit/i)
  })

  it('a peer that never answers SYNC: the responder gives up after messageTimeout with a clear reason', async () => {
    const stream = await rawStream()
    const pb = pbStream(stream).pb(HolePunch)
    await pb.write({ type: HolePunch.Type.CONNECT, observedAddresses: [multiaddr('/ip4/127.0.0.1/tcp/9').bytes] })
    const answer = await pb.read()
    expect(answer.type).to.equal(HolePunch.Type.CONNECT)
    await waitFor(() => failures.length === 1, 5000, 'punch:failed')
    expect(failures[0].reason).to.match(/no SYNC/)
    expect(failures[0].role).to.equal('responder')
  })

  it('a SYNC where CONNECT belongs is a protocol error', async () => {
    const stream = await rawStream()
    const pb = pbStream(stream).pb(HolePunch)
    await pb.write({ type: HolePunch.Type.SYNC, observedAddresses: [] })
    await waitFor(() => failures.length === 1, 5000, 'punch:failed')
    expect(failures[0].reason).to.match(/expected CONNECT/)
  })
})

/** B with a reservation on a relay, and peers that dial it through the relay */
async function reservedOn (relay: Libp2p<any>, b: Libp2p<any>): Promise<Multiaddr> {
  const relayAddr = relay.getMultiaddrs()[0]
  await b.dial(relayAddr)
  await (b as any).components.transportManager.listen([multiaddr(`${relayAddr.toString()}/p2p-circuit`)])
  await waitFor(() => b.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 5000, 'reservation')
  return multiaddr(`${relayAddr.toString()}/p2p-circuit/p2p/${b.peerId.toString()}`)
}

/** A port nothing listens on */
async function closedPort (): Promise<number> {
  return new Promise(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as any).port
      server.close(() => { resolve(port) })
    })
  })
}

describe('DCUtR limits and retries (loopback, through a real relay)', () => {
  const nodes: Array<Libp2p<any>> = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).reverse().map(async n => n.stop()))
  })

  it('maxConcurrent 1 counts responder and initiator punches together: extra ones are refused with punch:failed naming the limit', async () => {
    const relay = await relayNode()
    const b = await punchNode({ maxConcurrent: 1, messageTimeout: 5_000 })
    const c = await plainNode()
    const d = await plainNode()
    nodes.push(relay, b, c, d)
    const failures: PunchFailedDetail[] = []
    b.services.holePunch.addEventListener('punch:failed', (evt: CustomEvent<PunchFailedDetail>) => { failures.push(evt.detail) })
    const circuit = await reservedOn(relay, b)
    const fromC = await c.dial(circuit)
    const fromD = await d.dial(circuit)

    // C's punch holds the only slot (B answered CONNECT and waits for SYNC)
    const cStream = await fromC.newStream(DCUTR_PROTOCOL, { runOnLimitedConnection: true })
    const cpb = pbStream(cStream).pb(HolePunch)
    await cpb.write({ type: HolePunch.Type.CONNECT, observedAddresses: [multiaddr('/ip4/127.0.0.1/tcp/9').bytes] })
    expect((await cpb.read()).type).to.equal(HolePunch.Type.CONNECT)

    // a second responder punch (D) is refused
    const dStream = await fromD.newStream(DCUTR_PROTOCOL, { runOnLimitedConnection: true })
    await pbStream(dStream).pb(HolePunch).write({ type: HolePunch.Type.CONNECT, observedAddresses: [] }).catch(() => {})
    await waitFor(() => failures.length === 1, 5000, 'punch:failed for D')
    expect(failures[0].role).to.equal('responder')
    expect(failures[0].peer.equals(d.peerId)).to.be.true()
    expect(failures[0].reason).to.match(/maxConcurrent 1/)

    // so is an initiator punch while the responder one runs
    const relayedD = b.getConnections(d.peerId).find((conn: Connection) => conn.limits != null) as Connection
    await expect(b.services.holePunch.upgrade(relayedD)).to.eventually.be.rejectedWith(/maxConcurrent 1/)
    expect(failures[1]).to.include({ role: 'initiator', attempts: 0 })
    expect(failures[1].reason).to.match(/maxConcurrent 1/)

    // C gives up: the slot is free again and D's CONNECT is answered
    cStream.abort(new Error('gone'))
    await waitFor(() => failures.length === 3, 5000, 'punch:failed for C')
    expect(failures[2].peer.equals(c.peerId)).to.be.true()
    const again = pbStream(await fromD.newStream(DCUTR_PROTOCOL, { runOnLimitedConnection: true })).pb(HolePunch)
    await again.write({ type: HolePunch.Type.CONNECT, observedAddresses: [] })
    expect((await again.read()).type).to.equal(HolePunch.Type.CONNECT)
  })

  it('an initiator against a responder that never completes: 3 punch:start, then punch:failed with attempts 3; the kitsune_hole_punch_* counters say so', async () => {
    const registry = new Registry()
    const relay = await relayNode()
    const b = await punchNode({ autoUpgrade: false, messageTimeout: 2_000, dialTimeout: 1_000 }, {}, {}, { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) })
    const c = await plainNode()
    nodes.push(relay, b, c)
    const port = await closedPort()
    let connects = 0
    // answers CONNECT with an address nothing listens on, reads SYNC, never dials
    await c.handle(DCUTR_PROTOCOL, async (stream: any) => {
      const pb = pbStream(stream).pb(HolePunch)
      await pb.read()
      connects++
      await pb.write({ type: HolePunch.Type.CONNECT, observedAddresses: [multiaddr(`/ip4/127.0.0.1/tcp/${port}`).bytes] })
      await pb.read().catch(() => {})
    }, { runOnLimitedConnection: true })
    const circuit = await reservedOn(relay, b)
    await c.dial(circuit)
    await waitFor(() => b.getConnections(c.peerId).length > 0, 5000, 'relayed connection at B')
    const relayed = b.getConnections(c.peerId)[0]
    const starts: number[] = []
    const failed: PunchFailedDetail[] = []
    b.services.holePunch.addEventListener('punch:start', (evt: any) => { starts.push(evt.detail.attempt) })
    b.services.holePunch.addEventListener('punch:failed', (evt: CustomEvent<PunchFailedDetail>) => { failed.push(evt.detail) })
    await expect(b.services.holePunch.upgrade(relayed)).to.eventually.be.rejectedWith(/failed/)
    expect(starts).to.deep.equal([1, 2, 3])
    expect(connects).to.equal(3)
    expect(failed).to.have.length(1)
    expect(failed[0]).to.include({ attempts: 3, role: 'initiator' })
    const text = await registry.metrics()
    const sample = (name: string): number | undefined => {
      const line = text.split('\n').find(l => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      return line == null ? undefined : Number(line.split(' ').pop())
    }
    expect(sample('kitsune_hole_punch_attempts_total')).to.equal(3)
    expect(sample('kitsune_hole_punch_failures_total')).to.equal(1)
    expect(sample('kitsune_hole_punch_successes_total') ?? 0).to.equal(0)
  })

  it('a punch between two kitsune peers on loopback succeeds over TCP; kitsune_hole_punch_successes_total{transport="tcp"} counts it', async () => {
    const registry = new Registry()
    const relay = await relayNode()
    const b = await punchNode({ messageTimeout: 2_000, dialTimeout: 1_000 }, {}, {}, { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) })
    const c = await punchNode({ messageTimeout: 2_000, dialTimeout: 1_000 })
    nodes.push(relay, b, c)
    const successes: PunchSuccessDetail[] = []
    b.services.holePunch.addEventListener('punch:success', (evt: CustomEvent<PunchSuccessDetail>) => { successes.push(evt.detail) })
    const circuit = await reservedOn(relay, b)
    // C needs a candidate: an observation of a punch-port connection (its dial to the relay)
    await c.dial(relay.getMultiaddrs()[0])
    await waitFor(() => (c.services.holePunch as HolePunchService).candidates().length > 0, 5000, 'a candidate at C')
    await c.dial(circuit)
    await waitFor(() => successes.length === 1, 10_000, 'punch:success at B')
    expect(successes[0]).to.include({ transport: 'tcp', role: 'initiator' })
    expect(successes[0].connection.limits).to.equal(undefined)
    const text = await registry.metrics()
    expect(text).to.match(/kitsune_hole_punch_successes_total\{transport="tcp"\} 1/)
  })
})
