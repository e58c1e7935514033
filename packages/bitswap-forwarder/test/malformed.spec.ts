import { patternBytes } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import * as varint from 'uint8-varint'
import { equals } from 'uint8arrays/equals'
import { encodeMessage, keyOf } from '../src/codec.ts'
import { frame } from '../src/framing.ts'
import { BitswapMessage } from '../src/pb/message.ts'
import { addFile, addressOf, cat, connectClient, startHelias, startProxy, stopAll, waitFor } from './fixtures.ts'
import { ended, makeBlock, RawBitswapPeer, want } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { TestHelia } from '@kitsune/test-support'

const MiB = 1024 * 1024

function field (tag: number, bytes: Uint8Array): Uint8Array {
  return Uint8Array.from([tag, ...varint.encode(bytes.byteLength), ...bytes])
}

/**
 * A Bitswap message with these wantlist entries, written field by field (the
 * generated codec cannot write a want type that does not exist)
 */
function wantlistMessage (entries: Array<{ cid: Uint8Array, wantType: number }>): Uint8Array {
  const wantlist = entries.flatMap(({ cid, wantType }) => [...field(0x0a, Uint8Array.from([...field(0x0a, cid), 0x10, 1, 0x20, wantType, 0x28, 1]))])
  return field(0x0a, Uint8Array.from(wantlist))
}

