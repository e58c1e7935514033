import { createServer } from 'node:http'
import { unixfs } from '@helia/unixfs'
import * as dagCbor from '@ipld/dag-cbor'
import { bitswapForwarder } from '@kitsune/bitswap-forwarder'
import { proxy } from '@kitsune/proxy'
import { addressOf, createTestHelia, createTestNode, FAST_POOL, patternBytes } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { create as createKuboClient } from 'kubo-rpc-client'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { proxyPreload } from '../src/index.ts'
import { createPreloadHelia, httpRequest, parseLines, waitFor } from './fixtures.ts'
import type { PostOptions } from './fixtures.ts'
import type { HeliaWithPreload, ProxyPreload, ProxyPreloadInit } from '../src/index.ts'
import type { BitswapForwarder } from '@kitsune/bitswap-forwarder'
import type { BalancingStrategy, Proxy } from '@kitsune/proxy'
import type { BaseServices, TestHelia } from '@kitsune/test-support'
import type { Libp2p } from '@libp2p/interface'
import type { AddressInfo } from 'node:net'

type Downstream = HeliaWithPreload<TestHelia>
type ProxyNode = Libp2p<BaseServices & { proxy: Proxy, bitswapForwarder: BitswapForwarder, preload: ProxyPreload }>

async function startProxy (downstreams: Downstream[], init: ProxyPreloadInit = {}): Promise<ProxyNode> {
  const node = await createTestNode({
    services: {
      proxy: proxy({ ...FAST_POOL, downstreamApis: downstreams.map(d => d.preload.url!.href) }),
      bitswapForwarder: bitswapForwarder(),
      preload: proxyPreload({ listen: '/ip4/127.0.0.1/tcp/0', ...init })
    }
  }) as ProxyNode
  await node.services.proxy.ready()
  await waitFor(() => node.services.proxy.pool.healthy().length === downstreams.length, 10_000, 'downstreams up')
  return node
}

/**
 * A stock Helia client connected to the proxy only, once identify has told it
 * the proxy speaks Bitswap
 */
async function startClient (proxyNode: ProxyNode): Promise<TestHelia> {
  const client = await createTestHelia()
  await client.libp2p.dial(addressOf(proxyNode))
  await waitFor(async () => {
    const peer = await client.libp2p.peerStore.get(proxyNode.peerId).catch(() => undefined)
    return peer?.protocols.includes('/ipfs/bitswap/1.2.0') === true
  }, 10_000, 'identify')
  return client
}

/**
 * A block's identity whatever the CID's version and codec: its multihash
 */
function blockKey (cid: string): string {
  return base58btc.encode(CID.parse(cid).multihash.bytes)
}

/**
 * Every block a Helia node holds, by multihash (the blockstore keeps no codec)
 */
async function allBlocks (helia: TestHelia): Promise<Set<string>> {
  const keys = new Set<string>()
  for await (const { cid } of (helia.blockstore as any).unwrap().getAll() as AsyncIterable<{ cid: CID }>) {
    keys.add(blockKey(cid.toString()))
  }
  return keys
}

async function putBlock (helia: TestHelia, value: unknown, codec: { code: number, encode(v: any): Uint8Array } = dagCbor): Promise<CID> {
  const bytes = codec.encode(value)
  const cid = CID.createV1(codec.code, await sha256.digest(bytes))
  await helia.blockstore.put(cid, bytes)
  return cid
}

/**
 * A dag-cbor root linking to two dag-cbor nodes, one of which links to a raw
 * leaf; every CID but the root, as `refs -r` lists them
 */
async function addCborDag (helia: TestHelia, seed: number): Promise<{ root: CID, refs: string[] }> {
  const leaf = await putBlock(helia, patternBytes(2000, seed), raw)
  const left = await putBlock(helia, { name: 'left', leaf, seed })
  const right = await putBlock(helia, { name: 'right', seed, values: [1, 2, 3] })
  const root = await putBlock(helia, { children: [left, right], seed })
  return { root, refs: [left, leaf, right].map(c => c.toString()) }
}

/**
 * A block's bytes (Helia 7's blockstore streams them)
 */
