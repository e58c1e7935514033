import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { loadOrCreateKeyFile } from '@kitsune/proxy'
import { createTestHelia, createTestNode, ECHO_PROTOCOL, echoRoundTrip, handleEcho, patternBytes } from '@kitsune/test-support'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { create as createKuboClient } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { COMMANDS } from '../src/commands.ts'
import { SAMPLE_FILE } from '../src/embedded.ts'
import { JsonProcess, readBlock, run, runBinary, startHuman } from './fixtures.ts'
import type { BaseServices, TestHelia } from '@kitsune/test-support'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

const LAN_DHT = '/ipfs/lan/kad/1.0.0'

function addressOf (node: Libp2p): string {
  return node.getMultiaddrs()[0].toString()
}

/**
 * Every block a dag-pb DAG links to, below its root, found by decoding the
 * blocks in `helia` (which holds the whole DAG)
 */
async function dagPbRefs (helia: TestHelia, root: CID): Promise<string[]> {
  const refs: string[] = []
  const queue = [root]
  for (let cid = queue.shift(); cid != null; cid = queue.shift()) {
    if (cid.code !== dagPb.code) {
      continue
    }
    for (const link of dagPb.decode(await readBlock(helia, cid)).Links) {
      refs.push(link.Hash.toString())
      queue.push(link.Hash)
    }
  }
  return refs
}

/**
 * Puts a dag-cbor DAG into `helia`: a root linking to `count` dag-cbor
 * nodes, each linking to a raw leaf. Returns the root, every block below
 * it, and all blocks' bytes.
 */
async function putCborDag (helia: TestHelia, count: number, seed: number): Promise<{ root: CID, refs: string[], blocks: Map<string, Uint8Array> }> {
  const blocks = new Map<string, Uint8Array>()
  const put = async (bytes: Uint8Array, code: number): Promise<CID> => {
    const cid = CID.createV1(code, await sha256.digest(bytes))
    await helia.blockstore.put(cid, bytes)
    blocks.set(cid.toString(), bytes)
    return cid
  }
  const children: CID[] = []
  for (let i = 0; i < count; i++) {
    const leaf = await put(patternBytes(3000 + i, seed + i), raw.code)
    children.push(await put(dagCbor.encode({ index: i, leaf }), dagCbor.code))
  }
  const root = await put(dagCbor.encode({ name: 'kitsune preload test', children }), dagCbor.code)
  return { root, refs: [...blocks.keys()].filter(cid => cid !== root.toString()), blocks }
}

/**
 * Asks a preload endpoint for a recursive refs with the real client, and
 * returns the refs; any error line fails
 */
async function preloadRefs (api: string, cid: CID): Promise<string[]> {
  const client = createKuboClient({ url: api })
  const refs: string[] = []
  for await (const line of client.refs(cid, { recursive: true, timeout: 30_000 })) {
    expect(line.err, `error line for ${cid}`).to.not.be.ok()
    refs.push(line.ref)
  }
  return refs
}

/**
 * A whole UnixFS file, or a failure after `timeout` ms
 */
