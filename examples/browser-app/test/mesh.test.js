/**
 * The browser-to-browser page (src/mesh.*): its query string in Node, then
 * two pages in two Chromium contexts that meet through a relay built with
 * `@kitsune/hole-punch`'s relay preset (Circuit Relay v2 and a STUN
 * responder), over WebSockets on loopback, and talk over a direct WebRTC
 * connection whose only ICE server is the relay's.
 */

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { relayServerServices } from '@kitsune/hole-punch'
import { createTestNode, launchChromium } from '@kitsune/test-support'
import { webSockets } from '@libp2p/websockets'
import { MAX_MESSAGE_BYTES, isDirect, parseMeshParams } from '../src/mesh.js'
import { multiaddr } from '@multiformats/multiaddr'
import { TIMEOUT } from '../src/constants.js'
import { buildAndServe, PAGE_TIMEOUT, watchNetwork } from './helpers.js'

/**
 * Chromium hides local addresses behind mDNS names (which would need
 * multicast to resolve) and leaves the loopback interface out of ICE: with
 * these flags, host candidates carry the real local addresses, loopback
 * included, so two pages on one machine can reach each other directly
 */
const WEBRTC_ARGS = ['--disable-features=WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection']

const RELAY_ID = '12D3KooWSHH8ap4jEqNceN6ghFBYMYTqjgSqLTEoCEsXHLNkobtu'
const PAGE_ID = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
const RELAY = `/ip4/127.0.0.1/tcp/4002/ws/p2p/${RELAY_ID}`
const PAGE = `${RELAY}/p2p-circuit/webrtc/p2p/${PAGE_ID}`

/** @param {Record<string, string>} params */
const query = params => `?${new URLSearchParams(params)}`

/**
 * Resolves with `#status` once it is one of `states` or an error
 *
 * @param {import('@kitsune/test-support').Page} page
 * @param {string[]} states
 */
async function statusIn (page, states) {
  await page.waitForFunction((states) => {
    const status = document.getElementById('status')?.textContent ?? ''
    return states.includes(status) || status.startsWith('error: ')
  }, states, { timeout: PAGE_TIMEOUT })
  return (await page.textContent('#status')) ?? ''
}

