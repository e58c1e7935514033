/**
 * The page in a real Chromium (Debian's, through test-support's launcher)
 * against a real `kitsune proxy` in embedded mode, over WebSockets on
 * loopback.
 */

import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { launchChromium } from '@kitsune/test-support'
import { buildAndServe, finalStatus, kitsuneGet, pageUrl, startProxy, watchNetwork } from './helpers.js'

/**
 * Every URL a page contacted must be one it was given: the site's own
 * origin, the proxy's WebSockets address, the preload endpoint
 *
 * @param {{ requests: string[], webSockets: string[] }} seen
 * @param {string[]} allowed - origins (`http://host:port`, `ws://host:port`)
 */
function assertOnlyContacted (seen, allowed) {
  for (const line of seen.requests) {
    const url = new URL(line.slice(line.indexOf(' ') + 1))
    assert.ok(allowed.includes(url.origin), `the page contacted ${url.href}; allowed: ${allowed.join(', ')}`)
  }
  for (const ws of seen.webSockets) {
    assert.ok(allowed.includes(new URL(ws).origin), `the page opened a WebSocket to ${ws}; allowed: ${allowed.join(', ')}`)
  }
}

/**
 * `ws://127.0.0.1:<port>` of a `/ip4/127.0.0.1/tcp/<port>/ws/p2p/<id>` address
 *
 * @param {string} address
 */
function wsOrigin (address) {
  const [, host, port] = /^\/ip4\/([^/]+)\/tcp\/(\d+)\/ws\//.exec(address) ?? []
  return `ws://${host}:${port}`
}

