import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { waitFor } from '@kitsune/test-support'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { TypedEventEmitter } from 'main-event'
import { Registry } from 'prom-client'
import { DEFAULT_MAX_PUNCH_CANDIDATES, PUNCH_TCP_TAG, PunchTCP as PunchTCPClass, detectPunchSupport } from '../src/index.ts'
import { punchNode, tcpHandles } from './fixtures.ts'
import type { PunchTCP } from '../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { AddressInfo, Socket } from 'node:net'

/**
 * A TCP server on loopback that accepts and never says a word: a dial to
 * it connects, then waits in the upgrade (nothing leaves the machine)
 */
async function silentServer (): Promise<{ port: number, close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer(socket => {
    // the dialer resets when it gives up
    socket.on('error', () => {})
    sockets.add(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      sockets.forEach(socket => socket.destroy())
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

function transportOf (node: Libp2p<any>): PunchTCP {
  return (node as any).components.transportManager.getTransports().find((t: any) => t[Symbol.toStringTag] === PUNCH_TCP_TAG)
}

describe('punch TCP transport', () => {
  let a: Libp2p<any>
  let b: Libp2p<any>
  let handlesBefore: number

  before(() => {
    handlesBefore = tcpHandles()
  })

  beforeEach(async () => {
    a = await punchNode()
    b = await punchNode()
  })

  afterEach(async () => {
    await a?.stop()
    await b?.stop()
  })

  after(async () => {
    await waitFor(() => tcpHandles() <= handlesBefore, 5000, 'no leaked TCP handles')
  })

  it('feature-detects reusePort listeners and net.BoundSocket on this Node.js', () => {
    const s = detectPunchSupport()
    expect(s.reusePortListen).to.be.true()
    expect(s.boundSocket).to.be.true()
    expect(transportOf(a).mode).to.equal('reuse-port')
  })

  it('listens, dials from its punch port, and carries a protocol', async () => {
    const port = transportOf(a).punchPort
    expect(port).to.be.a('number')
    const conn = await a.dial(b.getMultiaddrs()[0])
    expect(transportOf(a).isPunchPortConnection(conn)).to.be.true()
    const rtt = await a.services.ping.ping(b.peerId)
    expect(rtt).to.be.a('number')
    // b sees a coming from a's listen (punch) port
    const inbound = b.getConnections(a.peerId)[0]
    expect(inbound.remoteAddr.toString()).to.include(`/tcp/${port}`)
  })

  it('identify observations of punch-port connections become punch candidates', async () => {
    await a.dial(b.getMultiaddrs()[0])
    await waitFor(() => transportOf(a).observed.getCandidates().length > 0, 5000, 'a candidate')
    expect(transportOf(a).observed.getCandidates()[0].toString()).to.equal(`/ip4/127.0.0.1/tcp/${transportOf(a).punchPort}`)
  })

  it('completes a simultaneous open from both punch ports with the DCUtR roles', async () => {
    const ta = transportOf(a)
    const tb = transportOf(b)
    const [ca, cb] = await Promise.all([
      ta.punch(multiaddr(`/ip4/127.0.0.1/tcp/${tb.punchPort}/p2p/${b.peerId.toString()}`), { initiator: true }),
      tb.punch(multiaddr(`/ip4/127.0.0.1/tcp/${ta.punchPort}/p2p/${a.peerId.toString()}`), { initiator: false })
    ])
    expect(ca.remotePeer.equals(b.peerId)).to.be.true()
    expect(cb.remotePeer.equals(a.peerId)).to.be.true()
    expect(ca.limits).to.be.undefined()
    const stream = await ca.newStream('/ipfs/ping/1.0.0')
    await stream.close()
  })

  it('rejects a dial aborted before it starts, and a refused one, with errors', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(a.dial(b.getMultiaddrs()[0], { signal: controller.signal })).to.eventually.be.rejected()
    await expect(a.dial(multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${b.peerId.toString()}`))).to.eventually.be.rejected()
  })

  it('gives up a punch to a peer that never answers after its timeout', async () => {
    const silent = await silentServer()
    try {
      const start = Date.now()
      await expect(transportOf(a).punch(multiaddr(`/ip4/127.0.0.1/tcp/${silent.port}`), { initiator: true, timeout: 300 })).to.eventually.be.rejected()
      expect(Date.now() - start).to.be.within(250, 3000)
    } finally {
      await silent.close()
    }
  })
})

describe('punch TCP transport, fixed-port mode (the dial-only fallback)', () => {
  let a: Libp2p<any>
  let b: Libp2p<any>
  const punchPortA = 20000 + Math.floor(Math.random() * 20000)

  beforeEach(async () => {
    a = await punchNode({}, {}, { mode: 'fixed-port', punchPort: punchPortA })
    b = await punchNode()
  })

  afterEach(async () => {
    await a?.stop()
    await b?.stop()
  })

  it('is forced by mode: fixed-port, and rejects a missing punchPort by name', async () => {
    expect(transportOf(a).mode).to.equal('fixed-port')
    expect(transportOf(a).punchPort).to.equal(punchPortA)
    await expect(punchNode({}, {}, { mode: 'fixed-port' })).to.eventually.be.rejectedWith(/fixed-port mode needs punchPort/)
  })

  it('ordinary dials leave from ephemeral ports; their observed IP with the punch port is the candidate', async () => {
    const conn = await a.dial(b.getMultiaddrs()[0])
    expect(transportOf(a).isPunchPortConnection(conn)).to.be.false()
    await waitFor(() => b.getConnections(a.peerId).length > 0, 5000, 'b sees the connection')
    const inbound = b.getConnections(a.peerId)[0]
    expect(inbound.remoteAddr.toString()).to.not.include(`/tcp/${punchPortA}`)
    await waitFor(() => transportOf(a).observed.getCandidates().length > 0, 5000, 'a candidate')
    expect(transportOf(a).observed.getCandidates().map(String)).to.deep.equal([`/ip4/127.0.0.1/tcp/${punchPortA}`])
  })

  it('a punch dial leaves from the fixed punch port', async () => {
    const conn = await transportOf(a).punch(b.getMultiaddrs()[0], { initiator: true })
    expect(transportOf(a).isPunchPortConnection(conn)).to.be.true()
    await waitFor(() => b.getConnections(a.peerId).length > 0, 5000, 'b sees the punched connection')
    expect(b.getConnections(a.peerId)[0].remoteAddr.toString()).to.include(`/tcp/${punchPortA}`)
    await conn.close()
  })
})

describe('punch candidates cap (maxCandidates)', () => {
  function transport (init: Record<string, any> = {}): PunchTCP {
    return new PunchTCPClass({ logger: defaultLogger(), events: new TypedEventEmitter(), upgrader: {} as any }, { publicCidrs: ['198.18.0.0/15'], ...init })
  }

  async function observe (t: PunchTCP, ip: string): Promise<void> {
    const connection: any = { id: `conn-${ip}` }
    ;(t as any).punchConnections.add(connection.id)
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    t.observed.record({ observedAddr: multiaddr(`/ip4/${ip}/tcp/4001`), connection, peerId })
  }

  it('keeps maxCandidates observed addresses, the least recently seen goes first; the default is 8', async () => {
    const two = transport({ maxCandidates: 2 })
    await observe(two, '198.18.0.1')
    await observe(two, '198.18.0.2')
    expect(two.observed.getCandidates()).to.have.length(2)
    await observe(two, '198.18.0.3')
    expect(two.observed.getCandidates().map(String).sort()).to.deep.equal(['/ip4/198.18.0.2/tcp/4001', '/ip4/198.18.0.3/tcp/4001'])

    const byDefault = transport()
    for (let i = 1; i <= DEFAULT_MAX_PUNCH_CANDIDATES + 1; i++) {
      await observe(byDefault, `198.18.1.${i}`)
    }
    expect(byDefault.observed.getCandidates()).to.have.length(DEFAULT_MAX_PUNCH_CANDIDATES)
    expect(DEFAULT_MAX_PUNCH_CANDIDATES).to.equal(8)
    expect(() => transport({ maxCandidates: 0 })).to.throw(/maxCandidates/)
  })
})

describe('punch TCP transport as a drop-in for @libp2p/tcp: limits, abort, metrics', () => {
  const nodes: Array<Libp2p<any>> = []
  let handlesBefore: number

  before(() => {
    handlesBefore = tcpHandles()
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => { await node.stop() }))
  })

  after(async () => {
    await waitFor(() => tcpHandles() <= handlesBefore, 5000, 'no leaked TCP handles')
  })

  it('maxConnections: the listener holds exactly that many sockets; the next one is closed', async () => {
    const b = await punchNode({}, {}, { maxConnections: 2 })
    nodes.push(b)
    const port = transportOf(b).punchPort as number
    const sockets = []
    try {
      for (let i = 0; i < 2; i++) {
        const socket = connect(port, '127.0.0.1').on('error', () => {})
        sockets.push(socket)
        await once(socket, 'connect')
      }
      const third = connect(port, '127.0.0.1').on('error', () => {})
      sockets.push(third)
      await once(third, 'close', { signal: AbortSignal.timeout(5000) })
      expect(sockets.slice(0, 2).every(socket => !socket.destroyed && !socket.readableEnded)).to.be.true()
    } finally {
      sockets.forEach(socket => socket.destroy())
    }
  })

  it('inactivityTimeout: a connection that carries nothing is closed after it', async () => {
    const a = await punchNode()
    const b = await punchNode({}, {}, { inactivityTimeout: 500 })
    nodes.push(a, b)
    await a.dial(b.getMultiaddrs()[0])
    await waitFor(() => b.getConnections(a.peerId).length === 0, 10_000, 'the idle connection closed by b')
  })

  it('a dial aborted while it is under way rejects at once, with no socket left', async () => {
    const a = await punchNode()
    nodes.push(a)
    const key = await generateKeyPair('Ed25519')
    const silent = await silentServer()
    try {
      const start = Date.now()
      await expect(a.dial(multiaddr(`/ip4/127.0.0.1/tcp/${silent.port}/p2p/${peerIdFromPrivateKey(key).toString()}`), { signal: AbortSignal.timeout(300) })).to.eventually.be.rejected()
      expect(Date.now() - start).to.be.within(250, 3000)
    } finally {
      await silent.close()
    }
  })

  it('counts dials in kitsune_hole_punch_tcp_dialer_events_total', async () => {
    const registry = new Registry()
    const a = await punchNode({}, {}, {}, { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) })
    const b = await punchNode()
    nodes.push(a, b)
    await a.dial(b.getMultiaddrs()[0])
    await expect(a.dial(multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${b.peerId.toString()}`), { force: true } as any)).to.eventually.be.rejected()
    const text = await registry.metrics()
    expect(text).to.match(/kitsune_hole_punch_tcp_dialer_events_total\{event="connect"\} 1\b/)
    expect(text).to.match(/kitsune_hole_punch_tcp_dialer_events_total\{event="error"\} [1-9]/)
  })
})