describe('mesh page: parseMeshParams and isDirect', () => {
  it('reads relay, dial, message and timeout', () => {
    const params = parseMeshParams(query({ relay: RELAY, dial: PAGE, message: 'hi', timeout: '5000' }))
    assert.equal(params?.relay.toString(), RELAY)
    assert.equal(params?.relayId, RELAY_ID)
    assert.equal(params?.dial?.toString(), PAGE)
    assert.equal(params?.dialId, PAGE_ID)
    assert.equal(params?.message, 'hi')
    assert.equal(params?.timeout, 5000)
    const listening = parseMeshParams(query({ relay: RELAY, dial: '', message: '' }))
    assert.equal(listening?.dial, undefined)
    assert.equal(listening?.message, undefined)
    assert.equal(listening?.timeout, TIMEOUT)
  })

  it('is undefined (the form is shown) without relay', () => {
    assert.equal(parseMeshParams(''), undefined)
  })

  it('message: MAX_MESSAGE_BYTES of UTF-8 are accepted, one byte more is refused', () => {
    assert.equal(parseMeshParams(query({ relay: RELAY, message: 'a'.repeat(MAX_MESSAGE_BYTES) }))?.message?.length, MAX_MESSAGE_BYTES)
    assert.throws(() => parseMeshParams(query({ relay: RELAY, message: `${'a'.repeat(MAX_MESSAGE_BYTES - 1)}é` })), { name: 'MeshParamsError', message: `message is ${MAX_MESSAGE_BYTES + 1} bytes, at most ${MAX_MESSAGE_BYTES} are accepted` })
  })

  it('refuses what the page cannot act on, with a reason', () => {
    const other = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
    const cases = [
      [{ relay: 'nope' }, /^relay is not a multiaddr/],
      [{ relay: '/ip4/127.0.0.1/tcp/4002/ws' }, /^relay must end in \/p2p\/<peer id>/],
      [{ relay: `/ip4/127.0.0.1/tcp/4001/p2p/${RELAY_ID}` }, /^relay must be a WebSockets address/],
      [{ relay: `${RELAY}/p2p-circuit/p2p/${PAGE_ID}` }, /^relay must end in \/p2p\/<peer id>|^relay must be the relay's own address/],
      [{ relay: RELAY, dial: `${RELAY}/p2p-circuit/p2p/${PAGE_ID}` }, /^dial must be another page's address/],
      [{ relay: RELAY, dial: `/ip4/127.0.0.1/tcp/4003/ws/p2p/${other}/p2p-circuit/webrtc/p2p/${PAGE_ID}` }, /^dial must go through the given relay/],
      [{ relay: RELAY, timeout: '-5' }, /^timeout must be a positive integer/]
    ]
    for (const [params, message] of cases) {
      assert.throws(() => parseMeshParams(query(params)), { name: 'MeshParamsError', message }, JSON.stringify(params))
    }
  })

  it('isDirect: a WebRTC connection signalled through a relay is direct; a relayed circuit (with limits) is not', () => {
    assert.equal(isDirect({ remoteAddr: multiaddr(PAGE) }), true)
    assert.equal(isDirect({ remoteAddr: multiaddr(`/webrtc/p2p/${PAGE_ID}`) }), true)
    assert.equal(isDirect({ remoteAddr: multiaddr(`${RELAY}/p2p-circuit/p2p/${PAGE_ID}`), limits: { bytes: 131072n } }), false)
    assert.equal(isDirect({ remoteAddr: multiaddr(`${RELAY}/p2p-circuit/p2p/${PAGE_ID}`) }), false)
  })
})

describe('mesh page in Chromium: two pages meet through a relay and talk over direct WebRTC', () => {
  /** @type {import('@kitsune/test-support').Browser} */
  let browser
  /** @type {import('@libp2p/interface').Libp2p<any>} */
  let relay
  /** @type {string} */
  let relayAddress
  /** @type {Awaited<ReturnType<typeof buildAndServe>>} */
  let site

  before(async () => {
    [browser, relay, site] = await Promise.all([
      launchChromium({ args: WEBRTC_ARGS }),
      createTestNode({
        listen: ['/ip4/127.0.0.1/tcp/0/ws'],
        config: { transports: [webSockets()] },
        services: relayServerServices({ stunListen: '127.0.0.1:0' })
      }),
      buildAndServe()
    ])
    relayAddress = relay.getMultiaddrs().map(String).find(ma => ma.includes('/ws/')) ?? ''
    assert.match(relayAddress, /\/ws\/p2p\//)
  })

  after(async () => {
    await browser?.close()
    await relay?.stop()
    await Promise.all(site?.servers.map(async server => server.close()) ?? [])
  })

  /** @param {Record<string, string>} params */
  function meshUrl (params) {
    return `${site.servers[0].origin}/mesh.html${query(params)}`
  }

  it('the build writes dist/mesh.html and dist/mesh.js; the bundle names no public bootstrap or delegated-routing host (it holds @libp2p/webrtc\'s default public STUN list, which the page never uses: see the next test)', async () => {
    assert.ok(site.size.pages.mesh.bytes > 0 && site.size.pages.mesh.gzipBytes < site.size.pages.mesh.bytes)
    const html = await readFile(join(site.size.dir, 'mesh.html'), 'utf8')
    for (const id of ['status', 'address', 'received', 'connection', 'direct', 'ice', 'ice-servers', 'peer-id']) {
      assert.match(html, new RegExp(`id="${id}"`))
    }
    const bundle = await readFile(join(site.size.dir, 'mesh.js'), 'utf8')
    for (const service of ['bootstrap.libp2p.io', 'delegated-ipfs.dev', 'trustless-gateway.link', 'ipfs.io', 'dweb.link']) {
      assert.ok(!bundle.includes(service), `the bundle names ${service}`)
    }
  })

  it('the listening page reserves on the relay, the other dials it; each receives the other\'s message over a direct WebRTC connection whose only ICE server is the relay\'s STUN', async (t) => {
    const stun = relay.services.stun.address
    assert.match(stun, /^127\.0\.0\.1:\d+$/)
    const contexts = [await browser.newContext(), await browser.newContext()]
    const [listener, dialler] = await Promise.all(contexts.map(async context => context.newPage()))
    const seen = [watchNetwork(listener), watchNetwork(dialler)]

    await listener.goto(meshUrl({ relay: relayAddress, message: 'hello from the listening page' }))
    assert.equal(await statusIn(listener, ['listening']), 'listening', seen[0].console.join('\n'))
    const address = (await listener.textContent('#address')) ?? ''
    const listenerId = (await listener.textContent('#peer-id')) ?? ''
    assert.equal(address, `${relayAddress}/p2p-circuit/webrtc/p2p/${listenerId}`)

    await dialler.goto(meshUrl({ relay: relayAddress, dial: address, message: 'hello from the dialling page ✓' }))
    const [a, b] = await Promise.all([statusIn(listener, ['exchanged']), statusIn(dialler, ['exchanged'])])
    assert.equal(b, 'exchanged', `${b}\n${seen[1].console.join('\n')}`)
    assert.equal(a, 'exchanged', `${a}\n${seen[0].console.join('\n')}`)
    const diallerId = (await dialler.textContent('#peer-id')) ?? ''

    // each got the other's message
    assert.equal(await listener.textContent('#received'), 'hello from the dialling page ✓')
    assert.equal(await dialler.textContent('#received'), 'hello from the listening page')

    // over a WebRTC connection: the listener sees the dialler's WebRTC
    // address; the dialler's names the relay only as where it was signalled
    assert.equal(await listener.textContent('#connection'), `/webrtc/p2p/${diallerId}`)
    assert.equal(await dialler.textContent('#connection'), address)
    for (const page of [listener, dialler]) {
      assert.equal(await page.textContent('#direct'), 'yes')
      // the candidate pair ICE chose: no TURN relay on either side (Chromium
      // leaves a remote peer-reflexive candidate's address out of its stats)
      const ice = (await page.textContent('#ice')) ?? ''
      assert.match(ice, /^(host|srflx|prflx) \S+:\d+ ⇄ (host|srflx|prflx) \S*:\d+ \(udp\)$/, ice)
      // every RTCPeerConnection of the page had the relay's STUN as its only ICE server
      const servers = JSON.parse((await page.textContent('#ice-servers')) ?? '[]')
      assert.ok(servers.length >= 1)
      for (const entry of servers) {
        assert.deepEqual(entry, [{ urls: [`stun:${stun}`] }])
      }
    }

    t.diagnostic(`listener: ${await listener.textContent('#ice')}; dialler: ${await dialler.textContent('#ice')}; relay STUN binding requests in its current rate window: ${relay.services.stun.answered}`)

    // the libp2p view, in each page: the connection to the other page that
    // is not a relayed circuit carries no limits
    for (const [page, other] of [[listener, diallerId], [dialler, listenerId]]) {
      const connections = await page.evaluate((other) => globalThis.libp2p.getConnections()
        .filter(c => c.remotePeer.toString() === other)
        .map(c => ({ addr: c.remoteAddr.toString(), limited: c.limits != null })), other)
      assert.ok(connections.some(c => c.addr.includes('/webrtc/') && !c.limited), JSON.stringify(connections))
    }

    // each page opened one WebSocket, to the relay, and asked nothing else of the network
    const relayWs = relayAddress.replace(/^\/ip4\/([^/]+)\/tcp\/(\d+)\/ws\/.*$/, 'ws://$1:$2/')
    for (const s of seen) {
      assert.deepEqual(s.webSockets, [relayWs])
      for (const line of s.requests) {
        assert.equal(new URL(line.slice(line.indexOf(' ') + 1)).origin, site.servers[0].origin, line)
      }
    }
    await Promise.all(contexts.map(async context => context.close()))
  })

  it('shows error: <reason> for bad parameters, and for a page that is not there', async (t) => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(meshUrl({ relay: relayAddress.split('/p2p/')[0] }))
    assert.match(await statusIn(page, []), /^error: relay must end in \/p2p\/<peer id>/)
    // a well-formed address of a page that never listened on the relay
    await page.goto(meshUrl({ relay: relayAddress, dial: `${relayAddress}/p2p-circuit/webrtc/p2p/${PAGE_ID}`, timeout: '10000' }))
    const status = await statusIn(page, [])
    assert.match(status, /^error: ./)
    t.diagnostic(`dialling a page that is not there: ${status}`)
    assert.equal(await page.textContent('#received'), '')
    await context.close()
  })
})