async function getBlock (helia: TestHelia, cid: CID, timeout: number | AbortSignal = 10_000): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of helia.blockstore.get(cid, { signal: typeof timeout === 'number' ? AbortSignal.timeout(timeout) : timeout })) {
    chunks.push(chunk)
  }
  return concat(chunks)
}

async function cat (helia: TestHelia, cid: CID): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of unixfs(helia).cat(cid, { signal: AbortSignal.timeout(30_000) })) {
    chunks.push(chunk)
  }
  return concat(chunks)
}

async function refsOf (url: URL, cid: CID, options: Record<string, unknown> = { recursive: true }): Promise<Array<{ ref?: string, err?: string }>> {
  const client = createKuboClient({ url })
  const out: Array<{ ref?: string, err?: string }> = []
  for await (const line of client.refs(cid, options)) {
    out.push({ ref: line.ref, err: line.err == null ? undefined : String((line.err as any).message ?? line.err) })
  }
  return out
}

/**
 * What a preload call came to, read as Kubo answers: refs streamed with a
 * 200, ending in an error line (and the X-Stream-Error trailer), or Kubo's
 * error JSON when it failed before the first ref
 */
async function preload (base: URL, root: CID, headers: Record<string, string> = {}, options: PostOptions = {}): Promise<{ refs: string[], error?: string }> {
  const response = await httpRequest(base, `/api/v0/refs?recursive=true&arg=${root.toString()}`, { headers, ...options })
  const text = response.body
  if (response.status !== 200) {
    const body = JSON.parse(text)
    expect(body.Type).to.equal('error')
    return { refs: [], error: body.Message }
  }
  const lines: Array<{ Ref: string, Err: string }> = text.trim().split('\n').filter(l => l !== '').map(line => JSON.parse(line))
  const errors = lines.filter(l => l.Err !== '')
  expect(errors.length, 'at most one error line, the last').to.be.at.most(1)
  if (errors.length === 1) {
    expect(lines[lines.length - 1]).to.deep.equal({ Ref: '', Err: errors[0].Err })
  }
  return { refs: lines.filter(l => l.Err === '').map(l => l.Ref), error: errors[0]?.Err }
}

async function stopAll (nodes: Array<{ stop(): unknown } | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => { await Promise.resolve(n?.stop()).catch(() => {}) }))
}

