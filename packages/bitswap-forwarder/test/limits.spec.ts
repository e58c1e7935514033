// `delay` only where a limit is a time (cutOffTime, dontHaveTtl) and the test
// waits for it to pass on purpose
import { setTimeout as delay } from 'node:timers/promises'
import { expect } from 'aegir/chai'
import { equals } from 'uint8arrays/equals'
import { LruBlockCache } from '../src/block-cache.ts'
import { encodeMessage, keyOf } from '../src/codec.ts'
import { frame } from '../src/framing.ts'
import { BitswapMessage } from '../src/pb/message.ts'
import { addressOf, startProxy, stopAll, waitFor } from './fixtures.ts'
import { ended, makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { BitswapForwarderInit } from '../src/index.ts'
import type { Stream } from '@libp2p/interface'

const KiB = 1024

describe('limits, each at its edge', function () {
  this.timeout(30_000)

  let proxyNode: ProxyNode | undefined
  let peers: RawBitswapPeer[] = []

  async function setup (forwarder: BitswapForwarderInit, clientCount = 1): Promise<{ downstream: RawBitswapPeer, clients: RawBitswapPeer[] }> {
    const downstream = await RawBitswapPeer.create()
    downstream.serve = true
    peers.push(downstream)
    proxyNode = await startProxy([downstream.node], { forwarder })
    const clients = await Promise.all(Array.from({ length: clientCount }, async () => {
      const client = await RawBitswapPeer.create()
      peers.push(client)
      await client.dial(addressOf(proxyNode!))
      return client
    }))
    return { downstream, clients }
  }

  afterEach(async () => {
    await stopAll([...peers, proxyNode])
    peers = []
    proxyNode = undefined
  })

  it('maxMessageSize (inbound): a message of exactly the limit is read, one byte more resets the stream and cuts the peer off', async () => {
    const limit = 64 * KiB
    const { clients: [client, other], downstream } = await setup({ maxMessageSize: limit, maxBlockSize: 32 * KiB }, 2)
    // field 2 (a 1.0.0 block) sized so the message is exactly `limit` bytes
    const exact = BitswapMessage.encode({ rawBlocks: [new Uint8Array(limit - 1 - 3)] })
    expect(exact.byteLength).to.equal(limit)
    const over = BitswapMessage.encode({ rawBlocks: [new Uint8Array(limit - 1 - 3 + 1)] })

    const ok = await client.sendBytes(proxyNode!.peerId, frame(exact).subarray())
    expect(await ended(ok)).to.equal('closed')
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().unwantedBlocks === 1, 5_000, 'message read')
    expect(proxyNode!.services.bitswapForwarder.stats().malformedMessages).to.equal(0)

    const tooBig = await client.sendBytes(proxyNode!.peerId, frame(over).subarray(), { close: false })
    expect(await ended(tooBig)).to.equal('reset')
    const stats = proxyNode!.services.bitswapForwarder.stats()
    expect(stats.malformedMessages).to.equal(1)
    expect(stats.cutOffs).to.equal(1)

    const block = await makeBlock(1)
    downstream.blocks.set(keyOf(block.cid), block)
    await other.send(proxyNode!.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await other.waitForBlocks([block.cid])
  })

  it('maxMessageSize (outbound): blocks are split over messages no larger than the limit', async () => {
    const limit = 128 * KiB
    const { downstream, clients: [client] } = await setup({ maxMessageSize: limit, maxBlockSize: 64 * KiB })
    const blocks = await Promise.all(Array.from({ length: 6 }, async (_, i) => makeBlock(10 + i, 60 * KiB)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }

    await client.send(proxyNode!.peerId, { wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] })
    const received = await client.waitForBlocks(blocks.map(b => b.cid))

    for (const block of blocks) {
      expect(equals(received.get(keyOf(block.cid)) ?? new Uint8Array(), block.data)).to.be.true()
    }
    expect(Math.max(...client.messageSizes)).to.be.at.most(limit)
    expect(client.messageSizes.length).to.be.at.least(3)
  })

  it('maxBlockSize: a block of exactly the limit is forwarded, a larger one is dropped as bad', async () => {
    const limit = 32 * KiB
    const { downstream, clients: [client] } = await setup({ maxBlockSize: limit })
    const fits = await makeBlock(20, limit)
    const tooBig = await makeBlock(21, limit + 1)
    downstream.blocks.set(keyOf(fits.cid), fits)
    downstream.blocks.set(keyOf(tooBig.cid), tooBig)

    await client.send(proxyNode!.peerId, { wants: [want(fits.cid), want(tooBig.cid, { sendDontHave: true })], blocks: [], presences: [] })
    await client.waitForBlocks([fits.cid])
    await waitFor(() => client.presences(tooBig.cid).length > 0, 5_000, 'DONT_HAVE for the oversized block')

    expect((await client.receivedBlocks()).has(keyOf(tooBig.cid))).to.be.false()
    expect(proxyNode!.services.bitswapForwarder.stats().badBlocks).to.equal(1)
  })

  it('maxWantlistEntriesPerPeer: the limit is accepted, one more resets the stream, cuts the peer off and cancels its wants', async () => {
    const { downstream, clients: [greedy, other] } = await setup({ maxWantlistEntriesPerPeer: 5, cutOffTime: 500 }, 2)
    downstream.serve = false
    const blocks = await Promise.all(Array.from({ length: 6 }, async (_, i) => makeBlock(30 + i)))

    const first = await greedy.send(proxyNode!.peerId, { wants: blocks.slice(0, 5).map(b => want(b.cid)), blocks: [], presences: [] })
    expect(await ended(first)).to.equal('closed')
    await waitFor(() => proxyNode!.services.bitswapForwarder.ledger(greedy.peerId).length === 5, 5_000, 'five wants')

    const sixth = await greedy.sendBytes(proxyNode!.peerId, frame(encodeMessage({ wants: [want(blocks[5].cid)], blocks: [], presences: [] }, '1.2.0')).subarray(), { close: false })
    expect(await ended(sixth)).to.equal('reset')
    expect(proxyNode!.services.bitswapForwarder.ledger(greedy.peerId)).to.have.lengthOf(0)
    const cancelled = (): boolean => blocks.slice(0, 5).every(b => downstream.wantsFor(b.cid).some(w => w.cancel))
    await waitFor(cancelled, 5_000, 'CANCELs downstream')

    const refused = await greedy.sendBytes(proxyNode!.peerId, new Uint8Array(0), { close: false })
    expect(await ended(refused), 'refused while cut off').to.equal('reset')

    downstream.serve = true
    downstream.blocks.set(keyOf(blocks[0].cid), blocks[0])
    await other.send(proxyNode!.peerId, { wants: [want(blocks[0].cid)], blocks: [], presences: [] })
    await other.waitForBlocks([blocks[0].cid])

    await delay(500)
    const after = await greedy.send(proxyNode!.peerId, { wants: [want(blocks[0].cid)], blocks: [], presences: [] })
    expect(await ended(after), 'served again after cutOffTime').to.equal('closed')
  })

  it('maxOutstandingBytesPerPeer: a peer that does not read stops attracting blocks, and gets them all once it reads', async () => {
    const { downstream, clients: [slow] } = await setup({ maxOutstandingBytesPerPeer: 256 * KiB, maxMessageSize: 128 * KiB, maxBlockSize: 64 * KiB })
    const blocks = await Promise.all(Array.from({ length: 64 }, async (_, i) => makeBlock(100 + i, 32 * KiB)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }
    slow.paused = true

    await slow.send(proxyNode!.peerId, { wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] })
    // the budget holds 8 blocks (256 KiB / 32 KiB) and the stream's flow
    // control window absorbs 8 more: once that much was fetched and nothing
    // is in flight, the rest of the wants are held back
    const forwarder = proxyNode!.services.bitswapForwarder
    await waitFor(() => forwarder.stats().blocksReceived >= 8 && forwarder.stats().pendingCids === 0, 5_000, 'the budget spent')
    const fetched = forwarder.stats().blocksReceived
    expect(fetched, 'blocks fetched for a peer that reads nothing').to.be.at.most(16)
    expect(forwarder.ledger(slow.peerId), 'the rest wait in its ledger').to.have.lengthOf(64 - fetched)

    slow.resume()
    const received = await slow.waitForBlocks(blocks.map(b => b.cid), 20_000)
    expect(received.size).to.equal(64)
  })

  it('maxOutstandingBytes: while a slow peer holds the global budget, a peer under its fair share is still served', async () => {
    const { downstream, clients: [slow, other] } = await setup({ maxOutstandingBytes: 512 * KiB, maxMessageSize: 128 * KiB, maxBlockSize: 64 * KiB }, 2)
    const blocks = await Promise.all(Array.from({ length: 68 }, async (_, i) => makeBlock(300 + i, 32 * KiB)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }
    const [slowBlocks, otherBlocks] = [blocks.slice(0, 64), blocks.slice(64)]
    slow.paused = true

    const forwarder = proxyNode!.services.bitswapForwarder
    await slow.send(proxyNode!.peerId, { wants: slowBlocks.map(b => want(b.cid)), blocks: [], presences: [] })
    // 512 KiB hold 16 blocks of 32 KiB: once that much was fetched and
    // nothing is in flight, the global budget is spent
    await waitFor(() => forwarder.stats().blocksReceived >= 16 && forwarder.stats().pendingCids === 0, 5_000, 'the global budget spent')
    const fetchedForSlow = forwarder.stats().blocksReceived
    expect(forwarder.ledger(slow.peerId).length, 'the slow peer\'s other wants wait').to.equal(64 - fetchedForSlow)

    // the other peer's 4 × 32 KiB are within its share (512 KiB over the
    // peers holding some of it): served while the slow peer still reads nothing
    await other.send(proxyNode!.peerId, { wants: otherBlocks.map(b => want(b.cid)), blocks: [], presences: [] })
    await other.waitForBlocks(otherBlocks.map(b => b.cid), 10_000)
    expect(slow.paused, 'the slow peer never read').to.be.true()
    expect(forwarder.ledger(slow.peerId).length, 'nothing more fetched for the slow peer').to.equal(64 - fetchedForSlow)

    slow.resume()
    await slow.waitForBlocks(slowBlocks.map(b => b.cid), 20_000)
  })

  it('sendTimeout: a peer that reads nothing for that long is cut off and frees its budget', async () => {
    const { downstream, clients: [stalled] } = await setup({ sendTimeout: 500, maxMessageSize: 128 * KiB, maxBlockSize: 64 * KiB })
    const blocks = await Promise.all(Array.from({ length: 32 }, async (_, i) => makeBlock(400 + i, 32 * KiB)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }
    stalled.paused = true

    await stalled.send(proxyNode!.peerId, { wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().cutOffs === 1, 5_000, 'cut off')
    expect(await ended(stalled.inboundStreams[0])).to.equal('reset')
    expect(proxyNode!.services.bitswapForwarder.stats().trackedWants).to.equal(0)
  })

  it('maxInboundStreamsPerPeer: the limit of open streams is accepted, one more is reset', async () => {
    const { clients: [client] } = await setup({ maxInboundStreamsPerPeer: 3 })
    const open: Stream[] = []
    for (let i = 0; i < 3; i++) {
      open.push(await client.sendBytes(proxyNode!.peerId, new Uint8Array(0), { close: false }))
    }

    // the fourth is refused only once the three are counted, and a reset of
    // any of them would have reached the client before this one's
    const extra = await client.sendBytes(proxyNode!.peerId, new Uint8Array(0), { close: false })
    expect(await ended(extra)).to.equal('reset')
    expect(open.every(s => s.status === 'open')).to.be.true()
    expect(proxyNode!.services.bitswapForwarder.stats().refusedStreams).to.equal(1)

    await open[0].close()
    await waitFor(() => open[0].status === 'closed', 5_000, 'stream closed')
    const again = await client.sendBytes(proxyNode!.peerId, new Uint8Array(0), { close: false })
    // a marker: with `again` the peer is at its limit, so the next is refused
    const marker = await client.sendBytes(proxyNode!.peerId, new Uint8Array(0), { close: false })
    expect(await ended(marker)).to.equal('reset')
    expect(again.status).to.equal('open')
  })

  it('dontHaveTtl: within it a new wanter of a missing CID hears DONT_HAVE at once; after it the downstream is asked again', async () => {
    const { downstream, clients: [first, second, third] } = await setup({ dontHaveTtl: 400 }, 3)
    const missing = await makeBlock(50)

    await first.send(proxyNode!.peerId, { wants: [want(missing.cid)], blocks: [], presences: [] })
    await waitFor(() => first.presences(missing.cid).length > 0, 5_000, 'first DONT_HAVE')
    expect(downstream.wantsFor(missing.cid)).to.have.lengthOf(1)

    await second.send(proxyNode!.peerId, { wants: [want(missing.cid)], blocks: [], presences: [] })
    await waitFor(() => second.presences(missing.cid).length > 0, 5_000, 'second DONT_HAVE')
    expect(downstream.wantsFor(missing.cid), 'not asked again within the TTL').to.have.lengthOf(1)

    await delay(400)
    await third.send(proxyNode!.peerId, { wants: [want(missing.cid)], blocks: [], presences: [] })
    await waitFor(() => third.presences(missing.cid).length > 0, 5_000, 'third DONT_HAVE')
    const asked = downstream.wantsFor(missing.cid)
    expect(asked.filter(w => !w.cancel), 'asked again after the TTL').to.have.lengthOf(2)
    expect(asked.some(w => w.cancel), 'the stale want is reset first').to.be.true()
  })

  it('one long-lived outbound stream per peer, closed after outboundIdleTimeout', async () => {
    const { downstream, clients: [client] } = await setup({ outboundIdleTimeout: 300 })
    const blocks = await Promise.all(Array.from({ length: 30 }, async (_, i) => makeBlock(60 + i)))
    for (const block of blocks) {
      downstream.blocks.set(keyOf(block.cid), block)
    }

    for (let round = 0; round < 3; round++) {
      const batch = blocks.slice(round * 10, round * 10 + 10)
      await client.send(proxyNode!.peerId, { wants: batch.map(b => want(b.cid)), blocks: [], presences: [] })
      await client.waitForBlocks(batch.map(b => b.cid))
    }
    expect(client.inboundStreams, 'thirty blocks, one stream').to.have.lengthOf(1)
    expect(downstream.inboundStreams, 'thirty wants, one stream').to.have.lengthOf(1)

    await waitFor(() => client.inboundStreams[0].remoteWriteStatus === 'closed', 5_000, 'idle stream closed by the proxy')
    const extra = await makeBlock(99)
    downstream.blocks.set(keyOf(extra.cid), extra)
    await client.send(proxyNode!.peerId, { wants: [want(extra.cid)], blocks: [], presences: [] })
    await client.waitForBlocks([extra.cid])
    expect(client.inboundStreams).to.have.lengthOf(2)
  })

  it('windowTimeout: a preload window closes itself', async () => {
    const { clients: [browser] } = await setup({ windowTimeout: 200 })
    const window = proxyNode!.services.bitswapForwarder.openWindow({ upstreams: [browser.peerId] })
    expect(window.closed).to.be.false()
    await waitFor(() => window.closed, 2_000, 'window closed')
    expect(proxyNode!.services.bitswapForwarder.windows()).to.have.lengthOf(0)
  })

  it('cacheMaxBytes: the in-memory cache holds exactly its budget and evicts the least recently used', async () => {
    const cache = new LruBlockCache(3 * KiB)
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(async seed => makeBlock(seed, KiB)))
    cache.put(a.cid, a.data)
    cache.put(b.cid, b.data)
    cache.put(c.cid, c.data)
    expect(cache.size).to.equal(3 * KiB)
    expect([...cache.get(a.cid)][0]).to.equal(a.data)

    cache.put(d.cid, d.data)
    expect(cache.size).to.equal(3 * KiB)
    expect(cache.has(b.cid), 'b was least recently used').to.be.false()
    expect(cache.has(a.cid)).to.be.true()
    expect(cache.has(d.cid)).to.be.true()
  })
})
