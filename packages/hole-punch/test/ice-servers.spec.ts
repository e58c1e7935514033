import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { STUN_ADDRESS_PROTOCOL } from '../src/constants.ts'
import { IceServersFromRelays } from '../src/ice-servers.ts'
import { StunServer } from '../src/stun.ts'
import type { IceServersInit } from '../src/ice-servers.ts'
import type { Libp2p } from '@libp2p/interface'

const base = {
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false },
  transports: [tcp()]
}

async function client (init: IceServersInit = {}): Promise<Libp2p<{ ice: IceServersFromRelays }>> {
  return createLibp2p({ ...base, services: { identify: identify(), ice: (c: any) => new IceServersFromRelays(c, init) } }) as any
}

async function connect (from: Libp2p<any>, to: Libp2p<any>): Promise<void> {
  const identified = new Promise<void>(resolve => {
    from.addEventListener('peer:identify', evt => {
      if (evt.detail.peerId.equals(to.peerId)) {
        resolve()
      }
    })
  })
  await from.dial(to.getMultiaddrs()[0])
  await identified
}

describe('ICE servers from relays', () => {
  const nodes: Array<Libp2p<any>> = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => n.stop()))
  })

  it('returns the STUN address of a connected relay, every time (its answer and close arrive during multistream-select)', async () => {
    const relay = await createLibp2p({
      ...base,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      services: { identify: identify(), stun: (c: any) => new StunServer(c, { listen: '127.0.0.1:0' }) }
    })
    const peer = await client()
    nodes.push(relay, peer)
    await connect(peer, relay)
    const expected = `stun:${(relay.services as any).stun.address as string}`
    for (let i = 0; i < 10; i++) {
      expect(await peer.services.ice.getIceServers()).to.deep.equal([{ urls: [expected] }])
    }
  })

  it('gives up on a relay that never answers after `timeout` ms and returns no server (never a public default)', async () => {
    const silent = await createLibp2p({ ...base, addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, services: { identify: identify() } })
    await silent.handle(STUN_ADDRESS_PROTOCOL, () => {})
    const peer = await client({ timeout: 300 })
    nodes.push(silent, peer)
    await connect(peer, silent)
    const start = Date.now()
    expect(await peer.services.ice.getIceServers()).to.deep.equal([])
    const ms = Date.now() - start
    expect(ms).to.be.at.least(280)
    expect(ms).to.be.below(2000)
  })
})