describe('proxyPreload: preloading through the proxy to a downstream', function () {
  this.timeout(60_000)

  let nodes: Array<{ stop(): unknown } | undefined> = []

  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  /**
   * `count` downstreams, the proxy in front of them, and a client connected
   * to the proxy only; all stopped after the test
   */
  async function setup (count: number, init: ProxyPreloadInit = {}): Promise<{ downstreams: Downstream[], proxyNode: ProxyNode, client: TestHelia }> {
    const downstreams = await Promise.all(Array.from({ length: count }, async () => createPreloadHelia()))
    nodes.push(...downstreams)
    const proxyNode = await startProxy(downstreams, init)
    nodes.push(proxyNode)
    const client = await startClient(proxyNode)
    nodes.push(client)
    return { downstreams, proxyNode, client }
  }

  it('a client connected only to the proxy preloads a UnixFS file and a dag-cbor DAG; after it leaves, a new client fetches both through the proxy', async () => {
    const { downstreams, proxyNode, client } = await setup(2)

    const content = patternBytes(1_500_000, 7)
    const file = await unixfs(client).addBytes(content, { chunker: fixedSize({ chunkSize: 64 * 1024 }) })
    const fileBlocks = await allBlocks(client)
    const dag = await addCborDag(client, 1)
    expect(fileBlocks.size, 'a multi-block file').to.be.above(20)

    const url = proxyNode.services.preload.url!
    const fileRefs = await refsOf(url, file)
    expect(fileRefs.filter(r => r.err != null && r.err !== ''), 'no error lines').to.deep.equal([])
    expect(new Set(fileRefs.map(r => blockKey(r.ref ?? '')))).to.deep.equal(new Set([...fileBlocks].filter(c => c !== blockKey(file.toString()))))

    const dagRefs = await refsOf(url, dag.root)
    expect(dagRefs.map(r => r.ref).sort()).to.deep.equal([...dag.refs].sort())

    // persisted: for each DAG, one downstream (the strategy's choice for its
    // root) holds every block of it; and the windows are gone
    const held = await Promise.all(downstreams.map(allBlocks))
    for (const blocks of [[...fileBlocks], [dag.root.toString(), ...dag.refs].map(blockKey)]) {
      expect(held.some(h => blocks.every(key => h.has(key))), 'one downstream holds the whole DAG').to.be.true()
    }
    expect(proxyNode.services.preload.windows()).to.equal(0)
    expect(proxyNode.services.bitswapForwarder.windows()).to.have.lengthOf(0)
    expect(proxyNode.services.bitswapForwarder.stats().windowBlocksPassed).to.equal(fileBlocks.size + 1 + dag.refs.length)

    await client.stop()
    const later = await startClient(proxyNode)
    nodes.push(later)
    expect(equals(await cat(later, file), content), 'the file, byte for byte').to.be.true()
    for (const cid of [dag.root.toString(), ...dag.refs]) {
      const bytes = await getBlock(later, CID.parse(cid))
      expect(CID.createV1(CID.parse(cid).code, await sha256.digest(bytes)).toString()).to.equal(cid)
    }
  })

  it('the start-up race: a caller whose peer connects only after its request arrived is found, and the DAG is preloaded', async () => {
    const downstreams = [await createPreloadHelia()]
    nodes.push(...downstreams)
    const proxyNode = await startProxy(downstreams)
    nodes.push(proxyNode)
    const client = await createTestHelia()
    nodes.push(client)
    const dag = await addCborDag(client, 21)

    const call = preload(proxyNode.services.preload.url!, dag.root)
    // the request runs, its first look found nobody from the caller's address
    await waitFor(() => proxyNode.services.preload.stats().active === 1 && downstreams[0].preload.stats().active === 1, 5_000, 'the downstream fetching')
    expect(proxyNode.services.preload.windows(), 'no holder yet, so no window').to.equal(0)

    await client.libp2p.dial(addressOf(proxyNode))
    const outcome = await call
    expect(outcome.error).to.equal(undefined)
    expect(outcome.refs.sort()).to.deep.equal([...dag.refs].sort())
    for (const cid of [dag.root, ...dag.refs.map(ref => CID.parse(ref))]) {
      expect(await downstreams[0].blockstore.has(cid), `the downstream holds ${cid}`).to.be.true()
    }
    expect(proxyNode.services.preload.windows()).to.equal(0)
  })

  it('a caller whose peer connects from another of its addresses (listed in its identify record) is found, connected before or after the request', async () => {
    const downstreams = [await createPreloadHelia()]
    nodes.push(...downstreams)
    const proxyNode = await startProxy(downstreams)
    nodes.push(proxyNode)
    // the HTTP calls come from 127.0.0.5, where the client listens; its
    // libp2p connection comes from 127.0.0.1
    const client = await createTestHelia({ listen: ['/ip4/127.0.0.5/tcp/0'] })
    nodes.push(client)
    const before = await addCborDag(client, 22)
    const after = await addCborDag(client, 23)
    const base = proxyNode.services.preload.url!

    const late = preload(base, after.root, {}, { localAddress: '127.0.0.5' })
    await waitFor(() => downstreams[0].preload.stats().active === 1, 5_000, 'the downstream fetching')
    await client.libp2p.dial(addressOf(proxyNode))
    const lateOutcome = await late
    expect(lateOutcome.error).to.equal(undefined)
    expect(lateOutcome.refs.sort()).to.deep.equal([...after.refs].sort())

    const connected = await preload(base, before.root, {}, { localAddress: '127.0.0.5' })
    expect(connected.error).to.equal(undefined)
    expect(connected.refs.sort()).to.deep.equal([...before.refs].sort())
    expect([...proxyNode.getConnections(client.libp2p.peerId).map(c => c.remoteAddr.toString())].every(a => a.startsWith('/ip4/127.0.0.1/')), 'the client is connected from 127.0.0.1 only').to.be.true()
  })

  it('with the hash strategy a DAG lands on the downstream the forwarder asks first for its root', async () => {
    const { proxyNode, client } = await setup(2)
    const dags = [await addCborDag(client, 11), await addCborDag(client, 12), await addCborDag(client, 13)]
    for (const dag of dags) {
      await refsOf(proxyNode.services.preload.url!, dag.root)
    }
    await client.stop()

    const later = await startClient(proxyNode)
    nodes.push(later)
    for (const dag of dags) {
      await getBlock(later, dag.root)
    }
    expect(proxyNode.services.bitswapForwarder.stats().failovers, 'every root found on the first downstream asked').to.equal(0)
  })

  it('js-ipfs style: a POST with r=true and an empty body, drained, answers 200 with Kubo\'s headers', async () => {
    const { downstreams, proxyNode, client } = await setup(1)
    const dag = await addCborDag(client, 2)

    const response = await fetch(new URL(`/api/v0/refs?r=true&arg=${dag.root.toString()}`, proxyNode.services.preload.url), { method: 'POST' })
    expect(response.status).to.equal(200)
    expect(response.headers.get('content-type')).to.match(/^application\/json/)
    expect(response.headers.get('x-chunked-output')).to.equal('1')
    const lines = (await response.text()).trim().split('\n').map(line => JSON.parse(line))
    expect(lines.map(l => l.Ref).sort()).to.deep.equal([...dag.refs].sort())
    expect(lines.every(l => l.Err === '')).to.be.true()
    expect(await downstreams[0].blockstore.has(dag.root)).to.be.true()
  })

  it('outside a window a downstream still cannot pull from the client', async () => {
    const { downstreams, proxyNode, client } = await setup(1)

    const preloaded = await addCborDag(client, 3)
    await refsOf(proxyNode.services.preload.url!, preloaded.root)
    const secret = await putBlock(client, { secret: 'never preloaded' })

    const dropped = proxyNode.services.bitswapForwarder.stats().downstreamWantsDropped
    // the proxy is the downstream's only way to the client: once it has
    // dropped the want, nothing will answer it
    const giveUp = new AbortController()
    const attempt = getBlock(downstreams[0], secret, giveUp.signal)
    await waitFor(() => proxyNode.services.bitswapForwarder.stats().downstreamWantsDropped > dropped, 5_000, 'the downstream\'s want to be dropped')
    giveUp.abort()
    await expect(attempt).to.eventually.be.rejected()
    expect(proxyNode.services.bitswapForwarder.stats().downstreamWantsDropped).to.be.above(dropped)
    expect(proxyNode.services.bitswapForwarder.stats().windowWantsPassed, 'only the preloaded DAG passed').to.equal(1 + preloaded.refs.length)
    expect(await downstreams[0].blockstore.has(secret)).to.be.false()
  })

  it('maxDagBlocks: a DAG of exactly that many blocks preloads; one block fewer allowed ends the response with an error', async () => {
    const { proxyNode: exact, client } = await setup(1, { maxDagBlocks: 4 })
    const dag = await addCborDag(client, 4) // 4 blocks: root, left, leaf, right

    const ok = await refsOf(exact.services.preload.url!, dag.root)
    expect(ok.map(r => r.ref).sort()).to.deep.equal([...dag.refs].sort())

    const { proxyNode: tight, client: other } = await setup(1, { maxDagBlocks: 3 })
    const dag2 = await addCborDag(other, 5)
    const outcome = await preload(tight.services.preload.url!, dag2.root)
    expect(outcome.error).to.match(/maxDagBlocks/)
    expect(outcome.refs.length).to.be.below(dag2.refs.length)
    expect(tight.services.bitswapForwarder.stats().windowBlocksRefused).to.equal(1)
    expect(tight.services.bitswapForwarder.windows()).to.have.lengthOf(0)
  })

  it('maxDagBytes: the byte budget holds the same way', async () => {
    const { downstreams, proxyNode, client } = await setup(1, { maxDagBytes: 1000 })
    const dag = await addCborDag(client, 6) // the raw leaf alone is 2000 bytes

    const outcome = await preload(proxyNode.services.preload.url!, dag.root)
    expect(outcome.error).to.match(/maxDagBytes/)
    expect(await downstreams[0].blockstore.has(dag.root)).to.be.true()
    expect(proxyNode.services.bitswapForwarder.stats().windowBlocksRefused).to.equal(1)
  })

  it('requestTimeout: a DAG with a block nobody has ends with Kubo\'s deadline error in time, and the window closes', async () => {
    const { proxyNode, client } = await setup(1, { requestTimeout: 1_500 })
    const missing = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('nobody has this')))
    const root = await putBlock(client, { missing })

    const started = Date.now()
    const outcome = await preload(proxyNode.services.preload.url!, root)
    expect(Date.now() - started).to.be.within(1_400, 10_000)
    expect(outcome.error).to.match(/deadline|timed? ?out|abort/i)
    await waitFor(() => proxyNode.services.bitswapForwarder.windows().length === 0, 5_000, 'window closed')
    expect(proxyNode.services.preload.windows()).to.equal(0)
  })

  it('a caller that goes away mid-preload: the downstream request is aborted and the window closes at once', async () => {
    const { downstreams, proxyNode, client } = await setup(1)
    const missing = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('never added')))
    const root = await putBlock(client, { missing })

    const controller = new AbortController()
    const response = await fetch(new URL(`/api/v0/refs?recursive=true&arg=${root.toString()}`, proxyNode.services.preload.url), { method: 'POST', signal: controller.signal })
    // the 200 comes as soon as the request is accepted, the refs after
    expect(response.status).to.equal(200)
    const body = response.text()
    await waitFor(() => proxyNode.services.preload.windows() === 1 && downstreams[0].preload.stats().active === 1, 5_000, 'window open, downstream fetching')
    controller.abort()
    await expect(body).to.eventually.be.rejected()

    await waitFor(() => proxyNode.services.preload.windows() === 0 && proxyNode.services.bitswapForwarder.windows().length === 0, 2_000, 'window closed')
    await waitFor(() => proxyNode.services.preload.stats().active === 0, 2_000, 'request finished')
    await waitFor(() => downstreams[0].preload.stats().active === 0, 2_000, 'downstream request aborted')
  })

  it('X-Forwarded-For is believed only from trusted proxies: the caller\'s peers are found by the forwarded address', async () => {
    // the HTTP calls come from 127.0.0.3, a trusted reverse proxy; the client's libp2p connection from 127.0.0.1
    const { proxyNode, client } = await setup(1, { trustedProxies: ['127.0.0.3'], requestTimeout: 1_500 })
    const dag = await addCborDag(client, 7)
    const path = `/api/v0/refs?recursive=true&arg=${dag.root.toString()}`
    const base = proxyNode.services.preload.url!

    const forwarded = parseLines((await httpRequest(base, path, { localAddress: '127.0.0.3', headers: { 'X-Forwarded-For': '127.0.0.1' } })).body)
    expect(forwarded.errors).to.deep.equal([])
    expect(forwarded.refs.sort()).to.deep.equal([...dag.refs].sort())
    expect(proxyNode.services.bitswapForwarder.stats().probes).to.equal(1)
  })

  it('X-Forwarded-For from an untrusted address is ignored', async () => {
    const { proxyNode, client } = await setup(1, { requestTimeout: 1_500 })
    const dag = await addCborDag(client, 8)
    const base = proxyNode.services.preload.url!

    // claims to be 127.0.0.1 (where the client is) but calls from 127.0.0.3: nobody from there is asked
    const spoofed = await preload(base, dag.root, {}, { localAddress: '127.0.0.3', headers: { 'X-Forwarded-For': '127.0.0.1' } })
    expect(spoofed.error).to.match(/deadline|timed? ?out|abort/i)
    expect(proxyNode.services.bitswapForwarder.stats().probes).to.equal(0)
    expect(proxyNode.services.bitswapForwarder.stats().windowWantsPassed).to.equal(0)

    const honest = await preload(base, dag.root, { 'X-Forwarded-For': '192.0.2.7' })
    expect(honest.error).to.equal(undefined)
    expect(honest.refs.sort()).to.deep.equal([...dag.refs].sort())
  })

  it('behind a trusted TLS terminator that carries both the WebSocket and the HTTP call, the caller\'s peer is found among the peers connected through it', async () => {
    // on loopback the client's libp2p connection comes from 127.0.0.1, here the terminator's address
    const { proxyNode, client } = await setup(1, { trustedProxies: ['127.0.0.1'], requestTimeout: 10_000 })
    const dag = await addCborDag(client, 10)

    const outcome = await preload(proxyNode.services.preload.url!, dag.root, { 'X-Forwarded-For': '192.0.2.7' })
    expect(outcome.error).to.equal(undefined)
    expect(outcome.refs.sort()).to.deep.equal([...dag.refs].sort())
    expect(proxyNode.services.bitswapForwarder.stats().probes).to.equal(1)
  })

  it('a downstream whose refs fails before streaming is failed over to the next', async () => {
    const downstreams = [await createPreloadHelia(), await createPreloadHelia()]
    // the first downstream's API answers /api/v0/id but fails every refs
    let refsCalls = 0
    const broken = createServer((req, res) => {
      if (req.url?.startsWith('/api/v0/refs') === true) {
        refsCalls++
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ Message: 'disk full', Code: 0, Type: 'error' }))
        return
      }
      fetch(new URL(req.url ?? '/', downstreams[0].preload.url), { method: 'POST' })
        .then(async r => { res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()) })
        .catch(() => { res.writeHead(502).end() })
    })
    await new Promise<void>(resolve => broken.listen(0, '127.0.0.1', resolve))
    nodes.push({ stop: async () => { broken.closeAllConnections(); await new Promise(resolve => broken.close(resolve)) } })
    const brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`

    const brokenFirst: BalancingStrategy = {
      name: 'broken-first',
      select: (_request, list) => [...list].sort((a, b) => (a.api?.href === `${brokenUrl}/` ? -1 : 0) - (b.api?.href === `${brokenUrl}/` ? -1 : 0))
    }
    const node = await createTestNode({
      services: {
        proxy: proxy({ ...FAST_POOL, downstreamApis: [brokenUrl, downstreams[1].preload.url!.href] }),
        bitswapForwarder: bitswapForwarder(),
        preload: proxyPreload({ listen: '/ip4/127.0.0.1/tcp/0', strategy: brokenFirst })
      }
    }) as ProxyNode
    nodes.push(node, ...downstreams)
    await waitFor(() => node.services.proxy.pool.healthy().length === 2, 10_000, 'downstreams up')
    const client = await startClient(node)
    nodes.push(client)
    const dag = await addCborDag(client, 9)

    const refs = await refsOf(node.services.preload.url!, dag.root)
    expect(refs.map(r => r.ref).sort()).to.deep.equal([...dag.refs].sort())
    expect(refsCalls, 'the broken downstream was asked first').to.equal(1)
    expect(await downstreams[1].blockstore.has(dag.root)).to.be.true()
  })

  it('with no downstream that has a Kubo RPC API the answer is an Err line after the 200', async () => {
    const downstream = await createTestHelia()
    const node = await createTestNode({
      services: {
        proxy: proxy({ ...FAST_POOL, downstreams: [addressOf(downstream.libp2p).toString()] }),
        bitswapForwarder: bitswapForwarder(),
        preload: proxyPreload({ listen: '/ip4/127.0.0.1/tcp/0' })
      }
    }) as ProxyNode
    nodes.push(node, downstream)
    await waitFor(() => node.services.proxy.pool.healthy().length === 1, 10_000, 'downstream up')

    const response = await httpRequest(node.services.preload.url!, '/api/v0/refs?recursive=true&arg=bafkqaaa')
    expect(response.status).to.equal(200)
    const { refs, errors } = parseLines(response.body)
    expect(refs).to.be.empty()
    expect(errors).to.have.lengthOf(1)
    expect(errors[0]).to.match(/Kubo RPC API/)
    expect(response.trailers['x-stream-error']).to.equal(errors[0])
  })

  it('the proxy\'s endpoint answers bad requests as Kubo does', async () => {
    const downstreams = [await createPreloadHelia()]
    const proxyNode = await startProxy(downstreams)
    nodes.push(proxyNode, ...downstreams)
    const base = proxyNode.services.preload.url!

    const get = await fetch(new URL('/api/v0/refs?arg=bafkqaaa', base))
    expect(get.status).to.equal(405)

    const bad = await fetch(new URL('/api/v0/refs?arg=not-a-cid', base), { method: 'POST' })
    expect(bad.status).to.equal(400)
    const body = await bad.json()
    expect(body).to.include({ Type: 'error', Code: 1 })
    expect(body.Message).to.be.a('string').and.not.equal('')
  })
})
