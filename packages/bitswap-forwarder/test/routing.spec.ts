import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { equals } from 'uint8arrays/equals'
import { keyOf } from '../src/codec.ts'
import { frame } from '../src/framing.ts'
import { BitswapMessage } from '../src/pb/message.ts'
import { addressOf, startProxy, stopAll, waitFor } from './fixtures.ts'
import { makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { BalancingStrategy } from '@kitsune/proxy'

/**
 * Always tries the downstreams in the given order
 */
function fixedOrder (peers: RawBitswapPeer[]): BalancingStrategy {
  const order = peers.map(p => p.peerId.toString())
  return {
    name: 'fixed',
    select: (_request, downstreams) => [...downstreams].sort((a, b) => order.indexOf(a.peerId.toString()) - order.indexOf(b.peerId.toString()))
  }
}

describe('want routing (raw Bitswap peers around a real proxy)', function () {
  this.timeout(30_000)

  let proxyNode: ProxyNode | undefined
  let peers: RawBitswapPeer[] = []

  async function rawPeers (count: number): Promise<RawBitswapPeer[]> {
    const created = await Promise.all(Array.from({ length: count }, async () => RawBitswapPeer.create('1.2.0')))
    peers.push(...created)
    return created
  }

  async function clients (count: number): Promise<RawBitswapPeer[]> {
    const created = await rawPeers(count)
    await Promise.all(created.map(async c => { await c.dial(addressOf(proxyNode!)) }))
    return created
  }

  afterEach(async () => {
    await stopAll([...peers, proxyNode])
    peers = []
    proxyNode = undefined
  })

  it('coalesces: three clients want one CID, the downstream is asked once, all three get the block, then CANCEL', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node])
    const block = await makeBlock(1)
    const wanters = await clients(3)

    for (const client of wanters) {
      await client.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    }
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().coalescedWants === 2, 5_000, 'three wants in')
    await waitFor(() => downstream.wantsFor(block.cid).length > 0, 5_000, 'want downstream')

    await downstream.send(proxyNode.peerId, { wants: [], blocks: [block], presences: [] })
    for (const client of wanters) {
      const blocks = await client.waitForBlocks([block.cid])
      expect(equals(blocks.get(keyOf(block.cid)) ?? new Uint8Array(), block.data)).to.be.true()
    }
    await waitFor(() => downstream.wantsFor(block.cid).some(w => w.cancel), 5_000, 'CANCEL downstream')
    // a second want would have come before the CANCEL, on the same stream
    expect(downstream.wantsFor(block.cid).filter(w => !w.cancel), 'one want downstream').to.have.lengthOf(1)
    expect(proxyNode.services.bitswapForwarder.stats().blocksReceived).to.equal(1)
    expect(proxyNode.services.bitswapForwarder.stats().blocksSent).to.equal(3)
  })

  it('answers a want for an identity CID from the CID itself, without asking a downstream', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node])
    const [client] = await clients(1)
    const data = new TextEncoder().encode('inline')
    const cid = CID.createV1(0x55, identity.digest(data))

    await client.send(proxyNode.peerId, { wants: [want(cid)], blocks: [], presences: [] })
    const blocks = await client.waitForBlocks([cid])

    expect(equals(blocks.get(keyOf(cid)) ?? new Uint8Array(), data)).to.be.true()
    expect(downstream.received).to.have.lengthOf(0)
  })

  it('fails over on DONT_HAVE and the client hears no DONT_HAVE while another downstream has the block', async () => {
    const [first, second] = await rawPeers(2)
    const block = await makeBlock(2)
    first.serve = true
    second.serve = true
    second.blocks.set(keyOf(block.cid), block)
    proxyNode = await startProxy([first.node, second.node], { forwarder: { strategy: fixedOrder([first, second]) } })
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await client.waitForBlocks([block.cid])

    expect(first.wantsFor(block.cid).filter(w => !w.cancel)).to.have.lengthOf(1)
    expect(second.wantsFor(block.cid).filter(w => !w.cancel)).to.have.lengthOf(1)
    expect(client.presences(block.cid)).to.deep.equal([])
    expect(proxyNode.services.bitswapForwarder.stats().failovers, 'one DONT_HAVE, one fail-over').to.equal(1)
  })

  it('answers DONT_HAVE once, only when no downstream has the block, and only to a client that asked for it', async () => {
    const [first, second] = await rawPeers(2)
    first.serve = true
    second.serve = true
    proxyNode = await startProxy([first.node, second.node], { forwarder: { strategy: fixedOrder([first, second]) } })
    const [asks, silent] = await clients(2)
    const missing = await makeBlock(3)

    await asks.send(proxyNode.peerId, { wants: [want(missing.cid, { sendDontHave: true })], blocks: [], presences: [] })
    await silent.send(proxyNode.peerId, { wants: [want(missing.cid, { sendDontHave: false })], blocks: [], presences: [] })

    await waitFor(() => asks.presences(missing.cid).length > 0, 5_000, 'DONT_HAVE')
    // a marker both clients hear DONT_HAVE for: anything said about the
    // missing block would have reached them before it, on the same stream
    const marker = await makeBlock(17)
    for (const client of [asks, silent]) {
      await client.send(proxyNode.peerId, { wants: [want(marker.cid, { sendDontHave: true })], blocks: [], presences: [] })
    }
    await waitFor(() => asks.presences(marker.cid).length > 0 && silent.presences(marker.cid).length > 0, 5_000, 'marker DONT_HAVEs')
    expect(asks.presences(missing.cid)).to.deep.equal(['dont-have'])
    expect(silent.presences(missing.cid)).to.deep.equal([])
    expect(first.wantsFor(missing.cid).length).to.be.greaterThan(0)
    expect(second.wantsFor(missing.cid).length).to.be.greaterThan(0)
  })

  it('a block a downstream sends after its DONT_HAVE still reaches the client', async () => {
    const [downstream] = await rawPeers(1)
    const late = await makeBlock(16)
    downstream.serve = true
    proxyNode = await startProxy([downstream.node])
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(late.cid, { sendDontHave: true })], blocks: [], presences: [] })
    await waitFor(() => client.presences(late.cid).length > 0, 5_000, 'DONT_HAVE')
    expect(downstream.wantsFor(late.cid).some(w => w.cancel), 'the want stays registered downstream').to.be.false()
    await downstream.send(proxyNode.peerId, { wants: [], blocks: [late], presences: [] })

    await client.waitForBlocks([late.cid])
  })

  it('fails over when a downstream stays silent for downstreamTimeout', async () => {
    const [silent, serving] = await rawPeers(2)
    const block = await makeBlock(4)
    serving.serve = true
    serving.blocks.set(keyOf(block.cid), block)
    proxyNode = await startProxy([silent.node, serving.node], { forwarder: { strategy: fixedOrder([silent, serving]), downstreamTimeout: 300 } })
    const [client] = await clients(1)

    const started = Date.now()
    await client.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await client.waitForBlocks([block.cid])

    expect(Date.now() - started).to.be.at.least(300)
    expect(silent.wantsFor(block.cid).filter(w => !w.cancel)).to.have.lengthOf(1)
    expect(proxyNode.services.bitswapForwarder.stats().timeouts).to.equal(1)
    await waitFor(() => silent.wantsFor(block.cid).some(w => w.cancel), 5_000, 'CANCEL to the silent downstream')
  })

  it('fails over at once when the asked downstream disconnects', async () => {
    const [leaving, serving] = await rawPeers(2)
    const block = await makeBlock(5)
    serving.serve = true
    serving.blocks.set(keyOf(block.cid), block)
    proxyNode = await startProxy([leaving.node, serving.node], { forwarder: { strategy: fixedOrder([leaving, serving]), downstreamTimeout: 60_000 } })
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await waitFor(() => leaving.wantsFor(block.cid).length > 0, 5_000, 'want at the first downstream')
    await leaving.stop()

    await client.waitForBlocks([block.cid], 5_000)
    expect(serving.wantsFor(block.cid).filter(w => !w.cancel)).to.have.lengthOf(1)
  })

  it('forwards want-have as want-have, answers HAVE, and forwards an upgrade to want-block', async () => {
    const [downstream] = await rawPeers(1)
    const block = await makeBlock(6)
    proxyNode = await startProxy([downstream.node])
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(block.cid, { wantType: 'have' })], blocks: [], presences: [] })
    await waitFor(() => downstream.wantsFor(block.cid).length > 0, 5_000, 'want-have downstream')
    expect(downstream.wantsFor(block.cid)[0].wantType).to.equal('have')
    expect(downstream.wantsFor(block.cid)[0].sendDontHave).to.be.true()

    await client.send(proxyNode.peerId, { wants: [want(block.cid, { wantType: 'block' })], blocks: [], presences: [] })
    await waitFor(() => downstream.wantsFor(block.cid).some(w => w.wantType === 'block'), 5_000, 'upgrade downstream')

    await downstream.send(proxyNode.peerId, { wants: [], blocks: [block], presences: [] })
    await client.waitForBlocks([block.cid])
  })

  it('answers a want-have with HAVE, not the block', async () => {
    const [downstream] = await rawPeers(1)
    const block = await makeBlock(7)
    downstream.serve = true
    downstream.blocks.set(keyOf(block.cid), block)
    proxyNode = await startProxy([downstream.node])
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(block.cid, { wantType: 'have' })], blocks: [], presences: [] })
    await waitFor(() => client.presences(block.cid).length > 0, 5_000, 'HAVE')
    expect(client.presences(block.cid)).to.deep.equal(['have'])
    expect((await client.receivedBlocks()).size).to.equal(0)
  })

  it('full wantlist replacement cancels what the new list leaves out', async () => {
    const [downstream] = await rawPeers(1)
    const a = await makeBlock(8)
    const b = await makeBlock(9)
    proxyNode = await startProxy([downstream.node])
    const [client] = await clients(1)

    await client.sendBytes(proxyNode.peerId, fullList([a.cid, b.cid]))
    await waitFor(() => downstream.wantsFor(a.cid).length > 0 && downstream.wantsFor(b.cid).length > 0, 5_000, 'both wants')
    await client.sendBytes(proxyNode.peerId, fullList([b.cid]))

    await waitFor(() => downstream.wantsFor(a.cid).some(w => w.cancel), 5_000, 'CANCEL of a')
    expect(downstream.wantsFor(b.cid).some(w => w.cancel)).to.be.false()
    expect(proxyNode.services.bitswapForwarder.ledger(client.peerId).map(w => w.cid)).to.deep.equal([b.cid.toString()])
  })

  it('sends CANCEL downstream only when the last wanter cancels', async () => {
    const [downstream] = await rawPeers(1)
    const block = await makeBlock(10)
    proxyNode = await startProxy([downstream.node])
    const [one, two] = await clients(2)

    await one.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await two.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().coalescedWants === 1, 5_000, 'two wanters')

    await one.send(proxyNode.peerId, { wants: [want(block.cid, { cancel: true })], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.ledger(one.peerId).length === 0, 5_000, 'the first cancel in')
    // a marker want that reaches the downstream after any CANCEL would have
    const marker = await makeBlock(18)
    await one.send(proxyNode.peerId, { wants: [want(marker.cid)], blocks: [], presences: [] })
    await waitFor(() => downstream.wantsFor(marker.cid).length > 0, 5_000, 'marker want downstream')
    expect(downstream.wantsFor(block.cid).some(w => w.cancel), 'no CANCEL while one wanter is left').to.be.false()
    await one.send(proxyNode.peerId, { wants: [want(marker.cid, { cancel: true })], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.ledger(one.peerId).length === 0, 5_000, 'marker cancelled')

    await two.send(proxyNode.peerId, { wants: [want(block.cid, { cancel: true })], blocks: [], presences: [] })
    await waitFor(() => downstream.wantsFor(block.cid).some(w => w.cancel), 5_000, 'CANCEL')
    expect(proxyNode.services.bitswapForwarder.stats().trackedWants).to.equal(0)
  })

  it('drops a corrupt block, counts it, and asks the next downstream', async () => {
    const [corrupt, good] = await rawPeers(2)
    const block = await makeBlock(11)
    good.serve = true
    good.blocks.set(keyOf(block.cid), block)
    proxyNode = await startProxy([corrupt.node, good.node], { forwarder: { strategy: fixedOrder([corrupt, good]) } })
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await waitFor(() => corrupt.wantsFor(block.cid).length > 0, 5_000, 'want at the corrupt downstream')
    const bad = block.data.slice()
    bad[0] ^= 0xff
    await corrupt.send(proxyNode.peerId, { wants: [], blocks: [{ cid: block.cid, data: bad }], presences: [] })

    const blocks = await client.waitForBlocks([block.cid])
    expect(equals(blocks.get(keyOf(block.cid)) ?? new Uint8Array(), block.data)).to.be.true()
    expect(client.all().flatMap(m => m.blocks)).to.have.lengthOf(1)
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.badBlocks).to.equal(1)
    expect(stats.downstreams[corrupt.peerId.toString()].badBlocks).to.equal(1)
  })

  it('one-way: a downstream\'s wants never reach upstream peers', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node])
    const [client] = await clients(1)
    const block = await makeBlock(12)
    client.serve = true
    client.blocks.set(keyOf(block.cid), block)

    await downstream.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().downstreamWantsDropped === 1, 5_000, 'want dropped')
    // dropped as it was read: nothing was queued for the client or the
    // downstream, so nothing can still be on its way
    expect(client.received).to.have.lengthOf(0)
    expect(downstream.all().flatMap(m => m.blocks)).to.have.lengthOf(0)
  })

  it('a downstream that wants content the forwarder cannot verify, or a huge wantlist, is not treated as malformed', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node], { forwarder: { maxWantlistEntriesPerPeer: 4 } })
    const blake3 = CID.createV1(0x55, createDigest(0x1e, new Uint8Array(32)))
    const many = await Promise.all(Array.from({ length: 10 }, async (_, i) => makeBlock(700 + i)))

    const stream = await downstream.send(proxyNode.peerId, { wants: [want(blake3), ...many.map(b => want(b.cid))], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().downstreamWantsDropped === 10, 5_000, 'wants dropped')
    expect(stream.status).to.not.equal('reset')
    expect(proxyNode.services.bitswapForwarder.stats().malformedMessages).to.equal(0)
    expect(proxyNode.services.proxy.pool.healthy()).to.have.lengthOf(1)
  })

  it('a preload window lets a downstream\'s wants reach the window\'s upstream peer and routes its blocks back, verified', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node])
    const [browser, stranger] = await clients(2)
    const block = await makeBlock(13)
    const outside = await makeBlock(14)
    browser.serve = true
    browser.blocks.set(keyOf(block.cid), block)
    browser.blocks.set(keyOf(outside.cid), outside)

    const window = proxyNode.services.bitswapForwarder.openWindow({
      upstreams: [browser.peerId],
      filter: (cid) => cid.equals(block.cid)
    })
    await downstream.send(proxyNode.peerId, { wants: [want(block.cid), want(outside.cid)], blocks: [], presences: [] })

    const blocks = await downstream.waitForBlocks([block.cid])
    expect(equals(blocks.get(keyOf(block.cid)) ?? new Uint8Array(), block.data)).to.be.true()
    expect(browser.wantsFor(outside.cid), 'the filter keeps other CIDs out').to.have.lengthOf(0)
    expect(stranger.received, 'peers outside the window are not asked').to.have.lengthOf(0)
    expect(window.wantsPassed).to.equal(1)

    window.close()
    expect(proxyNode.services.bitswapForwarder.windows()).to.have.lengthOf(0)
    const dropped = proxyNode.services.bitswapForwarder.stats().downstreamWantsDropped
    await downstream.send(proxyNode.peerId, { wants: [want(outside.cid)], blocks: [], presences: [] })
    // dropped as it was read: nothing was queued for the browser
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().downstreamWantsDropped === dropped + 1, 5_000, 'want dropped')
    expect(browser.wantsFor(outside.cid), 'closed windows pass nothing').to.have.lengthOf(0)
  })

  it('fanout "all" asks every downstream at once', async () => {
    const [a, b] = await rawPeers(2)
    const block = await makeBlock(15)
    proxyNode = await startProxy([a.node, b.node], { forwarder: { fanout: 'all' } })
    const [client] = await clients(1)

    await client.send(proxyNode.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await waitFor(() => a.wantsFor(block.cid).length > 0 && b.wantsFor(block.cid).length > 0, 5_000, 'both asked')
    await b.send(proxyNode.peerId, { wants: [], blocks: [block], presences: [] })
    await client.waitForBlocks([block.cid])
    await waitFor(() => a.wantsFor(block.cid).some(w => w.cancel), 5_000, 'CANCEL to the other')
  })

  it('sticky strategy: each client\'s wants go to its own downstream', async () => {
    const downstreams = await rawPeers(2)
    proxyNode = await startProxy(downstreams.map(d => d.node), { forwarder: { strategy: 'sticky' } })
    const [one, two] = await clients(2)
    const blocks = await Promise.all(Array.from({ length: 16 }, async (_, i) => makeBlock(500 + i)))

    await one.send(proxyNode.peerId, { wants: blocks.slice(0, 8).map(b => want(b.cid)), blocks: [], presences: [] })
    await two.send(proxyNode.peerId, { wants: blocks.slice(8).map(b => want(b.cid)), blocks: [], presences: [] })
    await waitFor(() => blocks.every(b => downstreams.some(d => d.wantsFor(b.cid).length > 0)), 5_000, 'all placed')

    const placedOn = (slice: typeof blocks): Set<number> => new Set(slice.map(b => downstreams.findIndex(d => d.wantsFor(b.cid).length > 0)))
    expect(placedOn(blocks.slice(0, 8)).size, 'one downstream for the first client').to.equal(1)
    expect(placedOn(blocks.slice(8)).size, 'one downstream for the second client').to.equal(1)
    expect([...placedOn(blocks.slice(0, 8))][0]).to.not.equal([...placedOn(blocks.slice(8))][0])
  })

  it('a CID wanted while no downstream is up is asked again when one comes up', async () => {
    const first = await RawBitswapPeer.create()
    const address = first.node.getMultiaddrs()[0].toString()
    const privateKey = (first.node as any).components?.privateKey
    peers.push(first)
    const block = await makeBlock(600)
    proxyNode = await startProxy([first.node])
    const [client] = await clients(1)
    await first.stop()
    await waitFor(() => proxyNode!.services.proxy.pool.healthy().length === 0, 5_000, 'downstream down')

    await client.send(proxyNode.peerId, { wants: [want(block.cid, { sendDontHave: true })], blocks: [], presences: [] })
    await waitFor(() => client.presences(block.cid).length > 0, 5_000, 'DONT_HAVE while nothing is up')

    const again = await RawBitswapPeer.create('1.2.0', undefined, { privateKey, listen: [address.split('/p2p/')[0]] })
    peers.push(again)
    again.serve = true
    again.blocks.set(keyOf(block.cid), block)
    await client.waitForBlocks([block.cid], 10_000)
  })

  describe('noDownstreamTimeout: DONT_HAVE when no downstream can be asked', () => {
    const noDownstreamTimeout = 600

    it('no downstream at all: a send-dont-have want hears DONT_HAVE after noDownstreamTimeout, not before', async () => {
      const [downstream] = await rawPeers(1)
      proxyNode = await startProxy([downstream.node], { forwarder: { noDownstreamTimeout } })
      const [client] = await clients(1)
      await downstream.stop()
      await waitFor(() => proxyNode!.services.proxy.pool.healthy().length === 0, 5_000, 'downstream down')
      const block = await makeBlock(700)

      const sentAt = performance.now()
      await client.send(proxyNode.peerId, { wants: [want(block.cid, { sendDontHave: true })], blocks: [], presences: [] })
      const elapsed = await client.presenceAt(block.cid, 'dont-have') - sentAt
      expect(elapsed, 'not before noDownstreamTimeout').to.be.at.least(noDownstreamTimeout)
      expect(elapsed, 'soon after noDownstreamTimeout').to.be.below(noDownstreamTimeout + 1_500)
      expect(client.presences(block.cid)).to.deep.equal(['dont-have'])
      expect(proxyNode.services.bitswapForwarder.stats().dontHavesSent).to.equal(1)
    })

    it('the only downstream dies with the want outstanding: DONT_HAVE after noDownstreamTimeout, not before', async () => {
      const [downstream] = await rawPeers(1)
      proxyNode = await startProxy([downstream.node], { forwarder: { noDownstreamTimeout } })
      const [client] = await clients(1)
      const block = await makeBlock(701)

      await client.send(proxyNode.peerId, { wants: [want(block.cid, { sendDontHave: true })], blocks: [], presences: [] })
      await waitFor(() => downstream.wantsFor(block.cid).length > 0, 5_000, 'want downstream')
      // the downstream never answers: it dies with the want outstanding
      const diedAt = performance.now()
      await downstream.stop()
      const elapsed = await client.presenceAt(block.cid, 'dont-have') - diedAt
      expect(elapsed, 'not before noDownstreamTimeout').to.be.at.least(noDownstreamTimeout)
      expect(elapsed, 'soon after noDownstreamTimeout, long before downstreamTimeout').to.be.below(noDownstreamTimeout + 1_500)
      expect(client.presences(block.cid)).to.deep.equal(['dont-have'])
    })

    it('a downstream that comes up within noDownstreamTimeout is asked and the client hears no DONT_HAVE', async () => {
      const first = await RawBitswapPeer.create()
      const address = first.node.getMultiaddrs()[0].toString()
      const privateKey = (first.node as any).components?.privateKey
      peers.push(first)
      const block = await makeBlock(702)
      proxyNode = await startProxy([first.node], { forwarder: { noDownstreamTimeout: 10_000 } })
      const [client] = await clients(1)
      await first.stop()
      await waitFor(() => proxyNode!.services.proxy.pool.healthy().length === 0, 5_000, 'downstream down')

      await client.send(proxyNode.peerId, { wants: [want(block.cid, { sendDontHave: true })], blocks: [], presences: [] })
      await waitFor(() => proxyNode!.services.bitswapForwarder.stats().wantsReceived === 1, 5_000, 'want in')
      const again = await RawBitswapPeer.create('1.2.0', undefined, { privateKey, listen: [address.split('/p2p/')[0]] })
      peers.push(again)
      again.serve = true
      again.blocks.set(keyOf(block.cid), block)
      await client.waitForBlocks([block.cid], 10_000)
      expect(client.presences(block.cid)).to.deep.equal([])
    })
  })

  it('hash strategy: the same CID always goes to the same downstream', async () => {
    const downstreams = await rawPeers(3)
    proxyNode = await startProxy(downstreams.map(d => d.node))
    const blocks = await Promise.all(Array.from({ length: 12 }, async (_, i) => makeBlock(100 + i)))
    const [one, two] = await clients(2)

    const forwarder = proxyNode.services.bitswapForwarder
    const placed = (): number => downstreams.reduce((acc, d) => acc + d.all().flatMap(m => m.wants).filter(w => !w.cancel).length, 0)
    const proxyId = proxyNode.peerId
    for (const [round, client] of [one, two].entries()) {
      await client.send(proxyId, { wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] })
      await waitFor(() => placed() === blocks.length * (round + 1), 5_000, 'all placed')
      await client.send(proxyId, { wants: blocks.map(b => want(b.cid, { cancel: true })), blocks: [], presences: [] })
      await waitFor(() => forwarder.stats().trackedWants === 0, 5_000, 'cancelled')
    }

    for (const block of blocks) {
      const askedBy = downstreams.filter(d => d.wantsFor(block.cid).some(w => !w.cancel))
      expect(askedBy, `${block.cid} on one downstream`).to.have.lengthOf(1)
      expect(askedBy[0].wantsFor(block.cid).filter(w => !w.cancel)).to.have.lengthOf(2)
    }
    expect(new Set(blocks.map(b => downstreams.findIndex(d => d.wantsFor(b.cid).length > 0))).size, 'spread over downstreams').to.be.greaterThan(1)
  })

  it('maxWantsPerDownstream: at most that many wants are outstanding on a downstream, the rest wait for a slot', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node], { forwarder: { maxWantsPerDownstream: 3, downstreamTimeout: 60_000 } })
    const [client] = await clients(1)
    const blocks = await Promise.all(Array.from({ length: 4 }, async (_, i) => makeBlock(200 + i)))

    await client.send(proxyNode.peerId, { wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] })
    await waitFor(() => downstream.all().flatMap(m => m.wants).length === 3, 5_000, 'three wants')
    // all four were placed as the message was read and went out in one
    // batch: a fourth want would have been in it
    expect(downstream.received).to.have.lengthOf(1)
    expect(downstream.all().flatMap(m => m.wants)).to.have.lengthOf(3)
    const waiting = blocks.find(b => downstream.wantsFor(b.cid).length === 0)
    expect(waiting).to.exist()

    const answered = blocks.find(b => downstream.wantsFor(b.cid).length > 0)!
    await downstream.send(proxyNode.peerId, { wants: [], blocks: [answered], presences: [] })
    await waitFor(() => downstream.wantsFor(waiting!.cid).length > 0, 5_000, 'the fourth want after a slot freed')
  })
})

function fullList (cids: CID[]): Uint8Array {
  return frame(BitswapMessage.encode({ wantlist: { entries: cids.map(cid => ({ cid: cid.bytes, priority: 1 })), full: true } })).subarray()
}