describe('browser app in Chromium, through kitsune proxy (embedded mode)', () => {
  /** @type {import('@kitsune/test-support').Browser} */
  let browser
  /** @type {Awaited<ReturnType<typeof startProxy>>} */
  let running
  /** @type {Awaited<ReturnType<typeof buildAndServe>>} */
  let site

  before(async () => {
    [browser, running, site] = await Promise.all([launchChromium(), startProxy(), buildAndServe(2)])
  })

  after(async () => {
    await browser?.close()
    await running?.proxy.stop()
    await Promise.all(site?.servers.map(async server => server.close()) ?? [])
  })

  it('fetches the embedded sample file through the proxy over WebSockets and shows it; the page contacts nothing but the given addresses', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const seen = watchNetwork(page)
    await page.goto(pageUrl(site.servers[0], { peer: running.ws, preload: running.preload, cid: running.embedded.cid }))

    assert.equal(await finalStatus(page), 'fetched', seen.console.join('\n'))
    const direct = await kitsuneGet(running.embedded.cid, running.embedded.peer)
    assert.equal(direct.code, 0, direct.stderr)
    assert.equal(await page.textContent('#content'), direct.stdout.toString('utf8'))
    assert.match(await page.textContent('#content') ?? '', /^Hello from Kitsune!/)
    assert.equal(await page.textContent('#added-cid'), '')

    // one WebSocket, to the proxy's address; HTTP only to the site itself
    assert.deepEqual(seen.webSockets, [`${wsOrigin(running.ws)}/`])
    assertOnlyContacted(seen, [site.servers[0].origin, wsOrigin(running.ws)])
    // the page's node is connected to the proxy's peer id, and to nothing else
    const peers = await page.evaluate(() => globalThis.helia.libp2p.getConnections().map(c => `${c.remoteAddr}`))
    assert.deepEqual(peers.map(address => address.split('/p2p/')[1]), [running.ready.peerId])
    await context.close()
  })

  it('adds text and preloads it as js-ipfs did (POST /api/v0/refs?r=true&arg=<cid>, drained); once the page is closed a fresh `kitsune get` fetches it through the proxy byte for byte, and a downstream holds it', async () => {
    const text = `Added in Chromium at ${new Date().toISOString()} ✓ — über ünïcödé`
    const context = await browser.newContext()
    const page = await context.newPage()
    const seen = watchNetwork(page)
    await page.goto(pageUrl(site.servers[0], { peer: running.ws, preload: running.preload, add: text }))

    assert.equal(await finalStatus(page), 'preloaded', seen.console.join('\n'))
    const cid = (await page.textContent('#added-cid')) ?? ''
    assert.match(cid, /^baf/)
    assert.ok(seen.requests.includes(`POST ${running.preload}/api/v0/refs?r=true&arg=${cid}`), seen.requests.join('\n'))
    assertOnlyContacted(seen, [site.servers[0].origin, wsOrigin(running.ws), running.preload])
    // the page and its node are gone
    await context.close()

    const got = await kitsuneGet(cid, running.embedded.peer)
    assert.equal(got.code, 0, got.stderr)
    assert.deepEqual(got.stdout, Buffer.from(text, 'utf8'))

    // and a downstream holds it: fetched from the downstreams directly, one has it
    const direct = await Promise.all(running.ready.downstreams.map(async (downstream) => {
      const id = await (await fetch(`${downstream.source}/api/v0/id`, { method: 'POST' })).json()
      const address = id.Addresses.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws'))
      return kitsuneGet(cid, address, 5_000)
    }))
    const holders = direct.filter(result => result.code === 0)
    assert.ok(holders.length >= 1, direct.map(result => result.stderr).join('\n'))
    for (const holder of holders) {
      assert.deepEqual(holder.stdout, Buffer.from(text, 'utf8'))
    }
  })

  it('maxContentBytes: content of exactly that size is shown, one byte more ends in error', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const size = running.embedded.size
    const base = { peer: running.ws, cid: running.embedded.cid }
    await page.goto(pageUrl(site.servers[0], { ...base, maxContentBytes: String(size) }))
    assert.equal(await finalStatus(page), 'fetched')
    assert.equal(new TextEncoder().encode(await page.textContent('#content') ?? '').byteLength, size)
    await page.goto(pageUrl(site.servers[0], { ...base, maxContentBytes: String(size - 1) }))
    assert.equal(await finalStatus(page), `error: the content is larger than ${size - 1} bytes (maxContentBytes)`)
    assert.equal(await page.textContent('#content'), '')
    await context.close()
  })

  it('shows error: <reason> for a peer without /p2p/<id>, a non-WebSockets peer, add without preload, and a proxy that is not there', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const tcpPeer = running.ready.multiaddrs.find(address => !address.includes('/ws'))
    const noId = running.ws.split('/p2p/')[0]
    const cases = [
      [{ peer: noId, cid: running.embedded.cid }, 'error: peer must end in /p2p/<peer id>'],
      [{ peer: tcpPeer, cid: running.embedded.cid }, 'error: peer must be a WebSockets address'],
      [{ peer: running.ws, add: 'x' }, 'error: add needs preload'],
      [{ peer: running.ws, cid: 'not-a-cid' }, 'error: cid is not a CID'],
      [{ peer: running.ws, cid: running.embedded.cid, add: 'x' }, 'error: give either cid or add, not both'],
      [{ peer: running.ws, cid: running.embedded.cid, timeout: '-1' }, 'error: timeout must be a positive integer']
    ]
    for (const [params, expected] of cases) {
      await page.goto(pageUrl(site.servers[0], params))
      const status = await finalStatus(page)
      assert.ok(status.startsWith(expected), `${JSON.stringify(params)}: ${status}`)
    }

    // a WebSockets port nobody listens on (the site's own HTTP server refuses the upgrade)
    const port = new URL(site.servers[1].origin).port
    await page.goto(pageUrl(site.servers[0], { peer: `/ip4/127.0.0.1/tcp/${port}/ws/p2p/${running.ready.peerId}`, cid: running.embedded.cid, timeout: '10000' }))
    assert.match(await finalStatus(page), /^error: ./)
    assert.equal(await page.textContent('#content'), '')
    await context.close()
  })
})

