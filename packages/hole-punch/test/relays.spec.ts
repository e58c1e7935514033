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
