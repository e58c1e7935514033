import { expect } from 'aegir/chai'
import { equals } from 'uint8arrays/equals'
import { frame } from '../src/framing.ts'
import { BitswapMessage } from '../src/pb/message.ts'
import { addFile, addressOf, cat, connectClient, startHelias, startProxy, stopAll, waitFor } from './fixtures.ts'
import { ended, makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { BitswapForwarderInit } from '../src/index.ts'

const KiB = 1024

/**
 * A framed Bitswap message (one 1.0.0 block) of exactly `size` bytes,
 * length prefix included
 */
function messageOfSize (size: number): Uint8Array {
  // 3-byte length prefix; field 2's tag and 3-byte length
  const body = BitswapMessage.encode({ rawBlocks: [new Uint8Array(size - 3 - 1 - 3)] })
  const framed = frame(body).subarray()
  expect(framed.byteLength).to.equal(size)
  return framed
}

describe('fair budgets and bounded memory under abuse', function () {
  this.timeout(60_000)

  let proxyNode: ProxyNode | undefined
  let nodes: Array<{ stop(): unknown }> = []

  async function setup (forwarder: BitswapForwarderInit, clientCount: number): Promise<{ downstream: RawBitswapPeer, clients: RawBitswapPeer[] }> {
    const downstream = await RawBitswapPeer.create()
    nodes.push(downstream)
    proxyNode = await startProxy([downstream.node], { forwarder })
    const clients = await Promise.all(Array.from({ length: clientCount }, async () => {
      const client = await RawBitswapPeer.create()
      nodes.push(client)
      await client.dial(addressOf(proxyNode!))
      return client
    }))
    return { downstream, clients }
  }

  afterEach(async () => {
    await stopAll([...nodes, proxyNode])
    nodes = []
    proxyNode = undefined
  })

  it('peers that fill the tracked-wants table with want-haves do not lock out a stock Helia client: it fetches a 1 MiB file', async () => {
    const [downstream, client] = await startHelias(2)
    nodes.push(downstream, client)
    const bytes = new Uint8Array(1024 * KiB).map((_, i) => (i * 31) & 0xff)
    const root = await addFile(downstream, bytes)
    proxyNode = await startProxy([downstream.libp2p], { forwarder: { maxTrackedWants: 64 } })
    const forwarder = proxyNode.services.bitswapForwarder

    // four peers send 20 want-haves each for blocks nobody has: 80 wants
    // for a table of 64
    const flooders = await Promise.all(Array.from({ length: 4 }, async () => {
      const peer = await RawBitswapPeer.create()
      nodes.push(peer)
      await peer.dial(addressOf(proxyNode!))
      return peer
    }))
    for (const [i, flooder] of flooders.entries()) {
      const missing = await Promise.all(Array.from({ length: 20 }, async (_, j) => makeBlock(10_000 + i * 20 + j)))
      await flooder.send(proxyNode.peerId, { wants: missing.map(b => want(b.cid, { wantType: 'have' })), blocks: [], presences: [] })
    }
    await waitFor(() => forwarder.stats().trackedWants + forwarder.stats().waitingWants === 80, 10_000, 'the flood taken in')
    expect(forwarder.stats().trackedWants, 'the table is full').to.equal(64)

    await connectClient(client, proxyNode)
    const fetched = await cat(client, root, { signal: AbortSignal.timeout(10_000) })
    expect(equals(fetched, bytes)).to.be.true()

    const stats = forwarder.stats()
    expect(stats.evictedWants, 'flooders\' want-haves gave way').to.be.greaterThan(0)
    expect(stats.refusedWants, 'nothing was refused: evicted wants wait').to.equal(0)
    // the client's wants were answered and left: the flooders' waiting
    // wants took the room back
    await waitFor(() => forwarder.stats().trackedWants === 64 && forwarder.stats().waitingWants === 16, 5_000, 'the waiting wants taken back in')
  })

  it('maxTrackedWants: a want that finds the table full waits (no DONT_HAVE) and is asked downstream as soon as room frees', async () => {
    const { downstream, clients: [one, two] } = await setup({ maxTrackedWants: 3 }, 2)
    const blocks = await Promise.all(Array.from({ length: 4 }, async (_, i) => makeBlock(40 + i)))
    const forwarder = proxyNode!.services.bitswapForwarder

    await one.send(proxyNode!.peerId, { wants: blocks.slice(0, 2).map(b => want(b.cid)), blocks: [], presences: [] })
    await waitFor(() => forwarder.stats().trackedWants === 2, 5_000, 'the first two tracked')
    // the second peer holds 1 of 3 (its share, the table over 2 peers, is 1):
    // its second want waits
    await two.send(proxyNode!.peerId, { wants: blocks.slice(2, 4).map(b => want(b.cid, { sendDontHave: true })), blocks: [], presences: [] })
    await waitFor(() => forwarder.stats().waitingWants === 1, 5_000, 'the fourth waits')
    expect(forwarder.stats().trackedWants).to.equal(3)
    await waitFor(() => downstream.wantsFor(blocks[2].cid).length > 0, 5_000, 'the third asked downstream')
    expect(downstream.wantsFor(blocks[3].cid), 'the fourth not asked yet').to.have.lengthOf(0)
    expect(two.presences(blocks[3].cid), 'no DONT_HAVE for a want that waits').to.deep.equal([])

    await one.send(proxyNode!.peerId, { wants: [want(blocks[0].cid, { cancel: true })], blocks: [], presences: [] })
    await waitFor(() => downstream.wantsFor(blocks[3].cid).length > 0, 5_000, 'the fourth asked once room freed')
    expect(forwarder.stats().waitingWants).to.equal(0)
    expect(forwarder.stats().refusedWants).to.equal(0)

    // the downstream answers it: the block reaches the peer whose want waited
    await downstream.send(proxyNode!.peerId, { wants: [], blocks: [blocks[3]], presences: [] })
    await two.waitForBlocks([blocks[3].cid])
  })

  it('maxWaitingWants: wants wait up to the limit; the next is refused with DONT_HAVE', async () => {
    const { clients: [one, two] } = await setup({ maxTrackedWants: 1, maxWaitingWants: 1 }, 2)
    const blocks = await Promise.all(Array.from({ length: 3 }, async (_, i) => makeBlock(70 + i)))
    const forwarder = proxyNode!.services.bitswapForwarder

    await one.send(proxyNode!.peerId, { wants: [want(blocks[0].cid)], blocks: [], presences: [] })
    await waitFor(() => forwarder.stats().trackedWants === 1, 5_000, 'one tracked')
    await two.send(proxyNode!.peerId, { wants: blocks.slice(1).map(b => want(b.cid, { sendDontHave: true })), blocks: [], presences: [] })

    await waitFor(() => two.presences(blocks[2].cid).length > 0, 5_000, 'DONT_HAVE for the one past the limit')
    expect(two.presences(blocks[2].cid)).to.deep.equal(['dont-have'])
    expect(two.presences(blocks[1].cid)).to.deep.equal([])
    const stats = forwarder.stats()
    expect(stats.waitingWants).to.equal(1)
    expect(stats.refusedWants).to.equal(1)
  })

  it('maxInboundFrameBytesPerPeer: a peer may buffer exactly the limit of incomplete messages; one byte more resets that stream only', async () => {
    const { clients: [peer, other] } = await setup({ maxInboundFrameBytesPerPeer: 64 * KiB, maxMessageSize: 128 * KiB, maxBlockSize: 96 * KiB }, 2)
    const forwarder = proxyNode!.services.bitswapForwarder
    const message = messageOfSize(64 * KiB)

    const first = await peer.sendBytes(proxyNode!.peerId, message.subarray(0, message.byteLength - 1), { close: false })
    await waitFor(() => forwarder.stats().inboundFrameBytes === 64 * KiB - 1, 5_000, 'all but one byte buffered')
    const second = await peer.sendBytes(proxyNode!.peerId, new Uint8Array([0x0a]), { close: false })
    await waitFor(() => forwarder.stats().inboundFrameBytes === 64 * KiB, 5_000, 'exactly the limit buffered')

    second.send(new Uint8Array([0x01]))
    expect(await ended(second)).to.equal('reset')
    expect(forwarder.stats().frameBudgetResets).to.equal(1)
    expect(forwarder.stats().inboundFrameBytes, 'the reset stream\'s bytes are given back').to.equal(64 * KiB - 1)
    expect(first.status).to.equal('open')

    // the first message completes and is read
    first.send(message.subarray(message.byteLength - 1))
    await waitFor(() => forwarder.stats().unwantedBlocks === 1, 5_000, 'the message read')
    expect(forwarder.stats().inboundFrameBytes).to.equal(0)
    expect(forwarder.stats().malformedMessages).to.equal(0)
    expect(forwarder.stats().cutOffs, 'the peer is not cut off').to.equal(0)

    // another peer was never affected
    const ok = await other.sendBytes(proxyNode!.peerId, message)
    expect(await ended(ok)).to.equal('closed')
    await waitFor(() => forwarder.stats().unwantedBlocks === 2, 5_000, 'the other peer\'s message read')
  })

  it('maxInboundFrameBytes: incomplete messages of all peers together stay within the limit', async () => {
    const { clients: [a, b] } = await setup({ maxInboundFrameBytes: 64 * KiB, maxInboundFrameBytesPerPeer: 64 * KiB, maxMessageSize: 128 * KiB, maxBlockSize: 96 * KiB }, 2)
    const forwarder = proxyNode!.services.bitswapForwarder
    const message = messageOfSize(64 * KiB)

    const half = 32 * KiB
    const fromA = await a.sendBytes(proxyNode!.peerId, message.subarray(0, half), { close: false })
    await waitFor(() => forwarder.stats().inboundFrameBytes === half, 5_000, 'a\'s half buffered')
    const fromB = await b.sendBytes(proxyNode!.peerId, message.subarray(0, half), { close: false })
    await waitFor(() => forwarder.stats().inboundFrameBytes === 2 * half, 5_000, 'b\'s half buffered: the limit')

    fromB.send(message.subarray(half, half + 1))
    expect(await ended(fromB)).to.equal('reset')
    expect(forwarder.stats().frameBudgetResets).to.equal(1)

    fromA.send(message.subarray(half))
    await waitFor(() => forwarder.stats().unwantedBlocks === 1, 5_000, 'a\'s message read')
    expect(forwarder.stats().inboundFrameBytes).to.equal(0)
  })

  it('frameTimeout: a message that does not complete in time resets its stream; one that does is read', async () => {
    const { clients: [peer] } = await setup({ frameTimeout: 300, maxMessageSize: 128 * KiB, maxBlockSize: 96 * KiB }, 1)
    const forwarder = proxyNode!.services.bitswapForwarder
    const message = messageOfSize(64 * KiB)

    const whole = await peer.sendBytes(proxyNode!.peerId, message)
    expect(await ended(whole)).to.equal('closed')
    await waitFor(() => forwarder.stats().unwantedBlocks === 1, 5_000, 'the whole message read')

    const started = performance.now()
    const stalled = await peer.sendBytes(proxyNode!.peerId, message.subarray(0, 100), { close: false })
    expect(await ended(stalled)).to.equal('reset')
    expect(performance.now() - started, 'not before frameTimeout').to.be.at.least(290)
    expect(forwarder.stats().frameTimeouts).to.equal(1)
    expect(forwarder.stats().inboundFrameBytes).to.equal(0)
  })
})
