import { expect } from 'aegir/chai'
import { keyOf } from '../src/codec.ts'
import { addFile, addressOf, connectClient, startHelias, startProxy, stopAll, waitFor } from './fixtures.ts'
import { makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { WindowCloseReason } from '../src/index.ts'
import type { TestHelia } from '@kitsune/test-support'
import type { CID } from 'multiformats/cid'

describe('preload windows and probes', function () {
  this.timeout(30_000)

  let proxyNode: ProxyNode | undefined
  let peers: RawBitswapPeer[] = []
  let helias: TestHelia[] = []

  async function rawPeers (count: number): Promise<RawBitswapPeer[]> {
    const created = await Promise.all(Array.from({ length: count }, async () => RawBitswapPeer.create('1.2.0')))
    peers.push(...created)
    return created
  }

  afterEach(async () => {
    await stopAll([...peers, ...helias, proxyNode])
    peers = []
    helias = []
    proxyNode = undefined
  })

  /**
   * A raw downstream, a raw "browser" serving `count` blocks, and the proxy
   */
  async function setup (count: number): Promise<{ downstream: RawBitswapPeer, browser: RawBitswapPeer, blocks: Array<{ cid: CID, data: Uint8Array }> }> {
    const [downstream, browser] = await rawPeers(2)
    proxyNode = await startProxy([downstream.node])
    await browser.dial(addressOf(proxyNode))
    const blocks = await Promise.all(Array.from({ length: count }, async (_, i) => makeBlock(900 + i)))
    browser.serve = true
    for (const block of blocks) {
      browser.blocks.set(keyOf(block.cid), block)
    }
    return { downstream, browser, blocks }
  }

  it('maxBlocks: exactly that many blocks pass; the next is dropped and the window closes with reason "budget"', async () => {
    const { downstream, browser, blocks } = await setup(4)
    const reasons: WindowCloseReason[] = []
    const seen: string[] = []
    const window = proxyNode!.services.bitswapForwarder.openWindow({
      upstreams: [browser.peerId],
      maxBlocks: 3,
      onBlock: (cid) => { seen.push(cid.toString()) },
      onClose: (reason) => { reasons.push(reason) }
    })

    // one at a time, so the order in which blocks arrive is known
    for (const block of blocks.slice(0, 3)) {
      await downstream.send(proxyNode!.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
      await downstream.waitForBlocks([block.cid])
    }
    expect(window.closed, 'at the limit the window stays open').to.be.false()
    expect(window.blocksPassed).to.equal(3)
    expect(seen).to.deep.equal(blocks.slice(0, 3).map(b => b.cid.toString()))

    await downstream.send(proxyNode!.peerId, { wants: [want(blocks[3].cid)], blocks: [], presences: [] })
    await waitFor(() => window.closed, 5_000, 'window closed')
    expect(window.closeReason).to.equal('budget')
    expect(reasons).to.deep.equal(['budget'])
    expect(window.blocksPassed).to.equal(3)
    expect(proxyNode!.services.bitswapForwarder.stats().windowBlocksRefused).to.equal(1)
    // refused as it was read: nothing was queued for the downstream
    expect((await downstream.receivedBlocks()).has(keyOf(blocks[3].cid)), 'the block over the budget is not passed on').to.be.false()
  })

  it('maxBytes: blocks up to the byte budget pass; one byte over closes the window', async () => {
    const { downstream, browser, blocks } = await setup(3)
    const size = blocks[0].data.byteLength
    const window = proxyNode!.services.bitswapForwarder.openWindow({
      upstreams: [browser.peerId],
      maxBytes: size * 2
    })
    for (const block of blocks.slice(0, 2)) {
      await downstream.send(proxyNode!.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
      await downstream.waitForBlocks([block.cid])
    }
    expect(window.bytesPassed).to.equal(size * 2)
    expect(window.closed).to.be.false()

    await downstream.send(proxyNode!.peerId, { wants: [want(blocks[2].cid)], blocks: [], presences: [] })
    await waitFor(() => window.closed, 5_000, 'window closed')
    expect(window.closeReason).to.equal('budget')
    expect(window.bytesPassed).to.equal(size * 2)
  })

  it('a want a downstream sent before the window opened is passed when a window covering it opens (downstreams do not repeat wants)', async () => {
    const { downstream, browser, blocks } = await setup(2)
    const [early, other] = blocks
    await downstream.send(proxyNode!.peerId, { wants: [want(early.cid), want(other.cid)], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().downstreamWantsDropped === 2, 5_000, 'wants dropped')
    // dropped as they were read: nothing was queued for the browser
    expect(browser.wantsFor(early.cid), 'one-way while no window is open').to.have.lengthOf(0)

    const window = proxyNode!.services.bitswapForwarder.openWindow({
      upstreams: [browser.peerId],
      filter: (cid) => cid.equals(early.cid)
    })
    const received = await downstream.waitForBlocks([early.cid])
    expect(received.has(keyOf(early.cid))).to.be.true()
    expect(window.wantsPassed).to.equal(1)
    // the window passed its one want when it opened, in the batch that
    // carried the early want
    expect(browser.wantsFor(other.cid), 'wants the window does not cover stay dropped').to.have.lengthOf(0)
  })

  it('a cancelled dropped want is not passed by a later window', async () => {
    const { downstream, browser, blocks } = await setup(1)
    const [block] = blocks
    const marker = await makeBlock(991)
    await downstream.send(proxyNode!.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().downstreamWantsDropped === 1, 5_000, 'want dropped')
    // the cancel, then a marker want in the same message: once the marker
    // is dropped, the cancel has been read
    await downstream.send(proxyNode!.peerId, { wants: [want(block.cid, { cancel: true }), want(marker.cid)], blocks: [], presences: [] })
    await waitFor(() => proxyNode!.services.bitswapForwarder.stats().downstreamWantsDropped === 2, 5_000, 'cancel read')
    // dropped wants are passed as the window opens, or never
    const window = proxyNode!.services.bitswapForwarder.openWindow({ upstreams: [browser.peerId], filter: (cid) => !cid.equals(marker.cid) })
    expect(window.wantsPassed).to.equal(0)
    expect(browser.wantsFor(block.cid)).to.have.lengthOf(0)
  })

  it('onClose tells a timed-out window from one closed by hand', async () => {
    const { browser } = await setup(0)
    const reasons: WindowCloseReason[] = []
    const timed = proxyNode!.services.bitswapForwarder.openWindow({ upstreams: [browser.peerId], timeout: 100, onClose: (r) => { reasons.push(r) } })
    const manual = proxyNode!.services.bitswapForwarder.openWindow({ upstreams: [browser.peerId], onClose: (r) => { reasons.push(r) } })
    await waitFor(() => timed.closed, 2_000, 'timeout')
    manual.close()
    manual.close()
    expect(reasons).to.deep.equal(['timeout', 'closed'])
    expect(manual.closeReason).to.equal('closed')
  })

  it('probe: a stock Helia client that holds a block says HAVE, one that does not is left out, and both answers end the wait', async () => {
    const [downstream] = await rawPeers(1)
    proxyNode = await startProxy([downstream.node])
    helias = await startHelias(2)
    const [holder, other] = helias
    const cid = await addFile(holder, new Uint8Array(300_000).fill(7))
    await connectClient(holder, proxyNode)
    await connectClient(other, proxyNode)

    const started = Date.now()
    const haves = await proxyNode.services.bitswapForwarder.probe(cid, [holder.libp2p.peerId, other.libp2p.peerId], { timeout: 5_000 })
    expect(haves.map(p => p.toString())).to.deep.equal([holder.libp2p.peerId.toString()])
    expect(Date.now() - started, 'both answered (HAVE, DONT_HAVE): no wait for the timeout').to.be.below(4_000)
    expect(proxyNode.services.bitswapForwarder.stats().probes).to.equal(1)
    expect(downstream.received, 'downstreams are not probed').to.have.lengthOf(0)
  })

  it('probe: downstreams and unconnected peers are not asked; a silent peer is given up on after the timeout', async () => {
    const [downstream, silent] = await rawPeers(2)
    proxyNode = await startProxy([downstream.node])
    await silent.dial(addressOf(proxyNode))
    const block = await makeBlock(990)
    const stranger = (await rawPeers(1))[0]
    await waitFor(() => proxyNode!.getConnections(silent.peerId).length > 0, 5_000, 'silent peer connected')

    const started = Date.now()
    const haves = await proxyNode.services.bitswapForwarder.probe(block.cid, [downstream.peerId, silent.peerId, stranger.peerId], { timeout: 300 })
    expect(haves).to.have.lengthOf(0)
    expect(Date.now() - started).to.be.at.least(250)
    await waitFor(() => silent.wantsFor(block.cid).some(w => w.cancel), 5_000, 'CANCEL to the silent peer')
    expect(silent.wantsFor(block.cid).find(w => !w.cancel)?.wantType).to.equal('have')
    expect(downstream.received).to.have.lengthOf(0)
    expect(stranger.received).to.have.lengthOf(0)
  })
})
