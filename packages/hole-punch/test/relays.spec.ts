import { waitFor } from '@kitsune/test-support'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { NoRelaysError, RELAY_HOP_PROTOCOL, closestRelays, reachability } from '../src/index.ts'
import { LOOPBACK_CIDRS, autonatServerNode, punchNode, relayNode } from './fixtures.ts'
import type { Libp2p } from '@libp2p/interface'

describe('relays and reachability on loopback', () => {
  it('a relay that refuses reservations: reserve() rejects with NoRelaysError and a relay:error event', async () => {
    const relay = await relayNode({ maxReservations: 0 })
    const p = await punchNode({}, { relays: closestRelays({ publicCidrs: LOOPBACK_CIDRS, checkInterval: 0 }) })
    try {
      await p.dial(relay.getMultiaddrs()[0])
      await waitFor(async () => (await p.peerStore.get(relay.peerId)).protocols.includes(RELAY_HOP_PROTOCOL), 5000, 'identify')
      const errors: any[] = []
      p.services.relays.addEventListener('relay:error', (e: any) => errors.push(e.detail))
      await expect(p.services.relays.reserve()).to.eventually.be.rejectedWith(NoRelaysError, /no relay accepted a reservation/)
      expect(errors).to.have.length(1)
      expect(errors[0].relay.equals(relay.peerId)).to.be.true()
      expect(p.services.relays.reservations).to.deep.equal([])
    } finally {
      await p.stop()
      await relay.stop()
    }
  })

  it('a relay that refused is passed over until retryFailedAfter, then tried again', async () => {
    const relay = await relayNode({ maxReservations: 0 })
    const p = await punchNode({}, { relays: closestRelays({ publicCidrs: LOOPBACK_CIDRS, checkInterval: 0, retryFailedAfter: 300 }) })
    try {
      await p.dial(relay.getMultiaddrs()[0])
      await waitFor(async () => (await p.peerStore.get(relay.peerId)).protocols.includes(RELAY_HOP_PROTOCOL), 5000, 'identify')
      const errors: any[] = []
      p.services.relays.addEventListener('relay:error', (e: any) => errors.push(e.detail))
      await expect(p.services.relays.reserve()).to.eventually.be.rejectedWith(NoRelaysError)
      expect(errors).to.have.length(1)
      expect(p.services.relays.failedRelays).to.deep.equal([relay.peerId.toString()])
      // at once: passed over (0 candidates, no new refusal)
      await expect(p.services.relays.reserve()).to.eventually.be.rejectedWith(NoRelaysError, /0 candidates/)
      expect(errors).to.have.length(1)
      // after retryFailedAfter: asked again (and refused again)
      await waitFor(async () => {
        await p.services.relays.reserve().catch(() => {})
        return errors.length === 2
      }, 5000, 'the relay asked again')
      expect(errors[1].relay.equals(relay.peerId)).to.be.true()
    } finally {
      await p.stop()
      await relay.stop()
    }
  })

  it('remembers at most maxFailed failed relays, the oldest forgotten first', async () => {
    const relays = [await relayNode({ maxReservations: 0 }), await relayNode({ maxReservations: 0 })]
    const p = await punchNode({}, { relays: closestRelays({ publicCidrs: LOOPBACK_CIDRS, checkInterval: 0, maxFailed: 1 }) })
    try {
      for (const r of relays) {
        await p.dial(r.getMultiaddrs()[0])
        await waitFor(async () => (await p.peerStore.get(r.peerId)).protocols.includes(RELAY_HOP_PROTOCOL), 5000, 'identify')
      }
      const errors: any[] = []
      p.services.relays.addEventListener('relay:error', (e: any) => errors.push(e.detail))
      await expect(p.services.relays.reserve()).to.eventually.be.rejectedWith(NoRelaysError)
      expect(errors).to.have.length(2)
      expect(p.services.relays.failedRelays).to.deep.equal([errors[1].relay.toString()])
    } finally {
      await p.stop()
      await Promise.all(relays.map(async r => r.stop()))
    }
  })

  it('a reservation that lapses while the connection stays up is dropped by the check (relay:lost) and taken again', async () => {
    const relay = await relayNode()
    const p = await punchNode({}, { relays: closestRelays({ publicCidrs: LOOPBACK_CIDRS, checkInterval: 0, count: 1 }) })
    try {
      await p.dial(relay.getMultiaddrs()[0])
      await waitFor(async () => (await p.peerStore.get(relay.peerId)).protocols.includes(RELAY_HOP_PROTOCOL), 5000, 'identify')
      const reserved: any[] = []
      const lost: any[] = []
      p.services.relays.addEventListener('relay:reserved', (e: any) => reserved.push(e.detail))
      p.services.relays.addEventListener('relay:lost', (e: any) => lost.push(e.detail))
      await p.services.relays.reserve()
      expect(reserved).to.have.length(1)
      // the reservation goes away without a disconnect: its circuit listener closes
      const listener = (p as any).components.transportManager.getListeners().find((l: any) => l.getAddrs().some((a: any) => a.toString().includes('/p2p-circuit')))
      await listener.close()
      await waitFor(() => !p.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 5000, 'circuit address gone')
      expect(p.getConnections(relay.peerId)).to.have.length(1)
      expect(p.services.relays.reservations).to.have.length(1) // stale until the check
      await p.services.relays.check()
      expect(lost).to.have.length(1)
      expect(lost[0].reason).to.equal('reservation lapsed')
      expect(reserved).to.have.length(2)
      expect(reserved[1].relay.equals(relay.peerId)).to.be.true()
      await waitFor(() => p.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 5000, 'circuit address back')
    } finally {
      await p.stop()
      await relay.stop()
    }
  })

  it('a malformed hop message closes that stream; the relay keeps serving', async () => {
    const relay = await relayNode()
    const p = await punchNode()
    try {
      const conn = await p.dial(relay.getMultiaddrs()[0])
      const stream = await conn.newStream(RELAY_HOP_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
      // the relay answers STATUS (type 2) MALFORMED_MESSAGE (400) instead of crashing
      const res = (await lp.read()).subarray()
      expect([...res.subarray(0, 2)]).to.deep.equal([0x08, 0x02])
      expect(Buffer.from(res).includes(Buffer.from([0x90, 0x03]))).to.be.true()
      expect(await p.services.ping.ping(relay.peerId)).to.be.a('number')
    } finally {
      await p.stop()
      await relay.stop()
    }
  })

  it('reachability: quorum of AutoNAT dial-backs says reachable on loopback, with evidence', async () => {
    const servers: Array<Libp2p<any>> = []
    for (let i = 0; i < 2; i++) {
      servers.push(await autonatServerNode())
    }
    const p = await punchNode({}, { reachability: reachability({ quorum: 2, interval: 0, publicCidrs: LOOPBACK_CIDRS }) })
    try {
      for (const s of servers) {
        await p.dial(s.getMultiaddrs()[0])
      }
      for (const s of servers) {
        await waitFor(async () => (await p.peerStore.get(s.peerId)).protocols.length > 0, 5000, 'identify')
      }
      const res = await p.services.reachability.check()
      expect(res.status).to.equal('reachable')
      expect(res.evidence.filter((e: any) => e.status === 'OK')).to.have.length(2)
    } finally {
      await p.stop()
      await Promise.all(servers.map(async s => s.stop()))
    }
  })

  it('reachability with one server and quorum 2 is unknown', async () => {
    const server = await autonatServerNode()
    const p = await punchNode({}, { reachability: reachability({ quorum: 2, interval: 0, publicCidrs: LOOPBACK_CIDRS }) })
    try {
      await p.dial(server.getMultiaddrs()[0])
      await waitFor(async () => (await p.peerStore.get(server.peerId)).protocols.length > 0, 5000, 'identify')
      const res = await p.services.reachability.check()
      expect(res.status).to.equal('unknown')
      expect(res.evidence).to.have.length(1)
    } finally {
      await p.stop()
      await server.stop()
    }
  })

  it('rejects quorum 0 and count 0 by name', () => {
    expect(() => reachability({ quorum: 0 })({ logger: { forComponent: () => () => {} } } as any)).to.throw(/quorum/)
    expect(() => closestRelays({ count: 0 })({ logger: { forComponent: () => () => {} } } as any)).to.throw(/count/)
  })
})
