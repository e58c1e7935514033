import { createTestNode } from '@kitsune/test-support'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { expect } from 'aegir/chai'
import { DHT_PROTOCOLS, proxy } from '../src/index.ts'
import { addressOf, FAST_POOL, waitFor } from './fixtures.ts'
import type { ProxyNode } from './fixtures.ts'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

type DHTNode = Libp2p<{ dht: KadDHT }>

function dhtNode (clientMode: boolean): Promise<DHTNode> {
  return createTestNode({
    services: {
      // kad-dht needs the ping service, which every test node has
      dht: kadDHT({
        clientMode,
        // loopback addresses are all these nodes have
        peerInfoMapper: passthroughMapper
      }) as any
    }
  }) as Promise<DHTNode>
}

async function knowsProtocol (node: Libp2p, peer: Libp2p, protocol: string): Promise<boolean> {
  try {
    return (await node.peerStore.get(peer.peerId)).protocols.includes(protocol)
  } catch {
    return false
  }
}

describe('DHT route', function () {
  this.timeout(30_000)
  const nodes: Libp2p[] = []

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  it('answers an upstream DHT client\'s queries from a downstream DHT server, through the proxy', async () => {
    const server = await dhtNode(false)
    const target = await dhtNode(false)
    nodes.push(server, target)
    await target.dial(addressOf(server))
    await waitFor(async () => knowsProtocol(server, target, DHT_PROTOCOLS[0]), 5_000, 'the server to learn the target')

    const proxyNode = await createTestNode({
      services: { proxy: proxy({ ...FAST_POOL, downstreams: [addressOf(server)], routes: [{ protocols: DHT_PROTOCOLS }] }) }
    }) as ProxyNode
    nodes.push(proxyNode)
    await proxyNode.services.proxy.ready()

    const browser = await dhtNode(true)
    nodes.push(browser)
    {
      await browser.dial(addressOf(proxyNode))
      await waitFor(async () => knowsProtocol(browser, proxyNode, DHT_PROTOCOLS[0]), 5_000, 'the proxy to advertise the DHT')

      // the proxy runs no DHT of its own: whatever it answers comes from the server
      expect(Object.keys(proxyNode.services)).to.not.include('dht')

      const fromProxy: string[][] = []
      for await (const event of browser.services.dht.getClosestPeers(target.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(10_000) })) {
        if (event.name === 'PEER_RESPONSE' && event.from.equals(proxyNode.peerId)) {
          fromProxy.push(event.closer.map(peer => peer.id.toString()))
        }
      }
      expect(fromProxy.length, 'the proxy answered').to.be.greaterThan(0)
      expect(fromProxy.flat(), 'the answer holds what only the downstream server knows').to.include(target.peerId.toString())

      let found: string | undefined
      for await (const event of browser.services.dht.findPeer(target.peerId, { signal: AbortSignal.timeout(10_000) })) {
        if (event.name === 'FINAL_PEER') {
          found = event.peer.id.toString()
          expect(event.peer.multiaddrs.map(a => a.toString())).to.include(addressOf(target).decapsulateCode(421).toString())
        }
      }
      expect(found).to.equal(target.peerId.toString())
      expect(proxyNode.services.proxy.status().routes[0].protocols).to.deep.equal(DHT_PROTOCOLS)
    }
  })
})