async function catFile (helia: TestHelia, cid: CID, timeout: number): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of unixfs(helia).cat(cid, { signal: AbortSignal.timeout(timeout) })) {
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * A stock Helia client connected only to `peer`
 */
async function clientOf (peer: string): Promise<TestHelia> {
  const client = await createTestHelia()
  await client.libp2p.dial(multiaddr(peer))
  return client
}

/**
 * 1.5 MiB in 16 KiB chunks, 8 links a node: 96 leaves under a three-level tree
 */
const FILE_OPTIONS = { chunker: fixedSize({ chunkSize: 16 * 1024 }), layout: balanced({ maxChildrenPerNode: 8 }) }

/**
 * Issue 4's scenario: a stock Helia client connected only to `via` adds a
 * multi-block UnixFS file and a dag-cbor DAG, asks the preload endpoint at
 * `api` for each with `kubo-rpc-client` and gets every block's ref; then the
 * client goes away, and a new client connected only to `servedBy` fetches
 * both, byte for byte. Clients are pushed to `nodes` to be stopped.
 */
async function expectPreloaded (api: string, via: string, servedBy: string, nodes: Array<{ stop(): unknown }>, seed: number): Promise<void> {
  const client = await clientOf(via)
  nodes.push(client)
  const content = patternBytes(1536 * 1024, seed)
  const file = await unixfs(client).addBytes(content, FILE_OPTIONS)
  const fileRefs = await dagPbRefs(client, file)
  expect(fileRefs.length).to.be.greaterThan(96, 'a multi-level DAG')
  const cbor = await putCborDag(client, 4, seed + 10)
  expect(cbor.refs).to.have.lengthOf(8)

  // the real client: every block below each root, each once
  const gotFile = await preloadRefs(api, file)
  expect(gotFile).to.have.lengthOf(fileRefs.length)
  expect(new Set(gotFile)).to.deep.equal(new Set(fileRefs))
  const gotCbor = await preloadRefs(api, cbor.root)
  expect(gotCbor).to.have.lengthOf(cbor.refs.length)
  expect(new Set(gotCbor)).to.deep.equal(new Set(cbor.refs))

  // the client that had the content goes away; a new one gets it
  await client.stop()
  const later = await clientOf(servedBy)
  nodes.push(later)
  expect((await catFile(later, file, 20_000)).equals(Buffer.from(content))).to.be.true()
  for (const [cid, bytes] of cbor.blocks) {
    expect((await readBlock(later, CID.parse(cid))).equals(Buffer.from(bytes)), cid).to.be.true()
  }
}

describe('kitsune', function () {
  this.timeout(60_000)

  let dir: string
  const processes: JsonProcess[] = []
  const nodes: Array<{ stop(): unknown }> = []

  const start = (args: string[], options?: { cwd?: string }): JsonProcess => {
    const proc = new JsonProcess(args, options)
    processes.push(proc)
    return proc
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kitsune-cli-'))
  })

  afterEach(async () => {
    processes.splice(0).forEach(proc => { proc.kill() })
    await Promise.allSettled(nodes.splice(0).map(async node => { await node.stop() }))
    await rm(dir, { recursive: true, force: true })
  })

  describe('usage', () => {
    it('--help exits 0 with usage, for every command', async () => {
      for (const args of [['--help'], ['help'], ['proxy', '--help'], ['node', '--help'], ['get', '--help'], ['help', 'proxy'], ['help', 'node']]) {
        const result = await run(args)
        expect(result.code, args.join(' ')).to.equal(0)
        expect(result.stdout, args.join(' ')).to.match(/^Usage: kitsune/)
      }
      const proxy = await run(['proxy', '--help'])
      for (const flag of ['--key', '--kubo-config', '--listen', '--announce', '--downstream', '--downstream-api', '--route', '--metrics-listen', '--json', '--no-bitswap', '--config', '--preload-listen']) {
        expect(proxy.stdout).to.include(flag)
      }
      const node = await run(['help', 'node'])
      expect(node.stdout).to.match(/^Usage: kitsune node/)
      for (const flag of ['--listen', '--api-listen', '--blockstore', '--key', '--metrics-listen', '--json', '--config']) {
        expect(node.stdout).to.include(flag)
      }
      expect((await run(['node', '--help'])).stdout).to.equal(node.stdout)
      expect((await run(['--help'])).stdout).to.match(/^ {2}node /m)
    })

    it('a bad flag exits 2 with a one-line reason and a --help hint', async () => {
      const result = await run(['proxy', '--listne', '/ip4/127.0.0.1/tcp/0'])
      expect(result.code).to.equal(2)
      expect(result.stderr.trim().split('\n')).to.have.lengthOf(1)
      expect(result.stderr).to.include('--listne').and.to.include('kitsune proxy --help')
      expect(result.stdout).to.equal('')
    })

    it('bad values exit 2', async () => {
      const cases = [
        ['proxy', '--downstream', '/ip4/127.0.0.1/tcp/4001'],
        ['proxy', '--listen', 'not-a-multiaddr'],
        ['proxy', '--route', '/x/1.0.0=fastest'],
        ['proxy', '--route', '/ipfs/bitswap/1.2.0'],
        ['proxy', '--metrics-listen', '/ip4/127.0.0.1/udp/9090'],
        ['proxy', '--key', 'a.key', '--kubo-config', 'config'],
        ['proxy', 'extra'],
        ['proxy', '--preload-listen', 'not-an-address'],
        ['proxy', '--preload-listen', '/ip4/127.0.0.1/udp/5001'],
        ['proxy', '--preload-listen', 'http://127.0.0.1:5001/api'],
        ['proxy', '--no-bitswap', '--preload-listen', '/ip4/127.0.0.1/tcp/0'],
        ['node', '--listen', 'not-a-multiaddr'],
        ['node', '--api-listen', 'ftp://127.0.0.1:5001'],
        ['node', '--metrics-listen', '/ip4/127.0.0.1/udp/9090'],
        ['node', '--downstream', '/ip4/127.0.0.1/tcp/1'],
        ['node', 'extra'],
        ['get', 'not-a-cid', '--peer', '/ip4/127.0.0.1/tcp/1'],
        ['get', 'bafkqaaa'],
        ['get', 'bafkqaaa', '--peer', '/ip4/127.0.0.1/tcp/1', '--timeout', 'soon'],
        ['frobnicate'],
        []
      ]
      for (const args of cases) {
        const result = await run(args)
        expect(result.code, args.join(' ')).to.equal(2)
        expect(result.stderr.trim().split('\n'), args.join(' ')).to.have.lengthOf(1)
        expect(result.stderr, args.join(' ')).to.match(/--help\)$/m)
        if (args[0] === 'node') {
          expect(result.stderr, args.join(' ')).to.match(/^kitsune node: .*\(see kitsune node --help\)\n$/)
        }
      }
      const unknown = await run(['frobnicate'])
      expect(unknown.stderr).to.include(`known: ${Object.keys(COMMANDS).join(', ')}, help`)
    })

    it('a bad config file exits 2', async () => {
      const files: Record<string, string> = {
        'not-json.json': '{ listen: ',
        'unknown-key.json': JSON.stringify({ listen: ['/ip4/127.0.0.1/tcp/0'], dowstream: [] }),
        'wrong-type.json': JSON.stringify({ json: 'yes' }),
        'bad-route.json': JSON.stringify({ route: [{ protocols: ['/a/1'], strategy: 'fastest' }] }),
        'bad-preload-limit.json': JSON.stringify({ preload: { rateLimit: 'lots' } }),
        'bad-preload-key.json': JSON.stringify({ preload: { listen: '/ip4/127.0.0.1/tcp/0' } }),
        'bad-preload-cors.json': JSON.stringify({ preload: { cors: true } }),
        'bad-preload-listen.json': JSON.stringify({ preloadListen: 5001 }),
        'preload-without-bitswap.json': JSON.stringify({ bitswap: false, preloadListen: '/ip4/127.0.0.1/tcp/0' })
      }
      for (const [name, text] of Object.entries(files)) {
        await writeFile(join(dir, name), text)
        const result = await run(['proxy', '--config', join(dir, name)])
        expect(result.code, name).to.equal(2)
        expect(result.stderr, name).to.include(name)
      }
      const nodeFiles: Record<string, string> = {
        'node-proxy-key.json': JSON.stringify({ downstream: [] }),
        'node-wrong-type.json': JSON.stringify({ blockstore: true }),
        'node-bad-preload.json': JSON.stringify({ preload: { maxDagBytes: -1 } }),
        'node-proxy-preload-key.json': JSON.stringify({ preload: { strategy: 'hash' } })
      }
      for (const [name, text] of Object.entries(nodeFiles)) {
        await writeFile(join(dir, name), text)
        const result = await run(['node', '--config', join(dir, name)])
        expect(result.code, name).to.equal(2)
        expect(result.stderr, name).to.include(name).and.to.include('kitsune node --help')
      }
      const missing = await run(['proxy', '--config', join(dir, 'missing.json')])
      expect(missing.code).to.equal(2)
      expect(missing.stderr).to.include('missing.json').and.to.include('ENOENT')
    })

    it('an unreadable key exits 1 with the path and the reason', async () => {
      const keyDir = join(dir, 'a-directory.key')
      await mkdir(keyDir)
      const result = await run(['proxy', '--key', keyDir, '--downstream', '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWEHbRePmYWRdryRrGkPPRhWdvKGhaHUiZEYyQ7o3y6EVb'])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.include(keyDir).and.to.include('EISDIR')

      const garbage = join(dir, 'garbage.key')
      await writeFile(garbage, 'not a key', { mode: 0o600 })
      const result2 = await run(['proxy', '--key', garbage, '--json'])
      expect(result2.code).to.equal(1)
      expect(result2.stderr).to.include(garbage).and.to.include('not a libp2p protobuf private key')
      // --json also reports it on stdout, as JSON
      expect(JSON.parse(result2.stdout.trim().split('\n').at(-1) ?? '')).to.have.property('event', 'error')
    })
  })

  describe('proxy --json', () => {
    let downstreams: Array<Libp2p<BaseServices>>

    beforeEach(async () => {
      downstreams = await Promise.all([createTestNode(), createTestNode()])
      for (const node of downstreams) {
        await handleEcho(node)
        nodes.push(node)
      }
    })

    it('prints one ready line with the identity, addresses and downstreams, bridges routes, and exits 0 on SIGTERM', async () => {
      const key = join(dir, 'proxy.key')
      const proc = start(['proxy', '--json', '--key', key,
        '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws',
        ...downstreams.flatMap(node => ['--downstream', addressOf(node)]),
        '--route', `${ECHO_PROTOCOL}=least-outstanding`])

      const ready = await proc.event('ready')
      const identity = await loadOrCreateKeyFile(key)
      expect(identity.created).to.be.false()
      expect((await stat(key)).mode & 0o777).to.equal(0o600)

      expect(ready).to.have.keys('event', 'peerId', 'multiaddrs', 'downstreams', 'metrics', 'preload')
      expect(ready.peerId).to.equal(identity.peerId.toString())
      expect(ready.multiaddrs).to.have.lengthOf(2)
      for (const address of ready.multiaddrs) {
        expect(address).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/).and.to.include(`/p2p/${ready.peerId}`)
      }
      expect(ready.multiaddrs.some((a: string) => a.includes('/ws/'))).to.be.true()
      expect(ready.downstreams.map((d: any) => d.peerId).sort()).to.deep.equal(downstreams.map(n => n.peerId.toString()).sort())
      expect(ready.downstreams.map((d: any) => d.status)).to.deep.equal(['up', 'up'])
      expect(ready.metrics).to.be.null()
      expect(ready.preload).to.be.null()
      expect(proc.events[0]).to.equal(ready, 'ready is the first line')

      // a routed protocol goes through to a downstream, under the proxy's identity
      const client = await createTestNode()
      nodes.push(client)
      const payload = patternBytes(256 * 1024, 5)
      const stream = await client.dialProtocol(multiaddr(ready.multiaddrs[0]), ECHO_PROTOCOL)
      const echoed = await echoRoundTrip(stream, payload)
      expect(Buffer.from(echoed).equals(Buffer.from(payload))).to.be.true()
      expect(client.getConnections()[0].remotePeer.toString()).to.equal(ready.peerId)

      // a downstream that goes away is an event line
      await downstreams[1].stop()
      const down = await proc.next(event => event.event === 'downstream:down')
      expect(down.peerId).to.equal(downstreams[1].peerId.toString())

      const exit = await proc.stop('SIGTERM')
      expect(exit.code).to.equal(0)
      expect(proc.events.at(-1)).to.deep.equal({ event: 'stopped' })
      expect(proc.stderr).to.equal('')
    })

    it('reports an unreachable downstream as down in the ready line, and SIGINT exits 0', async () => {
      const gone = await createTestNode()
      const goneAddress = addressOf(gone)
      await gone.stop()

      await writeFile(join(dir, 'kitsune.json'), JSON.stringify({
        json: true,
        key: 'relative.key',
        listen: ['/ip4/127.0.0.1/tcp/0'],
        downstream: [addressOf(downstreams[0]), goneAddress],
        pool: { dialTimeout: 2000 }
      }))
      const proc = start(['proxy', '--config', join(dir, 'kitsune.json')])
      const ready = await proc.event('ready')
      const byId = Object.fromEntries(ready.downstreams.map((d: any) => [d.peerId, d.status]))
      expect(byId).to.deep.equal({
        [downstreams[0].peerId.toString()]: 'up',
        [gone.peerId.toString()]: 'down'
      })
      // the config file's relative key path is relative to the file
      expect((await loadOrCreateKeyFile(join(dir, 'relative.key'))).peerId.toString()).to.equal(ready.peerId)

      const exit = await proc.stop('SIGINT')
      expect(exit.code).to.equal(0)
    })

    it('flags win over the config file', async () => {
      await writeFile(join(dir, 'kitsune.json'), JSON.stringify({
        json: false,
        listen: ['/ip4/127.0.0.1/tcp/1'],
        downstream: [addressOf(downstreams[0])]
      }))
      const proc = start(['proxy', '--config', join(dir, 'kitsune.json'), '--json', '--key', join(dir, 'k'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-bitswap'])
      const ready = await proc.event('ready')
      expect(ready.multiaddrs[0]).to.not.match(/\/tcp\/1\//)
      expect(ready.downstreams).to.have.lengthOf(1)
      expect((await proc.stop()).code).to.equal(0)
    })

    it('prints human lines without --json', async () => {
      const proc = await startHuman(['proxy', '--key', join(dir, 'proxy.key'), '--downstream', addressOf(downstreams[0]), '--route', 'dht=hash'])
      expect(proc.stdout).to.include(`identity     created ${join(dir, 'proxy.key')}`)
      expect(proc.stdout).to.include('route        /ipfs/kad/1.0.0, /ipfs/lan/kad/1.0.0 -> hash')
      expect(proc.stdout).to.match(/^listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/m)
      expect(proc.stdout).to.include(`downstream   ${downstreams[0].peerId.toString()} up`)
      expect(proc.stdout).to.not.include('preload')
      const { code, stdout } = await proc.stop('SIGTERM')
      expect(code).to.equal(0)
      expect(stdout).to.match(/stopped\n$/)
    })

    it('takes the identity from a Kubo config, and reports warnings after the ready line', async () => {
      const keyFile = join(dir, 'exported.key')
      const identity = await loadOrCreateKeyFile(keyFile)
      const kuboConfig = join(dir, 'config')
      await writeFile(kuboConfig, JSON.stringify({
        Identity: { PeerID: identity.peerId.toString(), PrivKey: (await readFile(keyFile)).toString('base64') }
      }), { mode: 0o644 })

      const proc = start(['proxy', '--json', '--kubo-config', kuboConfig, '--downstream', addressOf(downstreams[0])])
      const ready = await proc.event('ready')
      expect(proc.events[0]).to.equal(ready)
      expect(ready.peerId).to.equal(identity.peerId.toString())
      const warning = await proc.event('warning')
      expect(warning.message).to.include(kuboConfig).and.to.include('readable by other users')
      expect((await proc.stop()).code).to.equal(0)
    })

    it('serves Prometheus text with kitsune_proxy_ metrics', async () => {
      const proc = start(['proxy', '--json', '--key', join(dir, 'proxy.key'),
        '--downstream', addressOf(downstreams[0]),
        '--route', ECHO_PROTOCOL,
        '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
      const ready = await proc.event('ready')
      expect(ready.metrics).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)

      const response = await fetch(ready.metrics)
      expect(response.status).to.equal(200)
      expect(response.headers.get('content-type')).to.include('text/plain')
      const text = await response.text()
      expect(text).to.match(/^kitsune_proxy_upstream_peers \d+$/m)
      expect(text).to.match(/^kitsune_proxy_downstreams\{status="up"\} 1$/m)
      // the Bitswap forwarder's metrics land in the same registry
      expect(text).to.match(/^kitsune_bitswap_\w+/m)

      expect((await fetch(new URL('/other', ready.metrics))).status).to.equal(404)
      expect((await proc.stop()).code).to.equal(0)
    })
  })

  describe('get', () => {
    let helia: TestHelia

    beforeEach(async () => {
      helia = await createTestHelia()
      nodes.push(helia)
    })

    it('fetches a multi-block UnixFS file from one peer, byte for byte, to stdout and to a file', async () => {
      const content = patternBytes(600 * 1024, 11)
      const cid = await unixfs(helia).addBytes(content)
      const peer = addressOf(helia.libp2p)

      const toStdout = await runBinary(['get', cid.toString(), '--peer', peer, '--timeout', '20000'])
      expect(toStdout.code, toStdout.stderr).to.equal(0)
      expect(toStdout.stdout.equals(Buffer.from(content))).to.be.true()

      const file = join(dir, 'out.bin')
      const toFile = await run(['get', cid.toString(), '--peer', peer, '--output', file])
      expect(toFile.code, toFile.stderr).to.equal(0)
      expect((await readFile(file)).equals(Buffer.from(content))).to.be.true()
    })

    it('exits 1 with a clear message when the peer does not have the file in time', async () => {
      // a raw block nobody holds
      const cid = CID.createV1(raw.code, await sha256.digest(patternBytes(100, 1)))
      const file = join(dir, 'never.bin')
      const result = await run(['get', cid.toString(), '--peer', addressOf(helia.libp2p), '--timeout', '1500', '--output', file])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.include('timed out after 1500 ms')
      await expect(stat(file)).to.eventually.be.rejected()
    })

    it('exits 1 when the peer cannot be reached', async () => {
      const gone = await createTestNode()
      const address = addressOf(gone)
      await gone.stop()
      const result = await run(['get', 'bafkqaaa', '--peer', address, '--timeout', '5000'])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.include('cannot connect to')
    })

    it('exits 1 when the output file cannot be written', async () => {
      const result = await run(['get', 'bafkqaaa', '--peer', addressOf(helia.libp2p), '--output', join(dir, 'no', 'such', 'dir.bin')])
      expect(result.code).to.equal(1)
      expect(result.stderr).to.include('ENOENT')
    })
  })

  describe('node', () => {
    const startNode = (...args: string[]): JsonProcess => start(['node', '--json', '--api-listen', '/ip4/127.0.0.1/tcp/0', ...args])

    it('prints one ready line with its peer id, addresses and API, answers /api/v0/id, and exits 0 on SIGTERM', async () => {
      const proc = startNode('--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws')
      const ready = await proc.event('ready')
      expect(proc.events[0]).to.equal(ready, 'ready is the first line')
      expect(ready).to.have.keys('event', 'peerId', 'multiaddrs', 'api', 'metrics')
      expect(ready.peerId).to.match(/^12D3KooW/)
      expect(ready.multiaddrs).to.have.lengthOf(2)
      for (const address of ready.multiaddrs) {
        expect(address).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/).and.to.include(`/p2p/${ready.peerId}`)
      }
      expect(ready.multiaddrs.some((a: string) => a.includes('/ws/'))).to.be.true()
      expect(ready.api).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(ready.metrics).to.be.null()

      const response = await fetch(`${ready.api}/api/v0/id`, { method: 'POST' })
      expect(response.status).to.equal(200)
      const id = await response.json()
      expect(id.ID).to.equal(ready.peerId)
      expect(id.Addresses).to.include.members(ready.multiaddrs)

      // reachable over libp2p, and it speaks Bitswap
      const client = await clientOf(ready.multiaddrs[0])
      nodes.push(client)
      expect(client.libp2p.getConnections()[0].remotePeer.toString()).to.equal(ready.peerId)

      const exit = await proc.stop('SIGTERM')
      expect(exit.code).to.equal(0)
      expect(proc.events.at(-1)).to.deep.equal({ event: 'stopped' })
      expect(proc.stderr).to.equal('')
    })

    it('prints human lines without --json: identity, blockstore, API and a preload command', async () => {
      const proc = await startHuman(['node', '--api-listen', 'http://127.0.0.1:0', '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
      expect(proc.stdout).to.include('identity     ephemeral')
      expect(proc.stdout).to.include('blockstore   in memory')
      expect(proc.stdout).to.match(/^listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/m)
      const api = /^api {10}(http:\/\/127\.0\.0\.1:\d+)$/m.exec(proc.stdout)?.[1]
      expect(api, proc.stdout).to.be.a('string')
      expect(proc.stdout).to.include(`curl -X POST "${api}/api/v0/refs?arg=<cid>&recursive=true"`)
      const metrics = /^metrics {6}(\S+)$/m.exec(proc.stdout)?.[1]
      expect(metrics, proc.stdout).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      expect((await fetch(metrics ?? '')).status).to.equal(200)
      const { code, stdout } = await proc.stop('SIGINT')
      expect(code).to.equal(0)
      expect(stdout).to.match(/stopped\n$/)
    })

    it('preloads a multi-block UnixFS file and a dag-cbor DAG from a stock Helia client, and serves them once the client is gone', async () => {
      const proc = startNode()
      const ready = await proc.event('ready')

      await expectPreloaded(ready.api, ready.multiaddrs[0], ready.multiaddrs[0], nodes, 21)
      expect((await proc.stop()).code).to.equal(0)
    })

    it('--dht serves the public and the LAN DHT; through `kitsune proxy --route dht` a LAN DHT client finds a peer only the node knows', async () => {
      const proc = startNode('--dht')
      const ready = await proc.event('ready')
      // kad-dht needs the ping service, which every test node has
      const lanDht = (clientMode: boolean): ReturnType<typeof kadDHT> => kadDHT({ clientMode, protocol: LAN_DHT, peerInfoMapper: passthroughMapper })

      // a peer that only the node learns of
      const target = await createTestNode({ services: { dht: lanDht(false) as any } })
      nodes.push(target)
      const identified = new Promise<string[]>(resolve => {
        target.addEventListener('peer:identify', (event) => {
          if (event.detail.peerId.toString() === ready.peerId) {
            resolve(event.detail.protocols)
          }
        })
      })
      await target.dial(multiaddr(ready.multiaddrs[0]))
      expect(await identified).to.include.members(['/ipfs/kad/1.0.0', LAN_DHT])

      const proxyProc = start(['proxy', '--json', '--key', join(dir, 'proxy.key'), '--no-bitswap', '--downstream', ready.multiaddrs[0], '--route', 'dht'])
      const proxyReady = await proxyProc.event('ready')
      expect(proxyReady.downstreams[0].status).to.equal('up')

      const client = await createTestNode({ services: { dht: lanDht(true) as any } }) as Libp2p<{ dht: KadDHT }>
      nodes.push(client)
      await client.dial(multiaddr(proxyReady.multiaddrs[0]))
      // until both routing tables have filled (identify runs on each side)
      // a query may find nobody to ask: ask again until the deadline
      const deadline = Date.now() + 20_000
      let found: string | undefined
      const fromProxy: string[] = []
      while (found == null && Date.now() < deadline) {
        try {
          for await (const event of client.services.dht.findPeer(target.peerId, { signal: AbortSignal.timeout(5_000) })) {
            if (event.name === 'PEER_RESPONSE' && event.from.toString() === proxyReady.peerId) {
              fromProxy.push(...event.closer.map(peer => peer.id.toString()))
            }
            if (event.name === 'FINAL_PEER') {
              found = event.peer.id.toString()
            }
          }
        } catch {}
      }
      expect(found).to.equal(target.peerId.toString())
      // the client knew only the proxy: the answer that named the target
      // came through it, from the node's DHT
      expect(fromProxy, 'the proxy answered with what only the node knows').to.include(target.peerId.toString())
      expect((await proxyProc.stop()).code).to.equal(0)
      expect((await proc.stop()).code).to.equal(0)
    })

    it('--blockstore keeps blocks across a restart, and --key the peer id', async () => {
      const blocks = join(dir, 'blocks')
      const key = join(dir, 'node.key')
      const first = startNode('--blockstore', blocks, '--key', key)
      const ready = await first.event('ready')
      expect((await loadOrCreateKeyFile(key)).peerId.toString()).to.equal(ready.peerId)

      const client = await clientOf(ready.multiaddrs[0])
      nodes.push(client)
      const content = patternBytes(300 * 1024, 41)
      const cid = await unixfs(client).addBytes(content, { chunker: fixedSize({ chunkSize: 64 * 1024 }) })

      // the js-ipfs preload call: post, drain
      const response = await fetch(`${ready.api}/api/v0/refs?arg=${cid}&recursive=true`, { method: 'POST' })
      expect(response.status).to.equal(200)
      const lines = (await response.text()).trim().split('\n').map(line => JSON.parse(line))
      expect(lines).to.have.lengthOf(5)
      expect(lines.every(line => line.Err === '')).to.be.true()
      await client.stop()
      expect((await first.stop()).code).to.equal(0)
      expect(await readdir(blocks)).to.not.be.empty()

      const second = startNode('--blockstore', blocks, '--key', key)
      const again = await second.event('ready')
      expect(again.peerId).to.equal(ready.peerId)
      const later = await clientOf(again.multiaddrs[0])
      nodes.push(later)
      const fetched = await catFile(later, cid, 10_000)
      expect(fetched.equals(Buffer.from(content))).to.be.true()
      expect((await second.stop()).code).to.equal(0)
    })
  })

  describe('proxy preload mode', () => {
    it('--preload-listen: the ready line carries the endpoint; a client\'s file and dag-cbor DAG are preloaded through it onto a kitsune node, which serves them once the client is gone', async () => {
      const node = start(['node', '--json', '--api-listen', '/ip4/127.0.0.1/tcp/0'])
      const nodeReady = await node.event('ready')
      const proc = start(['proxy', '--json', '--key', join(dir, 'proxy.key'), '--listen', '/ip4/127.0.0.1/tcp/0',
        '--preload-listen', '/ip4/127.0.0.1/tcp/0', '--downstream-api', nodeReady.api])
      const ready = await proc.event('ready')
      expect(ready).to.have.keys('event', 'peerId', 'multiaddrs', 'downstreams', 'metrics', 'preload')
      expect(ready.preload).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(ready.downstreams).to.deep.equal([{ peerId: nodeReady.peerId, status: 'up', source: nodeReady.api }])
      // the endpoint answers like Kubo: GET is not allowed
      expect((await fetch(`${ready.preload}/api/v0/refs?arg=bafkqaaa`)).status).to.equal(405)

      // the client is connected only to the proxy; a 200 meant persisted, so
      // the downstream serves both, directly
      await expectPreloaded(ready.preload, ready.multiaddrs[0], nodeReady.multiaddrs[0], nodes, 51)

      expect((await proc.stop()).code).to.equal(0)
      expect((await node.stop()).code).to.equal(0)
    })
  })

  describe('embedded mode', () => {
    it('starts two Helia downstreams with a sample file, and `kitsune get` fetches it through the proxy byte for byte', async () => {
      const proc = start(['proxy', '--json'], { cwd: dir })
      const ready = await proc.event('ready')
      expect(ready.downstreams).to.have.lengthOf(2)
      expect(ready.downstreams.map((d: any) => d.status)).to.deep.equal(['up', 'up'])
      for (const address of ready.multiaddrs) {
        expect(address).to.match(/^\/ip4\/127\.0\.0\.1\//)
      }
      // preload mode is on, on loopback, and the downstreams came from their APIs
      expect(ready.preload).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
      const apis: string[] = ready.downstreams.map((d: any) => d.source)
      for (const api of apis) {
        expect(api).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
      }
      const ids = await Promise.all(apis.map(async api => (await fetch(`${api}/api/v0/id`, { method: 'POST' })).json()))
      expect(ids.map(id => id.ID)).to.deep.equal(ready.downstreams.map((d: any) => d.peerId))

      const embedded = await proc.event('embedded')
      expect(embedded.peer).to.equal(ready.multiaddrs.find((a: string) => !a.includes('/ws')))
      expect(embedded.size).to.equal(SAMPLE_FILE.byteLength)
      expect(embedded.command).to.include(`get ${embedded.cid} --peer ${embedded.peer}`)
      expect(embedded.preload).to.equal(ready.preload)
      expect(embedded.preloadCommand).to.equal(`curl -X POST "${ready.preload}/api/v0/refs?arg=<cid>&recursive=true"`)
      // embedded mode writes no key file
      expect(await readdir(dir)).to.deep.equal([])

      // the downstreams hold the sample (this part does not need the proxy)
      const downstream = ids[0].Addresses.find((a: string) => a.startsWith('/ip4/127.0.0.1/tcp/'))
      const direct = await runBinary(['get', embedded.cid, '--peer', downstream, '--timeout', '10000'])
      expect(direct.code, direct.stderr).to.equal(0)
      expect(direct.stdout.equals(Buffer.from(SAMPLE_FILE))).to.be.true()

      // through the proxy: needs the Bitswap forwarder
      const result = await runBinary(['get', embedded.cid, '--peer', embedded.peer, '--timeout', '15000'])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout.equals(Buffer.from(SAMPLE_FILE))).to.be.true()

      expect((await proc.stop()).code).to.equal(0)
    })

    it('preloads content a client added through the proxy onto an embedded downstream', async () => {
      const proc = start(['proxy', '--json'], { cwd: dir })
      const ready = await proc.event('ready')
      const client = await clientOf(ready.multiaddrs[0])
      nodes.push(client)
      const content = patternBytes(200 * 1024, 71)
      const cid = await unixfs(client).addBytes(content, { chunker: fixedSize({ chunkSize: 32 * 1024 }) })

      const refs = await preloadRefs(ready.preload, cid)
      expect(new Set(refs)).to.deep.equal(new Set(await dagPbRefs(client, cid)))
      await client.stop()

      // a downstream now holds it: a new client gets it through the proxy
      const later = await clientOf(ready.multiaddrs[0])
      nodes.push(later)
      expect((await catFile(later, cid, 10_000)).equals(Buffer.from(content))).to.be.true()

      expect((await proc.stop()).code).to.equal(0)
    })

    it('prints the preload endpoint and a curl command for humans', async () => {
      const proc = await startHuman(['proxy'])
      expect(proc.stdout).to.match(/^preload {6}http:\/\/127\.0\.0\.1:\d+$/m)
      const stopped = await proc.stop()
      expect(stopped.code).to.equal(0)
      expect(stopped.stdout).to.match(/^ {2}preload http:\/\/127\.0\.0\.1:\d+$/m)
      expect(stopped.stdout).to.match(/^ {2}curl -X POST "http:\/\/127\.0\.0\.1:\d+\/api\/v0\/refs\?arg=<cid>&recursive=true"$/m)
    })
  })
})
