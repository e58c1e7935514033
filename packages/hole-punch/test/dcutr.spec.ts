import { waitFor } from '@kitsune/test-support'
import { pbStream, lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { DCUTR_PROTOCOL, HolePunch } from '../src/index.ts'
import { plainNode, punchNode, relayNode } from './fixtures.ts'
import type { PunchFailedDetail } from '../src/index.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

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

  it('refuses a message larger than maxMessageSize', async () => {
    const stream = await rawStream()
    const lp = lpStream(stream)
    await lp.write(new Uint8Array(5000))
    await waitFor(() => failures.length === 1, 5000, 'punch:failed')
    expect(failures[0].reason).to.match(/too long|length|max/i)
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
