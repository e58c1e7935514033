import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises'
import * as dagPb from '@ipld/dag-pb'
import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { createLinkDecoder, DagTooLargeError, UnknownCodecError, walkRefs } from '../src/index.ts'
import { BlockSet, kuboRefs } from './fixtures.ts'
import type { RefLine, WalkRefsOptions, WalkResult } from '../src/index.ts'

/**
 * A DAG with shared sub-DAGs at different depths, so that unique and
 * max-depth prune differently: root links a, shared, b and leaf1; a links
 * shared and leaf1; shared links leaf0; b (dag-json) links a.
 */
async function diamond (): Promise<{ set: BlockSet, root: CID, count: number, bytes: number }> {
  const set = new BlockSet()
  const leaf0 = await set.raw(new Uint8Array([0, 1, 2]))
  const leaf1 = await set.raw(new Uint8Array([3, 4, 5, 6]))
  const shared = await set.cbor({ name: 'shared', next: leaf0 })
  const a = await set.cbor({ kids: [shared, leaf1] })
  const b = await set.json({ again: a })
  const root = await set.cbor({ a, shared, b, z: leaf1 })
  let bytes = 0
  for (const { bytes: b } of set.blocks.values()) {
    bytes += b.byteLength
  }
  return { set, root, count: set.blocks.size, bytes }
}

async function collect (lines: AsyncIterable<RefLine>): Promise<RefLine[]> {
  const out: RefLine[] = []
  for await (const line of lines) {
    out.push(line)
  }
  return out
}

function options (set: BlockSet, extra: Partial<WalkRefsOptions> = {}): WalkRefsOptions {
  return {
    getBlock: async (cid) => {
      // random delays: the output order must not depend on arrival order
      await delay(Math.random() * 5)
      return set.get(cid)
    },
    decodeLinks: createLinkDecoder(),
    signal: AbortSignal.timeout(10_000),
    ...extra
  }
}

