import { unixfs } from '@helia/unixfs'
import { discoverFromApi } from '@kitsune/proxy'
import { addressOf, createTestHelia, patternBytes } from '@kitsune/test-support'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { create as createKuboClient } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { toString } from 'uint8arrays/to-string'
import { withPreload } from '../src/index.ts'
import { BlockSet, createPreloadHelia, httpRequest, kuboRefs, parseLines, waitFor } from './fixtures.ts'
import type { PreloadHelia } from './fixtures.ts'
import type { WithPreloadInit } from '../src/index.ts'
import type { TestHelia } from '@kitsune/test-support'

const BITSWAP = '/ipfs/bitswap/1.2.0'
const FILE_SIZE = 1024 * 1024
const CHUNK = 16 * 1024
const FANOUT = 8
// 64 leaves, 8 nodes above them, 1 root
const FILE_BLOCKS = FILE_SIZE / CHUNK + FILE_SIZE / CHUNK / FANOUT + 1

async function connect (from: TestHelia, to: TestHelia): Promise<void> {
  await from.libp2p.dial(addressOf(to.libp2p))
  await waitFor(async () => {
    try {
      const peer = await from.libp2p.peerStore.get(to.libp2p.peerId)
      return peer.protocols.includes(BITSWAP)
    } catch {
      return false
    }
  }, 5000, 'identify to report Bitswap')
}

async function readBlock (helia: TestHelia, cid: CID): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of helia.blockstore.get(cid)) {
    chunks.push(chunk)
  }
  return concat(chunks)
}

/**
 * Every block of the browser node, read once, for the expected-refs oracle
 */
async function snapshot (helia: TestHelia): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>()
  for await (const { cid, bytes } of helia.blockstore.getAll()) {
    const chunks: Uint8Array[] = []
    for await (const chunk of bytes) {
      chunks.push(chunk)
    }
    // blockstores key blocks by multihash
    out.set(toString(cid.multihash.bytes, 'base64'), concat(chunks))
  }
  return out
}

