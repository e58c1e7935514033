import { frontDoorMplex } from '@kitsune/proxy'
import { yamux } from '@libp2p/yamux'
import { expect } from 'aegir/chai'
import { keyOf } from '../src/codec.ts'
import { addressOf, startProxy, stopAll, waitFor } from './fixtures.ts'
import { makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'

const KiB = 1024

describe('peers on mplex (js-ipfs): no flow control', function () {
  this.timeout(30_000)

  let proxyNode: ProxyNode | undefined
  let peers: RawBitswapPeer[] = []

  afterEach(async () => {
    await stopAll([...peers, proxyNode])
    peers = []
    proxyNode = undefined
  })

  it('blocks go in messages of at most maxMessageSizeOverMplex, each on a stream of its own; wants and presences keep one stream', async () => {
    const limit = 600 * KiB
    const downstream = await RawBitswapPeer.create()
    downstream.serve = true
    const blocks = await Promise.all(Array.from({ length: 6 }, async (_, i) => makeBlock(100 + i, 256 * KiB)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }
    const missing = await makeBlock(999)
    proxyNode = await startProxy([downstream.node], {
      forwarder: { maxMessageSizeOverMplex: limit },
      config: { streamMuxers: [yamux(), frontDoorMplex()] }
    })
    const client = await RawBitswapPeer.create('1.2.0', undefined, { streamMuxers: [frontDoorMplex()] })
    peers.push(downstream, client)
    await client.dial(addressOf(proxyNode))
    expect(client.node.getConnections(proxyNode.peerId)[0].multiplexer).to.equal('/mplex/6.7.0')

    await client.send(proxyNode.peerId, { wants: [...blocks.map(b => want(b.cid)), want(missing.cid)], blocks: [], presences: [] })
    await waitFor(async () => (await client.receivedBlocks()).size === blocks.length, 10_000, 'every block')
    await waitFor(() => client.received.some(r => r.message.presences.length > 0), 10_000, 'the DONT_HAVE')

    const withBlocks = client.received.filter(r => r.message.blocks.length > 0)
    // two 256 KiB blocks fit in 600 KiB, three do not
    expect(withBlocks.every(r => r.message.blocks.length <= 2), 'at most two blocks a message').to.be.true()
    expect(withBlocks.flatMap(r => r.message.blocks)).to.have.lengthOf(blocks.length)
    expect(withBlocks.every(r => r.message.wants.length === 0 && r.message.presences.length === 0), 'blocks travel alone').to.be.true()
    expect(new Set(withBlocks.map(r => r.stream)).size, 'a stream for each').to.equal(withBlocks.length)
    const others = client.received.filter(r => r.message.blocks.length === 0)
    expect(others.every(r => !withBlocks.some(b => b.stream === r.stream)), 'presences never on a block stream').to.be.true()
  })

  it('peers on yamux keep one stream for everything, messages up to maxMessageSize', async () => {
    const downstream = await RawBitswapPeer.create()
    downstream.serve = true
    const blocks = await Promise.all(Array.from({ length: 6 }, async (_, i) => makeBlock(200 + i, 256 * KiB)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }
    proxyNode = await startProxy([downstream.node], { forwarder: { maxMessageSizeOverMplex: 600 * KiB } })
    const client = await RawBitswapPeer.create()
    peers.push(downstream, client)
    await client.dial(addressOf(proxyNode))

    await client.send(proxyNode.peerId, { wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] })
    await waitFor(async () => (await client.receivedBlocks()).size === blocks.length, 10_000, 'every block')
    expect(new Set(client.received.map(r => r.stream)).size).to.equal(1)
  })
})