describe('malformed input: the stream is reset, everyone else is still served', function () {
  this.timeout(30_000)

  let proxyNode: ProxyNode
  let downstream: TestHelia
  let client: TestHelia
  let attacker: RawBitswapPeer
  let file: { cid: CID, bytes: Uint8Array }

  beforeEach(async () => {
    [downstream, client] = await startHelias(2)
    const bytes = patternBytes(2 * MiB, 81)
    file = { cid: await addFile(downstream, bytes), bytes }
    proxyNode = await startProxy([downstream.libp2p], { forwarder: { maxWantlistEntriesPerPeer: 16 } })
    await connectClient(client, proxyNode)
    attacker = await RawBitswapPeer.create()
    await attacker.dial(addressOf(proxyNode))
  })

  afterEach(async () => {
    await stopAll([attacker, client, downstream, proxyNode])
  })

  /**
   * Sends `bytes` while a stock Helia client fetches a file; the attacker's
   * stream must be reset and the client must get its file
   */
  async function attack (bytes: Uint8Array): Promise<void> {
    const fetching = cat(client, file.cid)
    const stream = await attacker.sendBytes(proxyNode.peerId, bytes, { close: false })

    expect(await ended(stream)).to.equal('reset')
    expect(equals(await fetching, file.bytes)).to.be.true()
    expect(proxyNode.services.bitswapForwarder.stats().malformedMessages).to.equal(1)
  }

  /**
   * Sends `bytes`, a message with `invalid` unusable entries, on a stream
   * left open, then a valid want on the same stream as the marker: the
   * marker's block arrives, the stream is still open, the entries are
   * counted and nothing is malformed
   */
  async function skipped (bytes: Uint8Array, invalid: number): Promise<void> {
    const stream = await attacker.sendBytes(proxyNode.peerId, bytes, { close: false })
    stream.send(frame(encodeMessage({ wants: [want(file.cid)], blocks: [], presences: [] }, '1.2.0')).subarray())
    await attacker.waitForBlocks([file.cid])
    expect(stream.status).to.equal('open')
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.invalidEntries).to.equal(invalid)
    expect(stats.malformedMessages).to.equal(0)
    await stream.close()
  }

  it('a bad varint length prefix', async () => {
    await attack(new Uint8Array(8).fill(0xff))
  })

  it('bytes that are not a protobuf Bitswap message', async () => {
    await attack(frame(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])).subarray())
  })

  it('an oversized message (announced by its length prefix)', async () => {
    await attack(varint.encode(4 * MiB + 1))
  })

  it('a wantlist beyond maxWantlistEntriesPerPeer', async () => {
    const blocks = await Promise.all(Array.from({ length: 17 }, async (_, i) => makeBlock(10 + i)))
    await attack(frame(encodeMessage({ wants: blocks.map(b => want(b.cid)), blocks: [], presences: [] }, '1.2.0')).subarray())
    expect(proxyNode.services.bitswapForwarder.stats().cutOffs).to.equal(1)
  })

  // these used to reset the stream (issue 10, #5): an unusable entry is now
  // skipped and counted, and the message's other entries are served
  describe('an unusable entry is skipped and counted, the stream stays open', () => {
    it('a message with a valid want, a want of an unknown want type and a want of an unverifiable hash: the valid want is answered', async () => {
      // 0x1e is blake3: no hasher configured, so its blocks could not be checked
      const unverifiable = CID.createV1(raw.code, createDigest(0x1e, new Uint8Array(32)))
      const other = await makeBlock(1)
      const bytes = wantlistMessage([
        { cid: other.cid.bytes, wantType: 7 },
        { cid: file.cid.bytes, wantType: 0 },
        { cid: unverifiable.bytes, wantType: 0 }
      ])
      const stream = await attacker.sendBytes(proxyNode.peerId, frame(bytes).subarray(), { close: false })
      await attacker.waitForBlocks([file.cid])
      const stats = proxyNode.services.bitswapForwarder.stats()
      expect(stats.wantsReceived).to.equal(1)
      expect(stats.wantsForwarded).to.equal(1)
      expect(stats.invalidEntries).to.equal(2)
      expect(stats.malformedMessages).to.equal(0)
      expect(attacker.presences(other.cid), 'the skipped want is not answered').to.deep.equal([])
      expect(stream.status).to.equal('open')
      // the stream still carries messages
      const second = await makeBlock(2)
      await downstream.blockstore.put(second.cid, second.data)
      stream.send(frame(encodeMessage({ wants: [want(second.cid)], blocks: [], presences: [] }, '1.2.0')).subarray())
      await attacker.waitForBlocks([second.cid])
      expect(stream.status).to.equal('open')
      await stream.close()
    })

    it('a want type that does not exist', async () => {
      const block = await makeBlock(1)
      const entry = Uint8Array.from([0x0a, block.cid.bytes.byteLength, ...block.cid.bytes, 0x20, 0x07])
      const wantlist = Uint8Array.from([0x0a, entry.byteLength, ...entry])
      await skipped(frame(Uint8Array.from([0x0a, wantlist.byteLength, ...wantlist])).subarray(), 1)
    })

    it('a CID whose hash function the forwarder cannot verify', async () => {
      const cid = CID.createV1(raw.code, createDigest(0x1e, new Uint8Array(32)))
      await skipped(frame(BitswapMessage.encode({ wantlist: { entries: [{ cid: cid.bytes, priority: 1 }] } })).subarray(), 1)
    })

    it('bytes that are not a CID at all', async () => {
      await skipped(frame(BitswapMessage.encode({ wantlist: { entries: [{ cid: Uint8Array.from([0x01, 0x55, 0x12, 0x40, 1, 2, 3]), priority: 1 }] } })).subarray(), 1)
    })

    it('a block with an invalid prefix', async () => {
      await skipped(frame(BitswapMessage.encode({ blocks: [{ prefix: Uint8Array.from([7, 0x55, 0x12, 32]), data: Uint8Array.from([1, 2, 3]) }] })).subarray(), 1)
    })

    it('several unusable entries in one message are each counted', async () => {
      const cid = CID.createV1(raw.code, createDigest(0x1e, new Uint8Array(32)))
      await skipped(frame(BitswapMessage.encode({ wantlist: { entries: [{ cid: cid.bytes, priority: 1 }, { cid: cid.bytes, priority: 2 }] } })).subarray(), 2)
    })
  })

  it('a content codec the forwarder has never heard of is not malformed: the block is forwarded as is', async () => {
    const data = patternBytes(500, 91)
    const cid = CID.createV1(0x3fff01, await sha256.digest(data))
    await downstream.blockstore.put(cid, data)

    await attacker.send(proxyNode.peerId, { wants: [want(cid)], blocks: [], presences: [] })
    const blocks = await attacker.waitForBlocks([cid])
    expect(equals(blocks.get(keyOf(cid)) ?? new Uint8Array(), data)).to.be.true()
    await waitFor(() => proxyNode.services.bitswapForwarder.stats().blocksSent >= 1, 2_000, 'counted')
    expect(proxyNode.services.bitswapForwarder.stats().malformedMessages).to.equal(0)
  })
})