describe('walkRefs', () => {
  for (const [label, opts] of [
    ['recursive', { maxDepth: -1, unique: false }],
    ['recursive unique', { maxDepth: -1, unique: true }],
    ['max-depth 0', { maxDepth: 0, unique: false }],
    ['max-depth 1 (not recursive)', { maxDepth: 1, unique: false }],
    ['max-depth 2', { maxDepth: 2, unique: false }],
    ['max-depth 2 unique', { maxDepth: 2, unique: true }],
    ['max-depth 3 unique', { maxDepth: 3, unique: true }]
  ] as Array<[string, { maxDepth: number, unique: boolean }]>) {
    it(`prints what Kubo prints: ${label}`, async () => {
      const { set, root } = await diamond()
      const expected = kuboRefs([root], cid => set.get(cid), opts)
      for (let run = 0; run < 3; run++) {
        const lines = await collect(walkRefs({ args: [root], format: '<dst>', ...opts }, options(set, { fetchConcurrency: 3 })))
        expect(lines.map(l => l.Ref)).to.deep.equal(expected)
        expect(lines.every(l => l.Err === '')).to.be.true()
      }
    })
  }

  it('the DAG makes unique and max-depth matter', async () => {
    const { set, root } = await diamond()
    const all = kuboRefs([root], cid => set.get(cid))
    const unique = kuboRefs([root], cid => set.get(cid), { unique: true })
    const depth2 = kuboRefs([root], cid => set.get(cid), { maxDepth: 2 })
    const depth2Unique = kuboRefs([root], cid => set.get(cid), { maxDepth: 2, unique: true })
    expect(new Set([all, unique, depth2, depth2Unique].map(list => JSON.stringify(list))).size).to.equal(4)
    expect(unique).to.have.lengthOf(new Set(unique).size)
  })

  it('prints edges and link names with the format', async () => {
    const { set, root } = await diamond()
    const format = '<src> -> <dst> (<linkname>)'
    const expected = kuboRefs([root], cid => set.get(cid), { format })
    const lines = await collect(walkRefs({ args: [root], format, maxDepth: -1, unique: false }, options(set)))
    expect(lines.map(l => l.Ref)).to.deep.equal(expected)
    expect(lines[0].Ref).to.equal(`${root} -> ${expected[0].split(' -> ')[1].split(' ')[0]} (a)`)
  })

  it('keeps dag-pb link names', async () => {
    const set = new BlockSet()
    const leaf = await set.raw(new Uint8Array([9]))
    const dir = await set.add(dagPb, dagPb.prepare({ Links: [{ Hash: leaf, Name: 'hello.txt', Tsize: 1 }] }))
    const lines = await collect(walkRefs({ args: [dir], format: '<linkname>:<dst>', maxDepth: -1, unique: false }, options(set)))
    expect(lines.map(l => l.Ref)).to.deep.equal([`hello.txt:${leaf}`])
  })

  it('walks several roots in order, each after all roots are fetched', async () => {
    const { set, root } = await diamond()
    const other = await set.cbor({ only: await set.raw(new Uint8Array([42])) })
    const expected = kuboRefs([root, other], cid => set.get(cid))
    const lines = await collect(walkRefs({ args: [root, other], format: '<dst>', maxDepth: -1, unique: false }, options(set)))
    expect(lines.map(l => l.Ref)).to.deep.equal(expected)
  })

  it('counts distinct blocks: maxDagBlocks at the DAG size passes, one less fails', async () => {
    const { set, root, count } = await diamond()
    const result: WalkResult = { blocks: 0, bytes: 0, failedRoots: 0 }
    await collect(walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, options(set, { maxDagBlocks: count }), result))
    expect(result.blocks).to.equal(count)

    await expect(collect(walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, options(set, { maxDagBlocks: count - 1 }))))
      .to.eventually.be.rejected.with.property('name', DagTooLargeError.name)
  })

  it('counts block bytes: maxDagBytes at the DAG size passes, one less fails', async () => {
    const { set, root, bytes } = await diamond()
    const result: WalkResult = { blocks: 0, bytes: 0, failedRoots: 0 }
    await collect(walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, options(set, { maxDagBytes: bytes }), result))
    expect(result.bytes).to.equal(bytes)

    await expect(collect(walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, options(set, { maxDagBytes: bytes - 1 }))))
      .to.eventually.be.rejected.with.property('name', DagTooLargeError.name)
  })

  it('an error below a root is an Err line and the next root is still walked', async () => {
    const set = new BlockSet()
    const missing = CID.createV1(0x55, await sha256.digest(new Uint8Array([1, 2, 3, 4, 5])))
    const broken = await set.cbor({ gone: missing })
    const fine = await set.cbor({ here: await set.raw(new Uint8Array([7])) })
    const result: WalkResult = { blocks: 0, bytes: 0, failedRoots: 0 }
    const lines = await collect(walkRefs({ args: [broken, fine], format: '<dst>', maxDepth: -1, unique: false }, options(set), result))
    expect(lines).to.have.lengthOf(2)
    expect(lines[0].Ref).to.equal('')
    expect(lines[0].Err).to.include(`no block ${missing}`)
    expect(lines[1].Err).to.equal('')
    expect(result.failedRoots).to.equal(1)
  })

  it('a root that cannot be fetched throws before any line', async () => {
    const { set, root } = await diamond()
    const missing = CID.createV1(0x55, await sha256.digest(new Uint8Array([1])))
    const seen: RefLine[] = []
    const err = await (async () => {
      for await (const line of walkRefs({ args: [root, missing], format: '<dst>', maxDepth: -1, unique: false }, options(set))) {
        seen.push(line)
      }
    })().then(() => undefined, (err: Error) => err)
    expect(err?.message).to.include('no block')
    expect(seen).to.be.empty()
  })

  it('an unknown codec below a root is an Err line', async () => {
    const set = new BlockSet()
    const strange = CID.createV1(0x300001, await sha256.digest(new Uint8Array([1])))
    set.blocks.set(strange.toString(), { cid: strange, bytes: new Uint8Array([1]) })
    const root = await set.cbor({ strange })
    // like Kubo, a block that cannot be decoded is not printed
    const lines = await collect(walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, options(set)))
    expect(lines).to.have.lengthOf(1)
    expect(lines[0].Ref).to.equal('')
    expect(lines[0].Err).to.include('no decoder for codec 0x300001')

    await expect(collect(walkRefs({ args: [strange], format: '<dst>', maxDepth: -1, unique: false }, options(set))))
      .to.eventually.be.rejected.with.property('name', UnknownCodecError.name)
  })

  it('fetches concurrently up to fetchConcurrency and no further', async () => {
    const set = new BlockSet()
    const leaves: CID[] = []
    for (let i = 0; i < 40; i++) {
      leaves.push(await set.raw(new Uint8Array([i, i + 1])))
    }
    const root = await set.cbor({ leaves })
    let inFlight = 0
    let peak = 0
    const lines = await collect(walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, {
      ...options(set),
      fetchConcurrency: 8,
      getBlock: async (cid) => {
        inFlight++
        peak = Math.max(peak, inFlight)
        await delay(5)
        inFlight--
        return set.get(cid)
      }
    }))
    expect(lines.map(l => l.Ref)).to.deep.equal(leaves.map(String))
    expect(peak).to.equal(8)
  })

  it('stops fetching when the consumer stops reading', async () => {
    const set = new BlockSet()
    const leaves: CID[] = []
    for (let i = 0; i < 100; i++) {
      leaves.push(await set.raw(new Uint8Array([i])))
    }
    const root = await set.cbor({ leaves })
    let fetched = 0
    const walk = walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, {
      ...options(set),
      fetchConcurrency: 4,
      getBlock: async (cid) => { fetched++; return set.get(cid) }
    })
    const first = await walk.next()
    expect(first.value?.Ref).to.equal(leaves[0].toString())
    await walk.return(undefined)
    // the blocks come at once: what a fetch started after return() would
    // have done is done once the microtasks have run
    await nextTurn()
    // the root, the first leaf and a window of 4 ahead at most
    expect(fetched).to.be.at.most(6)
  })

  it('aborts with the signal', async () => {
    const { set, root } = await diamond()
    const controller = new AbortController()
    const walk = walkRefs({ args: [root], format: '<dst>', maxDepth: -1, unique: false }, {
      ...options(set),
      signal: controller.signal,
      getBlock: async (cid, { signal }) => {
        if (cid.equals(root)) {
          return set.get(cid)
        }
        return new Promise((resolve, reject) => signal?.addEventListener('abort', () => { reject(signal.reason) }))
      }
    })
    setTimeout(() => { controller.abort(new Error('stop')) }, 20)
    await expect(collect(walk)).to.eventually.be.rejected.with.property('message', 'stop')
  })
})