describe('withPreload (a Helia node as preload node)', function () {
  this.timeout(60_000)

  let browser: TestHelia
  let preload: PreloadHelia
  const extra: Array<TestHelia | PreloadHelia> = []
  let file: Uint8Array
  let fileRoot: CID
  let dag: BlockSet
  let cborRoot: CID
  let jsonRoot: CID
  let rawRoot: CID
  let missingChild: CID
  let brokenRoot: CID
  let blocks: Map<string, Uint8Array>

  const bytesOf = (cid: CID): Uint8Array => {
    const bytes = blocks.get(toString(cid.multihash.bytes, 'base64'))
    if (bytes == null) {
      throw new Error(`the browser has no ${cid}`)
    }
    return bytes
  }

  async function preloadNode (init: WithPreloadInit = {}): Promise<PreloadHelia> {
    const node = await createPreloadHelia(init)
    extra.push(node)
    await connect(node, browser)
    return node
  }

  before(async () => {
    // the "browser": a stock Helia node that added content
    browser = await createTestHelia()
    file = patternBytes(FILE_SIZE, 7)
    fileRoot = await unixfs(browser).addBytes(file, {
      chunker: fixedSize({ chunkSize: CHUNK }),
      layout: balanced({ maxChildrenPerNode: FANOUT })
    })

    // a dag-cbor DAG with a shared node, a dag-json node and raw leaves
    dag = new BlockSet()
    const leaves = await Promise.all([1, 2, 3, 4].map(async i => dag.raw(patternBytes(1000 + i, i))))
    const shared = await dag.cbor({ shared: true, leaf: leaves[0] })
    const left = await dag.cbor({ side: 'left', kids: [shared, leaves[1]] })
    const right = await dag.json({ side: 'right', kids: [shared, leaves[2]] })
    cborRoot = await dag.cbor({ left, right, also: leaves[3], again: left })
    jsonRoot = right
    rawRoot = leaves[3]
    missingChild = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('nobody has this')))
    // links in key order: a, then b
    brokenRoot = await dag.cbor({ a: leaves[0], b: missingChild })
    for (const { cid, bytes } of dag.blocks.values()) {
      await browser.blockstore.put(cid, bytes)
    }

    blocks = await snapshot(browser)
    preload = await preloadNode()
  })

  after(async () => {
    await Promise.all([browser, preload, ...extra].map(async node => node?.stop()))
  })

  it('starts the API with Helia and exposes its URL', () => {
    expect(preload.preload.url?.href).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/)
  })

  it('kubo-rpc-client refs -r: every block of a multi-level UnixFS file, in Kubo\'s order, into the blockstore', async () => {
    const client = createKuboClient({ url: preload.preload.url })
    const refs: string[] = []
    for await (const line of client.refs(fileRoot, { recursive: true })) {
      expect(line.err).to.be.oneOf([undefined, ''])
      refs.push(line.ref)
    }
    expect(new Set([fileRoot.toString(), ...refs]).size).to.equal(FILE_BLOCKS)
    expect(refs).to.deep.equal(kuboRefs([fileRoot], bytesOf))
    for (const ref of refs) {
      expect(await preload.blockstore.has(CID.parse(ref))).to.equal(true, ref)
    }
    expect(await preload.blockstore.has(fileRoot)).to.be.true()
  })

  it('the js-ipfs preload call (POST, drain) fetches a dag-cbor DAG with dag-json and raw nodes', async () => {
    const res = await fetch(new URL(`/api/v0/refs?r=true&arg=${cborRoot}`, preload.preload.url), { method: 'POST' })
    expect(res.status).to.equal(200)
    expect(res.headers.get('access-control-allow-origin')).to.equal('*')
    const { refs, errors } = parseLines(await res.text())
    expect(errors).to.be.empty()
    expect(refs).to.deep.equal(kuboRefs([cborRoot], bytesOf))
    // every block of the DAG but the broken one
    for (const { cid } of dag.blocks.values()) {
      if (!cid.equals(brokenRoot)) {
        expect(await preload.blockstore.has(cid)).to.equal(true, cid.toString())
      }
    }
  })

  it('edges, unique, max-depth and format print what Kubo prints', async () => {
    const cases: Array<[string, Parameters<typeof kuboRefs>[2]]> = [
      ['r=true&e=true', { format: '<src> -> <dst>' }],
      ['r=true&u=true', { unique: true }],
      ['r=true&unique=true&max-depth=2', { unique: true, maxDepth: 2 }],
      ['recursive=true&max-depth=1', { maxDepth: 1 }],
      ['r=true&max-depth=0', { maxDepth: 0 }],
      ['r=false', { maxDepth: 1 }],
      ['r=true&format=<linkname>%20<src>%20<dst>', { format: '<linkname> <src> <dst>' }]
    ]
    const outputs = new Set<string>()
    for (const [query, options] of cases) {
      const res = await httpRequest(preload.preload.url!, `/api/v0/refs?${query}&arg=${cborRoot}`)
      expect(res.status).to.equal(200, query)
      const { refs, errors } = parseLines(res.body)
      expect(errors).to.deep.equal([], query)
      expect(refs).to.deep.equal(kuboRefs([cborRoot], bytesOf, options), query)
      outputs.add(JSON.stringify(refs))
    }
    expect(outputs.size).to.equal(cases.length - 1) // max-depth=1 and r=false are the same
    // dag-pb link names
    const named = parseLines((await httpRequest(preload.preload.url!, `/api/v0/refs?format=<linkname>&arg=${fileRoot}`)).body)
    expect(named.refs).to.have.lengthOf(FANOUT)
  })

  it('a dag-json root and a raw root', async () => {
    const json = parseLines((await httpRequest(preload.preload.url!, `/api/v0/refs?r=true&arg=/ipfs/${jsonRoot}`)).body)
    expect(json.refs).to.deep.equal(kuboRefs([jsonRoot], bytesOf))
    expect(json.refs).to.have.lengthOf(3)
    const raw = await httpRequest(preload.preload.url!, `/api/v0/refs?r=true&arg=${rawRoot}`)
    expect(raw.status).to.equal(200)
    expect(raw.body).to.equal('')
  })

  it('a block nobody has: an Err line and the X-Stream-Error trailer once requestTimeout passes', async () => {
    const node = await preloadNode({ requestTimeout: 1500 })
    const res = await httpRequest(node.preload.url!, `/api/v0/refs?r=true&arg=${brokenRoot}`)
    expect(res.status).to.equal(200)
    const { refs, errors } = parseLines(res.body)
    // the link before the missing one is printed
    expect(refs).to.have.lengthOf(1)
    expect(dag.has(CID.parse(refs[0]))).to.be.true()
    expect(errors).to.have.lengthOf(1)
    expect(errors[0]).to.include('context deadline exceeded')
    expect(res.trailers['x-stream-error']).to.equal(errors[0])
    expect(node.preload.stats()).to.deep.include({ failed: 1, requests: 1 })
  })

  it('a root nobody has: the 200 at once, then an Err line and the X-Stream-Error trailer at requestTimeout', async () => {
    const node = await preloadNode({ requestTimeout: 500 })
    const res = await httpRequest(node.preload.url!, `/api/v0/refs?r=true&arg=${missingChild}`)
    expect(res.status).to.equal(200)
    const { refs, errors } = parseLines(res.body)
    expect(refs).to.be.empty()
    expect(errors).to.have.lengthOf(1)
    expect(errors[0]).to.include('context deadline exceeded')
    expect(res.trailers['x-stream-error']).to.equal(errors[0])
  })

  it('maxDagBlocks / maxDagBytes: the DAG\'s size passes, one less fails', async () => {
    const size = kuboRefs([cborRoot], bytesOf, { unique: true }).length + 1
    let bytes = bytesOf(cborRoot).byteLength
    for (const ref of new Set(kuboRefs([cborRoot], bytesOf))) {
      bytes += bytesOf(CID.parse(ref)).byteLength
    }
    const exact = await preloadNode({ maxDagBlocks: size, maxDagBytes: bytes })
    const ok = await httpRequest(exact.preload.url!, `/api/v0/refs?r=true&arg=${cborRoot}`)
    expect(parseLines(ok.body).errors).to.deep.equal([])
    expect(ok.trailers['x-stream-error']).to.be.undefined()

    for (const init of [{ maxDagBlocks: size - 1 }, { maxDagBytes: bytes - 1 }]) {
      const node = await preloadNode(init)
      const res = await httpRequest(node.preload.url!, `/api/v0/refs?r=true&arg=${cborRoot}`)
      const { errors } = parseLines(res.body)
      expect(errors).to.have.lengthOf(1, JSON.stringify(init))
      expect(errors[0]).to.match(/the DAG has more than \d+ (blocks|bytes)/)
      expect(res.trailers['x-stream-error']).to.equal(errors[0])
    }
  })

  it('pin: pins each root after a complete walk', async () => {
    const node = await preloadNode({ pin: true })
    const res = await httpRequest(node.preload.url!, `/api/v0/refs?r=true&arg=${cborRoot}`)
    expect(parseLines(res.body).errors).to.be.empty()
    expect(await node.pins.isPinned(cborRoot)).to.be.true()
    // a partial walk pins nothing
    await httpRequest(node.preload.url!, `/api/v0/refs?r=true&max-depth=1&arg=${fileRoot}`)
    expect(await node.pins.isPinned(fileRoot)).to.be.false()
    expect(await preload.pins.isPinned(cborRoot)).to.be.false()
  })

  it('/api/v0/id answers like Kubo, and the proxy\'s discovery accepts it', async () => {
    const res = await httpRequest(preload.preload.url!, '/api/v0/id')
    expect(res.status).to.equal(200)
    const body = JSON.parse(res.body)
    expect(Object.keys(body)).to.deep.equal(['ID', 'PublicKey', 'Addresses', 'AgentVersion', 'ProtocolVersion', 'Protocols'])
    expect(body.ID).to.equal(preload.libp2p.peerId.toString())
    expect(body.Addresses).to.deep.equal(preload.libp2p.getMultiaddrs().map(String))
    expect(body.Addresses.every((a: string) => a.endsWith(`/p2p/${body.ID}`))).to.be.true()
    expect(body.Protocols).to.include(BITSWAP)
    expect(body.ProtocolVersion).to.equal('ipfs/0.1.0')
    expect(body.AgentVersion).to.be.a('string').that.is.not.empty()
    // PublicKey is the base64 protobuf of the key the ID is made from
    const key = peerIdFromString(body.ID).publicKey
    expect(key).to.not.be.undefined()
    expect(body.PublicKey).to.equal(toString(publicKeyToProtobuf(key!), 'base64pad'))

    const found = await discoverFromApi(preload.preload.url!, { canDial: () => true, signal: AbortSignal.timeout(5000) })
    expect(found.peerId.toString()).to.equal(body.ID)
    expect(found.multiaddrs.map(String)).to.include(body.Addresses[0])
  })

  it('refuses to be applied to a started node', async () => {
    const node = await createTestHelia()
    extra.push(node)
    expect(() => withPreload(node)).to.throw().with.property('name', 'InvalidOptionError')
  })

  it('stops the API with Helia', async () => {
    const node = await preloadNode()
    const url = node.preload.url!
    await node.stop()
    expect(node.preload.url).to.be.undefined()
    await expect(fetch(new URL('/api/v0/id', url), { method: 'POST' })).to.eventually.be.rejected()
  })

  // last: the browser goes away
  it('once the browser is gone, a new node fetches the file from the preload node, byte for byte', async () => {
    await browser.stop()
    const reader = await createTestHelia()
    extra.push(reader)
    await connect(reader, preload)
    const chunks: Uint8Array[] = []
    for await (const chunk of unixfs(reader).cat(fileRoot, { signal: AbortSignal.timeout(20_000) })) {
      chunks.push(chunk)
    }
    expect(equals(concat(chunks), file)).to.be.true()
    expect(equals(await readBlock(reader, cborRoot), bytesOf(cborRoot))).to.be.true()
  })
})
