import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { loadOrCreateKeyFile } from '@kitsune/proxy'
import { createTestHelia, createTestNode, ECHO_PROTOCOL, echoRoundTrip, handleEcho, patternBytes } from '@kitsune/test-support'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { SAMPLE_FILE } from '../src/embedded.ts'
import { BIN, JsonProcess, run, runBinary } from './fixtures.ts'
import type { BaseServices, TestHelia } from '@kitsune/test-support'
import type { Libp2p } from '@libp2p/interface'

function addressOf (node: Libp2p): string {
  return node.getMultiaddrs()[0].toString()
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
      for (const args of [['--help'], ['help'], ['proxy', '--help'], ['get', '--help'], ['help', 'proxy']]) {
        const result = await run(args)
        expect(result.code, args.join(' ')).to.equal(0)
        expect(result.stdout, args.join(' ')).to.match(/^Usage: kitsune/)
      }
      const proxy = await run(['proxy', '--help'])
      for (const flag of ['--key', '--kubo-config', '--listen', '--announce', '--downstream', '--downstream-api', '--route', '--metrics-listen', '--json', '--no-bitswap', '--config']) {
        expect(proxy.stdout).to.include(flag)
      }
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
      }
    })

    it('a bad config file exits 2', async () => {
      const files: Record<string, string> = {
        'not-json.json': '{ listen: ',
        'unknown-key.json': JSON.stringify({ listen: ['/ip4/127.0.0.1/tcp/0'], dowstream: [] }),
        'wrong-type.json': JSON.stringify({ json: 'yes' }),
        'bad-route.json': JSON.stringify({ route: [{ protocols: ['/a/1'], strategy: 'fastest' }] })
      }
      for (const [name, text] of Object.entries(files)) {
        await writeFile(join(dir, name), text)
        const result = await run(['proxy', '--config', join(dir, name)])
        expect(result.code, name).to.equal(2)
        expect(result.stderr, name).to.include(name)
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

      expect(ready).to.have.keys('event', 'peerId', 'multiaddrs', 'downstreams', 'metrics')
      expect(ready.peerId).to.equal(identity.peerId.toString())
      expect(ready.multiaddrs).to.have.lengthOf(2)
      for (const address of ready.multiaddrs) {
        expect(address).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/).and.to.include(`/p2p/${ready.peerId}`)
      }
      expect(ready.multiaddrs.some((a: string) => a.includes('/ws/'))).to.be.true()
      expect(ready.downstreams.map((d: any) => d.peerId).sort()).to.deep.equal(downstreams.map(n => n.peerId.toString()).sort())
      expect(ready.downstreams.map((d: any) => d.status)).to.deep.equal(['up', 'up'])
      expect(ready.metrics).to.be.null()
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
      const child = spawn(process.execPath, [BIN, 'proxy', '--key', join(dir, 'proxy.key'), '--downstream', addressOf(downstreams[0]), '--route', 'dht=hash'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      child.stdout.setEncoding('utf8')
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          stdout += chunk
          if (/^ready$/m.test(stdout)) {
            resolve()
          }
        })
        child.on('exit', () => { reject(new Error(`exited early: ${stdout}`)) })
      })
      expect(stdout).to.include(`identity     created ${join(dir, 'proxy.key')}`)
      expect(stdout).to.include('route        /ipfs/kad/1.0.0 -> hash')
      expect(stdout).to.match(/^listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/m)
      expect(stdout).to.include(`downstream   ${downstreams[0].peerId.toString()} up`)
      const exited = new Promise(resolve => { child.once('exit', resolve) })
      child.kill('SIGTERM')
      expect(await exited).to.equal(0)
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

  describe('embedded mode', () => {
    it('starts two Helia downstreams with a sample file, and `kitsune get` fetches it through the proxy byte for byte', async () => {
      const proc = start(['proxy', '--json'], { cwd: dir })
      const ready = await proc.event('ready')
      expect(ready.downstreams).to.have.lengthOf(2)
      expect(ready.downstreams.map((d: any) => d.status)).to.deep.equal(['up', 'up'])
      for (const address of ready.multiaddrs) {
        expect(address).to.match(/^\/ip4\/127\.0\.0\.1\//)
      }

      const embedded = await proc.event('embedded')
      expect(embedded.peer).to.equal(ready.multiaddrs.find((a: string) => !a.includes('/ws')))
      expect(embedded.size).to.equal(SAMPLE_FILE.byteLength)
      expect(embedded.command).to.include(`get ${embedded.cid} --peer ${embedded.peer}`)
      // embedded mode writes no key file
      expect(await readdir(dir)).to.deep.equal([])

      // the downstreams hold the sample (this part does not need the proxy)
      const direct = await runBinary(['get', embedded.cid, '--peer', ready.downstreams[0].source, '--timeout', '10000'])
      expect(direct.code, direct.stderr).to.equal(0)
      expect(direct.stdout.equals(Buffer.from(SAMPLE_FILE))).to.be.true()

      // through the proxy: needs the Bitswap forwarder
      const result = await runBinary(['get', embedded.cid, '--peer', embedded.peer, '--timeout', '15000'])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout.equals(Buffer.from(SAMPLE_FILE))).to.be.true()

      expect((await proc.stop()).code).to.equal(0)
    })
  })
})
