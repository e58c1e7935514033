/**
 * The suite's own instruments, checked without kitsune: the hook on
 * js-ipfs's `ipfs:preload` logger sees both outcomes, and js-ipfs's
 * preloader makes the call the proxy's endpoint serves.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { createIpfs, stopAll } from '../src/ipfs.js'
import { mark, preloadLines, waitForPreload } from '../src/preload-log.js'

describe('harness: js-ipfs\'s preloader and the ipfs:preload log hook', () => {
  /** @type {import('node:http').Server} */
  let server
  /** @type {Array<{ method?: string, url?: string }>} */
  const requests = []
  /** @type {Set<string>} */
  const failing = new Set()
  /** @type {Array<{ stop(): Promise<void> }>} */
  const nodes = []

  before(async () => {
    server = createServer((req, res) => {
      requests.push({ method: req.method, url: req.url })
      const arg = new URL(req.url ?? '/', 'http://x').searchParams.get('arg') ?? ''
      if (failing.has(arg)) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"Message":"no","Code":0,"Type":"error"}')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"Ref":"${arg}","Err":""}\n`)
    })
    await new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  })

  after(async () => {
    await stopAll(nodes)
    server?.closeAllConnections()
    await new Promise(resolve => server?.close(resolve))
  })

  it('captures "successfully preloaded" and "unsuccessfully preloaded" for js-ipfs\'s own POST /api/v0/refs?r=true&arg=<cid> calls', async () => {
    const address = server.address()
    assert.ok(address != null && typeof address === 'object')
    const since = mark()
    // no bootstrap peers, no listeners: this node talks to the HTTP server only
    const app = await createIpfs({ bootstrap: [], listen: [], preload: `/ip4/127.0.0.1/tcp/${address.port}/http` })
    nodes.push(app)

    const good = (await app.ipfs.add(randomBytes(1000))).cid
    const badBytes = randomBytes(1000)
    const bad = (await app.ipfs.add(badBytes, { onlyHash: true })).cid
    failing.add(bad.toString())
    await app.ipfs.add(badBytes)

    const ok = await waitForPreload(good, { since, timeout: 20_000 })
    assert.match(ok.line, new RegExp(`successfully preloaded ${good} in \\d+ms`))
    await assert.rejects(waitForPreload(bad, { since, timeout: 20_000 }), new RegExp(`unsuccessfully preloaded ${bad}`))

    const calls = requests.map((r) => `${r.method} ${r.url}`)
    assert.ok(calls.includes(`POST /api/v0/refs?r=true&arg=${good}`), JSON.stringify(calls))
    assert.ok(calls.includes(`POST /api/v0/refs?r=true&arg=${bad}`), JSON.stringify(calls))
    assert.ok(preloadLines(since).length >= 4)
  })
})
