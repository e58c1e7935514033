import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { main, SAMPLE_FILE } from '../src/index.js'

const run = promisify(execFile)
const entry = fileURLToPath(new URL('../src/index.js', import.meta.url))

describe('proxy-in-code example', () => {
  let dir
  let keyFile
  let lines
  let result

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kitsune-example-'))
    keyFile = join(dir, 'proxy.key')
    lines = []
    result = await main({ keyFile, log: line => { lines.push(line) } })
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('gets answers from both downstreams', () => {
    assert.equal(result.answers.length, 4)
    const labels = new Set(result.answers.map(a => a.downstream))
    assert.deepEqual([...labels].sort(), ['helia-1', 'helia-2'])
    // least-outstanding with every conversation held open alternates
    assert.deepEqual(result.answers.map(a => a.downstream), ['helia-1', 'helia-2', 'helia-1', 'helia-2'])
    assert.ok(lines.includes('answers came from 2 downstream(s): helia-1, helia-2'), lines.join('\n'))
  })

  it('fetches a UnixFS file through the proxy with a stock Helia client', () => {
    assert.equal(result.fetched.identical, true)
    assert.equal(result.fetched.bytes, SAMPLE_FILE.byteLength)
    assert.ok(lines.includes(`both downstreams hold ${result.fetched.cid} (${SAMPLE_FILE.byteLength} bytes)`), lines.join('\n'))
    assert.ok(lines.some(line => line.startsWith(`client fetched ${result.fetched.cid} through the proxy: ${SAMPLE_FILE.byteLength} bytes, identical`)))
    // a file of several blocks, so the forwarder carried more than one want
    assert.match(result.fetched.cid, /^bafybei/)
    const forwarded = lines.find(line => line.startsWith('forwarder: '))?.match(/^forwarder: (\d+) wants forwarded/)?.[1]
    assert.ok(Number(forwarded) > 1, `forwarded ${forwarded} wants`)
  })

  it('lets the client see the proxy and nothing behind it', () => {
    assert.deepEqual(result.peersSeenByClient, [result.proxyPeerId])

    for (const downstream of result.downstreams) {
      assert.notEqual(downstream.peerId, result.proxyPeerId)
      assert.ok(!lines.some(line => line.startsWith('client') && line.includes(downstream.peerId)))
    }
  })

  it('gives the client only the proxy\'s own addresses', () => {
    assert.ok(result.proxyAddressesSeenByClient.length > 0)
    const downstreamPorts = lines
      .filter(line => line.startsWith('downstream '))
      .map(line => line.match(/\/tcp\/(\d+)\//)?.[1])
    const proxyPort = lines.find(line => line.startsWith('proxy listening:'))?.match(/\/tcp\/(\d+)\//)?.[1]

    for (const address of result.proxyAddressesSeenByClient) {
      assert.ok(address.includes(`/tcp/${proxyPort}`), `${address} is not the proxy's`)
      for (const port of downstreamPorts) {
        assert.ok(!address.includes(`/tcp/${port}`), `${address} leaks a downstream address`)
      }
    }
  })

  it('creates the key file readable by its owner only, and keeps the identity across runs', async () => {
    assert.ok(lines.some(line => line.startsWith(`proxy identity: ${result.proxyPeerId} (new key written to`)))
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600)

    const again = []
    const second = await main({ keyFile, conversations: 2, log: line => { again.push(line) } })
    assert.equal(second.proxyPeerId, result.proxyPeerId)
    assert.ok(again.some(line => line.startsWith(`proxy identity: ${result.proxyPeerId} (loaded from`)))
  })

  it('runs as `npm start` does and exits by itself', async () => {
    // in a scratch directory, so the key file lands there
    const { stdout } = await run(process.execPath, [entry], { cwd: dir, timeout: 60_000 })
    assert.match(stdout, /answers came from 2 downstream\(s\)/)
    assert.match(stdout, /client fetched \S+ through the proxy: \d+ bytes, identical to the original/)
    assert.match(stdout, /done: all nodes stopped/)
  })
})