describe('browser app: the preload endpoint\'s CORS policy, as Chromium enforces it', () => {
  /** @type {import('@kitsune/test-support').Browser} */
  let browser
  /** @type {Awaited<ReturnType<typeof startProxy>>} */
  let running
  /** @type {Awaited<ReturnType<typeof buildAndServe>>} */
  let site
  /** @type {string} */
  let dir

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kitsune-browser-'))
    ;[browser, site] = await Promise.all([launchChromium(), buildAndServe(2)])
    // the operator allows the first origin only
    const config = join(dir, 'proxy.json')
    await writeFile(config, JSON.stringify({ preload: { cors: [site.servers[0].origin] } }))
    running = await startProxy(['--config', config, '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
  })

  after(async () => {
    await browser?.close()
    await running?.proxy.stop()
    await Promise.all(site?.servers.map(async server => server.close()) ?? [])
    await rm(dir, { recursive: true, force: true })
  })

  /**
   * Opens the page on `server` to add `text`, and returns its final status,
   * the preflight requests Chromium sent (seen through the DevTools
   * protocol) and the page's console
   *
   * @param {{ url: string, origin: string }} server
   * @param {string} text
   */
  async function addFrom (server, text) {
    const context = await browser.newContext()
    const page = await context.newPage()
    const seen = watchNetwork(page)
    const cdp = await context.newCDPSession(page)
    /** @type {string[]} */
    const preflights = []
    cdp.on('Network.requestWillBeSent', (event) => {
      if (event.type === 'Preflight' || event.request.method === 'OPTIONS') {
        preflights.push(`${event.request.method} ${event.request.url}`)
      }
    })
    await cdp.send('Network.enable')
    await page.goto(pageUrl(server, { peer: running.ws, preload: running.preload, add: text }))
    const status = await finalStatus(page)
    const cid = await page.textContent('#added-cid')

    // a request the way kubo-rpc-client sends it: a non-safelisted header forces a preflight
    const preflighted = await page.evaluate(async ({ url }) => {
      try {
        const response = await fetch(url, { method: 'POST', headers: { 'X-Stream-Output': '1' } })
        await response.text()
        return `status ${response.status}`
      } catch (err) {
        return `${err.name}: ${err.message}`
      }
    }, { url: `${running.preload}/api/v0/refs?r=true&arg=${cid}` })
    await context.close()
    return { status, cid, preflighted, preflights, console: seen.console }
  }

  it('a page on the allowed origin preloads, and its preflighted request passes the preflight', async () => {
    const result = await addFrom(site.servers[0], 'from the allowed origin')
    assert.equal(result.status, 'preloaded', result.console.join('\n'))
    assert.equal(result.preflighted, 'status 200')
    assert.ok(result.preflights.includes(`OPTIONS ${running.preload}/api/v0/refs?r=true&arg=${result.cid}`), JSON.stringify(result.preflights))

    const got = await kitsuneGet(result.cid ?? '', running.embedded.peer)
    assert.equal(got.code, 0, got.stderr)
    assert.equal(got.stdout.toString('utf8'), 'from the allowed origin')
  })

  it('a page on another origin is refused by the browser: the preload fails with a CORS error, and the preflighted request is stopped at the preflight', async () => {
    const result = await addFrom(site.servers[1], 'from an origin the operator did not list')
    assert.equal(result.status, 'error: Failed to fetch')
    assert.match(result.preflighted, /^TypeError: /)
    const blocked = result.console.filter(line => line.includes('has been blocked by CORS policy'))
    assert.ok(blocked.some(line => line.includes(`from origin '${site.servers[1].origin}'`) && line.includes('No \'Access-Control-Allow-Origin\' header')), result.console.join('\n'))
    assert.ok(blocked.some(line => line.includes('Response to preflight request doesn\'t pass access control check')), result.console.join('\n'))
    assert.ok(result.preflights.length > 0, 'Chromium sent a preflight')

    // the endpoint refused the page's own (simple) POST with 403: nothing was fetched for it
    const metrics = await (await fetch(running.ready.metrics)).text()
    assert.match(metrics, /^kitsune_preload_rejected_total\{status="403"\} 1$/m)
  })
})
