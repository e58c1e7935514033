import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { keyOf } from '../src/codec.ts'
import { BITSWAP_100, BITSWAP_110, BITSWAP_120, BITSWAP_LEGACY } from '../src/constants.ts'
import { addressOf, bitswapOf, startHelias, startProxy, stopAll, waitFor } from './fixtures.ts'
import { makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { BitswapVersion } from '../src/codec.ts'
import type { TestHelia } from '@kitsune/test-support'

/**
 * A block a 1.0.0 peer can receive: a CIDv0 (the forwarder never decodes
 * blocks, so any bytes under a CIDv0 will do)
 */
async function v0Block (seed: number): Promise<{ cid: CID, data: Uint8Array }> {
  const { data } = await makeBlock(seed, 2048)
  return { cid: CID.createV0(await sha256.digest(data)), data }
}

describe('protocol versions: raw clients pinned to one version, a stock Helia downstream', function () {
  this.timeout(30_000)

  let proxyNode: ProxyNode | undefined
  let downstream: TestHelia | undefined
  let clients: RawBitswapPeer[] = []

  beforeEach(async () => {
    [downstream] = await startHelias(1)
    proxyNode = await startProxy([downstream.libp2p])
  })

  afterEach(async () => {
    await stopAll([...clients, downstream, proxyNode])
    clients = []
  })

  async function client (version: BitswapVersion, protocols?: string[]): Promise<RawBitswapPeer> {
    const peer = await RawBitswapPeer.create(version, protocols)
    clients.push(peer)
    await peer.dial(addressOf(proxyNode!))
    return peer
  }

  const cases: Array<{ version: BitswapVersion, protocol: string }> = [
    { version: '1.2.0', protocol: BITSWAP_120 },
    { version: '1.1.0', protocol: BITSWAP_110 },
    { version: '1.0.0', protocol: BITSWAP_100 },
    { version: '1.0.0', protocol: BITSWAP_LEGACY }
  ]

  async function pinnedClientGetsBlocks (version: BitswapVersion, protocol: string): Promise<void> {
    const blocks = await Promise.all([1, 2, 3].map(async seed => v0Block(seed)))
    for (const block of blocks) {
      await downstream!.blockstore.put(block.cid, block.data)
    }
    const peer = await client(version, [protocol])

    await peer.send(proxyNode!.peerId, { wants: blocks.map(b => want(b.cid, { sendDontHave: false })), blocks: [], presences: [] })
    const received = await peer.waitForBlocks(blocks.map(b => b.cid))

    for (const block of blocks) {
      expect(equals(received.get(keyOf(block.cid)) ?? new Uint8Array(), block.data)).to.be.true()
    }
    expect(peer.received.every(r => r.protocol === protocol), 'every message arrived on the pinned protocol').to.be.true()
  }

  for (const { version, protocol } of cases) {
    it(`a client that speaks only ${protocol} gets its blocks, encoded for ${version}`, async () => {
      await pinnedClientGetsBlocks(version, protocol)
    })
  }

  it('1.1.0 and 1.2.0 clients get CIDv1 raw blocks', async () => {
    const block = await makeBlock(4)
    await downstream!.blockstore.put(block.cid, block.data)
    const [v11, v12] = [await client('1.1.0'), await client('1.2.0')]

    await v11.send(proxyNode!.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })
    await v12.send(proxyNode!.peerId, { wants: [want(block.cid)], blocks: [], presences: [] })

    await v11.waitForBlocks([block.cid])
    await v12.waitForBlocks([block.cid])
  })

  it('1.2.0: a missing block is answered DONT_HAVE; 1.1.0 cannot be told and hears nothing', async () => {
    const missing = await makeBlock(5)
    const [v11, v12] = [await client('1.1.0'), await client('1.2.0')]

    await v12.send(proxyNode!.peerId, { wants: [want(missing.cid, { sendDontHave: true })], blocks: [], presences: [] })
    await v11.send(proxyNode!.peerId, { wants: [want(missing.cid)], blocks: [], presences: [] })

    await waitFor(() => v12.presences(missing.cid).length > 0, 5_000, 'DONT_HAVE')
    expect(v12.presences(missing.cid)).to.deep.equal(['dont-have'])
    expect(v11.received).to.have.lengthOf(0)
  })

  it('1.2.0: want-have of a block the downstream holds is answered HAVE', async () => {
    const block = await makeBlock(6, 4096)
    await downstream!.blockstore.put(block.cid, block.data)
    const peer = await client('1.2.0')

    await peer.send(proxyNode!.peerId, { wants: [want(block.cid, { wantType: 'have' })], blocks: [], presences: [] })
    await waitFor(() => peer.presences(block.cid).length > 0, 5_000, 'HAVE')
    expect(peer.presences(block.cid)).to.deep.equal(['have'])
  })

  it('a client that cancels: the CANCEL reaches the stock Helia downstream', async () => {
    const missing = await makeBlock(7)
    const peer = await client('1.2.0')
    const proxyId = proxyNode!.peerId
    const held = (): boolean => bitswapOf(downstream!).getPeerWantlist(proxyId)?.some(entry => entry.cid.equals(missing.cid)) === true

    await peer.send(proxyId, { wants: [want(missing.cid)], blocks: [], presences: [] })
    await waitFor(held, 5_000, 'want at the downstream')
    await peer.send(proxyId, { wants: [want(missing.cid, { cancel: true })], blocks: [], presences: [] })

    await waitFor(() => !held(), 5_000, 'CANCEL at the downstream')
    expect(proxyNode!.services.bitswapForwarder.ledger(peer.peerId)).to.have.lengthOf(0)
  })
})
