import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals } from 'uint8arrays/equals'
import { decodeMessage, encodeMessage, encodePrefix, keyOf, parsePrefix, versionOf } from '../src/codec.ts'
import { encodeFrame, frame, readFrames, splitFrames } from '../src/framing.ts'
import { BitswapMessage, BlockPresenceType } from '../src/pb/message.ts'
import { BlockVerifier } from '../src/verifier.ts'
import type { OutgoingMessage } from '../src/codec.ts'

const verifier = new BlockVerifier()
const options = { maxEntries: 100, canVerify: (code: number) => verifier.canVerify(code) }

async function rawBlock (text: string): Promise<{ cid: CID, data: Uint8Array }> {
  const data = new TextEncoder().encode(text)
  return { cid: CID.createV1(raw.code, await sha256.digest(data)), data }
}

async function dagPbV0 (text: string): Promise<{ cid: CID, data: Uint8Array }> {
  // any bytes will do: the forwarder does not decode blocks
  const data = new TextEncoder().encode(text)
  return { cid: CID.createV0(await sha256.digest(data)), data }
}

describe('codec', () => {
  it('maps protocol ids to versions', () => {
    expect(versionOf('/ipfs/bitswap/1.2.0')).to.equal('1.2.0')
    expect(versionOf('/ipfs/bitswap/1.1.0')).to.equal('1.1.0')
    expect(versionOf('/ipfs/bitswap/1.0.0')).to.equal('1.0.0')
    expect(versionOf('/ipfs/bitswap')).to.equal('1.0.0')
  })

  it('1.2.0: round-trips want types, send-dont-have, cancels, blocks and presences', async () => {
    const a = await rawBlock('a')
    const b = await rawBlock('b')
    const message: OutgoingMessage = {
      wants: [
        { cid: a.cid, priority: 5, cancel: false, wantType: 'have', sendDontHave: true },
        { cid: b.cid, priority: 1, cancel: true, wantType: 'block', sendDontHave: false }
      ],
      blocks: [{ cid: a.cid, data: a.data }],
      presences: [{ cid: b.cid, type: 'dont-have' }, { cid: a.cid, type: 'have' }]
    }

    const decoded = decodeMessage(encodeMessage(message, '1.2.0'), options)

    expect(decoded.wants.map(w => [w.cid.toString(), w.priority, w.wantType, w.sendDontHave, w.cancel])).to.deep.equal([
      [a.cid.toString(), 5, 'have', true, false],
      [b.cid.toString(), 1, 'block', false, true]
    ])
    expect(decoded.blocks).to.have.lengthOf(1)
    expect(decoded.blocks[0].prefix).to.deep.equal({ version: 1, codec: raw.code, hashCode: sha256.code, hashLength: 32 })
    expect(equals(decoded.blocks[0].data, a.data)).to.be.true()
    expect(decoded.presences.map(p => [p.cid.toString(), p.type])).to.deep.equal([[b.cid.toString(), 'dont-have'], [a.cid.toString(), 'have']])
    expect((await verifier.cidOf(decoded.blocks[0].prefix, decoded.blocks[0].data)).equals(a.cid)).to.be.true()
  })

  it('1.1.0: leaves out want types, send-dont-have and presences, keeps prefixed blocks', async () => {
    const a = await rawBlock('a')
    const bytes = encodeMessage({
      wants: [{ cid: a.cid, priority: 1, cancel: false, wantType: 'have', sendDontHave: true }],
      blocks: [{ cid: a.cid, data: a.data }],
      presences: [{ cid: a.cid, type: 'have' }]
    }, '1.1.0')

    const pb = BitswapMessage.decode(bytes)
    expect(pb.wantlist?.entries[0].wantType).to.be.undefined()
    expect(pb.wantlist?.entries[0].sendDontHave).to.be.undefined()
    expect(pb.blockPresences).to.have.lengthOf(0)
    expect(pb.rawBlocks).to.have.lengthOf(0)
    expect(pb.blocks).to.have.lengthOf(1)

    const decoded = decodeMessage(bytes, options)
    expect(decoded.wants[0].wantType, 'a want without a type is a want-block').to.equal('block')
    expect(decoded.wants[0].sendDontHave).to.be.false()
  })

  it('1.0.0: sends blocks as bare bytes in field 2 and wants CIDv0; reads field 2 as CIDv0 blocks', async () => {
    const v0 = await dagPbV0('a dag-pb node')
    const v1 = v0.cid.toV1()
    const bytes = encodeMessage({
      wants: [{ cid: v1, priority: 1, cancel: false, wantType: 'block', sendDontHave: true }],
      blocks: [{ cid: v1, data: v0.data }],
      presences: []
    }, '1.0.0')

    const pb = BitswapMessage.decode(bytes)
    expect(pb.blocks).to.have.lengthOf(0)
    expect(pb.rawBlocks).to.have.lengthOf(1)
    expect(equals(pb.wantlist?.entries[0].cid ?? new Uint8Array(), v0.cid.bytes), 'the want is a CIDv0').to.be.true()

    const decoded = decodeMessage(bytes, options)
    expect(decoded.blocks[0].prefix.version).to.equal(0)
    expect((await verifier.cidOf(decoded.blocks[0].prefix, decoded.blocks[0].data)).equals(v0.cid)).to.be.true()
    expect(keyOf(v0.cid)).to.equal(keyOf(v1))
  })

  it('the zero-copy framing writes a message equivalent to what protons writes, for every version', async () => {
    const a = await rawBlock('a')
    const big = { cid: a.cid, data: new Uint8Array(200_000).fill(3) }
    const message: OutgoingMessage = {
      wants: [{ cid: a.cid, priority: 300, cancel: false, wantType: 'have', sendDontHave: true }],
      blocks: [{ cid: a.cid, data: a.data }, big],
      presences: [{ cid: a.cid, type: 'dont-have' }]
    }
    for (const version of ['1.0.0', '1.1.0', '1.2.0'] as const) {
      const zeroCopy = encodeFrame(message, version)
      const [decoded] = [...splitFrames([zeroCopy], 1_000_000)]
      const reference = encodeMessage(message, version)
      expect(decoded.byteLength, version).to.equal(reference.byteLength)
      expect(decodeMessage(decoded, options).blocks.map(b => b.data.byteLength), version).to.deep.equal([1, 200_000])
      expect(decodeMessage(decoded, options).wants, version).to.deep.equal(decodeMessage(reference, options).wants)
    }
  })

  it('decodes what a 1.2.0 peer writes with its own field layout', async () => {
    const a = await rawBlock('x')
    // built field by field with the generated codec, as another implementation would
    const bytes = BitswapMessage.encode({
      wantlist: { entries: [{ cid: a.cid.bytes, priority: 1, wantType: 1, sendDontHave: true }], full: true },
      blocks: [{ prefix: encodePrefix(a.cid) as Uint8Array<ArrayBuffer>, data: a.data as Uint8Array<ArrayBuffer> }],
      blockPresences: [{ cid: a.cid.bytes, type: BlockPresenceType.DoNotHaveBlock }]
    })
    const decoded = decodeMessage(bytes, options)
    expect(decoded.full).to.be.true()
    expect(decoded.wants[0].wantType).to.equal('have')
    expect(decoded.presences[0].type).to.equal('dont-have')
  })

  it('parses and rejects block prefixes', () => {
    expect(parsePrefix(encodePrefix(CID.parse('QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh51')))).to.deep.equal({ version: 0, codec: 0x70, hashCode: 0x12, hashLength: 32 })
    expect(() => parsePrefix(Uint8Array.from([2, 0x55, 0x12, 32]))).to.throw().with.property('name', 'UnsupportedCidError')
    expect(() => parsePrefix(Uint8Array.from([0, 0x55, 0x12, 32])), 'a CIDv0 must be dag-pb').to.throw().with.property('name', 'UnsupportedCidError')
    expect(() => parsePrefix(Uint8Array.from([1, 0x55, 0x12]))).to.throw().with.property('name', 'UnsupportedCidError')
  })

  it('rejects bytes that are not a Bitswap message', () => {
    expect(() => decodeMessage(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), options)).to.throw().with.property('name', 'InvalidMessageError')
  })

  it('rejects more wantlist entries than allowed in one message', async () => {
    const a = await rawBlock('a')
    const bytes = encodeMessage({
      wants: Array.from({ length: 4 }, () => ({ cid: a.cid, priority: 1, cancel: false, wantType: 'block' as const, sendDontHave: false })),
      blocks: [],
      presences: []
    }, '1.2.0')
    expect(() => decodeMessage(bytes, { ...options, maxEntries: 3 })).to.throw().with.property('name', 'WantlistTooLargeError')
    expect(decodeMessage(bytes, { ...options, maxEntries: 4 }).wants).to.have.lengthOf(4)
  })

  it('skips and counts entries it cannot use, keeping the valid ones beside them', async () => {
    const a = await rawBlock('a')
    const unknownHash = CID.createV1(raw.code, { code: 0x1e, size: 32, digest: new Uint8Array(32), bytes: Uint8Array.from([0x1e, 32, ...new Uint8Array(32)]) })
    const bytes = BitswapMessage.encode({
      wantlist: {
        entries: [
          { cid: a.cid.bytes, priority: 1, wantType: 1 },
          { cid: unknownHash.bytes, priority: 1 },
          { cid: Uint8Array.from([0x01, 0x55, 0x99]), priority: 1 },
          { cid: a.cid.bytes, priority: 1, wantType: 7 }
        ]
      },
      blocks: [{ prefix: Uint8Array.from([7, 0x55, 0x12, 32]), data: Uint8Array.from([1, 2, 3]) }],
      blockPresences: [{ cid: unknownHash.bytes, type: BlockPresenceType.HaveBlock }]
    })
    const decoded = decodeMessage(bytes, options)
    expect(decoded.wants.map(w => [w.cid.toString(), w.wantType])).to.deep.equal([[a.cid.toString(), 'have']])
    expect(decoded.blocks).to.have.lengthOf(0)
    expect(decoded.presences).to.have.lengthOf(0)
    expect(decoded.invalidEntries).to.equal(5)
  })

  describe('framing', () => {
    it('splits a byte stream into messages whatever the chunking', () => {
      const messages = [new Uint8Array(0), Uint8Array.from([1, 2, 3]), new Uint8Array(300).fill(7)]
      const stream = new Uint8ArrayList(...messages.map(m => frame(m))).subarray()
      for (const size of [1, 2, 7, stream.byteLength]) {
        const chunks: Uint8Array[] = []
        for (let offset = 0; offset < stream.byteLength; offset += size) {
          chunks.push(stream.subarray(offset, offset + size))
        }
        const out = [...splitFrames(chunks, 1000)].map(m => m.subarray())
        expect(out.map(m => m.byteLength), `chunks of ${size}`).to.deep.equal([0, 3, 300])
        // bytes left over at the end would throw
        expect(() => [...splitFrames(chunks, 1000)], 'nothing left buffered').to.not.throw()
      }
    })

    it('accepts a message of exactly maxMessageSize and rejects one byte more before it arrives', () => {
      expect([...splitFrames([frame(new Uint8Array(1000))], 1000)]).to.have.lengthOf(1)
      expect(() => [...splitFrames([varint.encode(1001)], 1000)]).to.throw().with.property('name', 'MessageTooLargeError')
    })

    it('rejects a varint that never ends at once', async () => {
      // a stream that sends six continuation bytes and then nothing: the
      // prefix must be refused without waiting for more
      async function * hanging (): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(6).fill(0x80)
        throw new Error('read past the bad prefix')
      }
      const reading = (async () => {
        const frames: unknown[] = []
        for await (const bytes of readFrames(hanging(), 4 * 1024 * 1024)) {
          frames.push(bytes)
        }
        return frames
      })()
      await expect(reading).to.eventually.be.rejected().with.property('name', 'InvalidMessageError')
    })

    it('rejects a non-minimal varint', () => {
      expect(() => [...splitFrames([Uint8Array.from([0x81, 0x00, 1])], 1000)]).to.throw().with.property('name', 'InvalidMessageError')
    })
  })
})
