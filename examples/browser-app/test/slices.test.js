/**
 * The slice-sync light peer page (src/slices.*): its query string in Node,
 * then the page in a real Chromium against a real slice-sync bridge holding
 * the mainnet genesis state, over WebSockets on loopback, and against a
 * peer whose proofs do not check.
 */

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { getGenesis } from '@ethereumjs/genesis'
import { createTestNode, launchChromium } from '@kitsune/test-support'
import { genesisAccounts, genesisSource, hexBytes, PROTOCOL, sliceSync, StateStore } from '@kitsune/slice-sync'
import { gossipsub } from '@libp2p/gossipsub'
import { lpStream } from '@libp2p/utils'
import { webSockets } from '@libp2p/websockets'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { TIMEOUT } from '../src/constants.js'
import { MAX_PEERS, parseSlicesParams, sliceOfAccount } from '../src/slices.js'
import { buildAndServe, finalStatus, watchNetwork } from './helpers.js'

/** The mainnet genesis state root (block 0's `stateRoot`) */
const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'
/** A root no peer holds */
const WRONG_ROOT = `0x${'ab'.repeat(32)}`

/** @type {Record<string, string>} address → balance (hex) */
const mainnet = /** @type {any} */ (getGenesis(1))

const ID = '12D3KooWSHH8ap4jEqNceN6ghFBYMYTqjgSqLTEoCEsXHLNkobtu'
const PEER = `/ip4/127.0.0.1/tcp/4002/ws/p2p/${ID}`
const ACCOUNT = '0x000d836201318ec6899a67540690382780743280'

/** @param {Record<string, string | string[]>} params */
function query (params) {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    for (const v of [value].flat()) {
      search.append(name, v)
    }
  }
  return `?${search}`
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

/**
 * A real libp2p node on loopback, listening on WebSockets, with the given
 * services
 *
 * @param {Record<string, any>} services
 */
async function wsNode (services) {
  return createTestNode({
    listen: ['/ip4/127.0.0.1/tcp/0/ws'],
    config: { transports: [webSockets()] },
    services
  })
}

/** @param {import('@libp2p/interface').Libp2p} node */
function wsAddress (node) {
  const address = node.getMultiaddrs().map(ma => ma.toString()).find(ma => ma.includes('/ws/'))
  assert.ok(address != null, 'the node listens on WebSockets')
  return address
}

/**
 * A peer that speaks slice-sync but lies: it answers every request with a
 * proof of `address` from the state of `alloc`, whatever root was asked for.
 * Its answers are well-formed; only the proof tells the truth.
 *
 * @param {Record<string, string>} alloc
 * @param {string} address
 */
async function lyingPeer (alloc, address) {
  const store = new StateStore()
  const { root } = store.load(genesisAccounts(alloc))
  const proof = store.reader.prove(root, keccak256(hexBytes(address)))
  // Response { status: OK (0, the default), repeated bytes proof = 4 }
  const parts = []
  for (const node of proof) {
    parts.push(Uint8Array.of(0x22), varint(node.byteLength), node)
  }
  const response = concatBytes(parts)
  /** @type {number} */
  let answered = 0
  const node = await wsNode({})
  await node.handle(PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    await lp.read()
    await lp.write(response)
    answered++
    await stream.close()
  })
  return { node, root: bytesToHex(root), answered: () => answered }
}

/** @param {Uint8Array} bytes */
function bytesToHex (bytes) {
  return `0x${Buffer.from(bytes).toString('hex')}`
}

/** @param {number} n */
function varint (n) {
  const out = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** @param {Uint8Array[]} parts */
function concatBytes (parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

describe('slices page: parseSlicesParams', () => {
  it('reads peer (repeatable), account and root, lower-cased, with the default timeout', () => {
    const params = parseSlicesParams(query({ peer: [PEER, PEER.replace('4002', '4003')], account: ACCOUNT.toUpperCase().replace('0X', '0x'), root: MAINNET_ROOT.toUpperCase().replace('0X', '0x') }))
    assert.deepEqual(params?.peers.map(String), [PEER, PEER.replace('4002', '4003')])
    assert.deepEqual(params?.peerIds, [ID, ID])
    assert.equal(params?.account, ACCOUNT)
    assert.equal(params?.root, MAINNET_ROOT)
    assert.equal(params?.timeout, TIMEOUT)
  })

  it('is undefined (the form is shown) without account', () => {
    assert.equal(parseSlicesParams(''), undefined)
    assert.equal(parseSlicesParams(query({ peer: PEER, root: MAINNET_ROOT })), undefined)
  })

  it('takes MAX_PEERS peers, and refuses one more', () => {
    const base = { account: ACCOUNT, root: MAINNET_ROOT }
    assert.equal(parseSlicesParams(query({ ...base, peer: new Array(MAX_PEERS).fill(PEER) }))?.peers.length, MAX_PEERS)
    assert.throws(() => parseSlicesParams(query({ ...base, peer: new Array(MAX_PEERS + 1).fill(PEER) })), { name: 'SlicesParamsError', message: `at most ${MAX_PEERS} peers are accepted, got ${MAX_PEERS + 1}` })
  })

  it('refuses what the page cannot act on, with a reason', () => {
    const cases = [
      [{ account: ACCOUNT, root: MAINNET_ROOT }, /^missing peer/],
      [{ peer: 'nope', account: ACCOUNT, root: MAINNET_ROOT }, /^peer is not a multiaddr/],
      [{ peer: '/ip4/127.0.0.1/tcp/4002/ws', account: ACCOUNT, root: MAINNET_ROOT }, /^peer must end in \/p2p\/<peer id>/],
      [{ peer: `/ip4/127.0.0.1/tcp/4001/p2p/${ID}`, account: ACCOUNT, root: MAINNET_ROOT }, /^peer must be a WebSockets address/],
      [{ peer: PEER, account: '0x1234', root: MAINNET_ROOT }, /^account must be 0x and 40 hex digits/],
      [{ peer: PEER, account: ACCOUNT }, /^missing root/],
      [{ peer: PEER, account: ACCOUNT, root: '0xd7f8' }, /^root must be 0x and 64 hex digits/],
      [{ peer: PEER, account: ACCOUNT, root: MAINNET_ROOT, timeout: '0' }, /^timeout must be a positive integer/]
    ]
    for (const [params, message] of cases) {
      assert.throws(() => parseSlicesParams(query(params)), { name: 'SlicesParamsError', message }, JSON.stringify(params))
    }
  })
})

describe('slices page in Chromium: a light peer asks a mainnet-genesis bridge for an account and checks its proof', () => {
  /** @type {import('@kitsune/test-support').Browser} */
  let browser
  /** @type {import('@libp2p/interface').Libp2p<any>} */
  let bridge
  /** @type {string} */
  let bridgeAddress
  /** @type {Awaited<ReturnType<typeof buildAndServe>>} */
  let site

  before(async () => {
    [browser, bridge, site] = await Promise.all([
      launchChromium(),
      wsNode({
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }),
        sliceSync: sliceSync({ source: genesisSource(/** @type {any} */ (mainnet)) })
      }),
      buildAndServe()
    ])
    bridgeAddress = wsAddress(bridge)
    assert.equal(bytesToHex(bridge.services.sliceSync.stateRoot), MAINNET_ROOT)
  })

  after(async () => {
    await browser?.close()
    await bridge?.stop()
    await Promise.all(site?.servers.map(async server => server.close()) ?? [])
  })

  /** @param {Record<string, string | string[]>} params */
  function slicesUrl (params) {
    return `${site.servers[0].origin}/slices.html${query(params)}`
  }

  it('the build writes dist/slices.html and dist/slices.js, whose bundle names no public bootstrap, delegated-routing, gateway or STUN host', async () => {
    assert.ok(site.size.pages.slices.bytes > 0 && site.size.pages.slices.gzipBytes < site.size.pages.slices.bytes)
    const html = await readFile(join(site.size.dir, 'slices.html'), 'utf8')
    for (const id of ['status', 'balance', 'nonce', 'state-root', 'proof-nodes', 'account-slice', 'held-slices', 'peer-id']) {
      assert.match(html, new RegExp(`id="${id}"`))
    }
    const bundle = await readFile(join(site.size.dir, 'slices.js'), 'utf8')
    for (const service of ['bootstrap.libp2p.io', 'delegated-ipfs.dev', 'trustless-gateway.link', 'ipfs.io', 'dweb.link', 'stun:', 'cloudflare-ipfs']) {
      assert.ok(!bundle.includes(service), `the bundle names ${service}`)
    }
  })

  it('shows the genesis balance of an account it does not hold, verified against the trusted root; the page contacts nothing but the bridge', async () => {
    // an account with a large balance, and one more
    const [account, other] = Object.keys(mainnet).slice(0, 2)
    for (const address of [account, other]) {
      const context = await browser.newContext()
      const page = await context.newPage()
      const seen = watchNetwork(page)
      await page.goto(slicesUrl({ peer: bridgeAddress, account: address, root: MAINNET_ROOT }))

      assert.equal(await finalStatus(page), 'verified', seen.console.join('\n'))
      assert.equal(await page.textContent('#balance'), BigInt(mainnet[address]).toString())
      assert.equal(await page.textContent('#nonce'), '0')
      assert.equal(await page.textContent('#state-root'), MAINNET_ROOT)
      assert.ok(Number(await page.textContent('#proof-nodes')) > 1)
      // it does not hold the account's slice: the answer came from the bridge, with its proof
      const slice = await page.textContent('#account-slice')
      assert.equal(slice, String(sliceOfAccount(address)))
      assert.ok(!((await page.textContent('#held-slices')) ?? '').split(' ').includes(slice), 'the page holds the account\'s slice')

      // one WebSocket, to the bridge; HTTP only to the site itself
      assert.deepEqual(seen.webSockets, [`${wsOrigin(bridgeAddress)}/`])
      for (const line of seen.requests) {
        assert.equal(new URL(line.slice(line.indexOf(' ') + 1)).origin, site.servers[0].origin, line)
      }
      const peers = await page.evaluate(() => globalThis.libp2p.getConnections().map(c => c.remotePeer.toString()))
      assert.deepEqual(peers, [bridge.peerId.toString()])
      await context.close()
    }
  })

  it('a wrong trusted root shows an error and no balance: the bridge holds no state at that root', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const account = Object.keys(mainnet)[0]
    await page.goto(slicesUrl({ peer: bridgeAddress, account, root: WRONG_ROOT }))
    const status = await finalStatus(page)
    assert.match(status, new RegExp(`^error: no peer answered for 0x[0-9a-f]{64} at ${WRONG_ROOT}: .*NOT_HELD`))
    assert.equal(await page.textContent('#balance'), '')
    await context.close()
  })

  it('a proof that does not reach the trusted root is refused: a peer answering with the genuine genesis proof for a wrong trusted root, or a tampered balance for the right one, ends in error and no balance', async () => {
    const account = Object.keys(mainnet)[0]
    const tampered = { ...mainnet, [account]: '0x' + (10n ** 30n).toString(16) }
    const cases = [
      // the page trusts a wrong root; the peer's proof is mainnet's
      { alloc: mainnet, root: WRONG_ROOT },
      // the page trusts mainnet's root; the peer's proof is of a richer state
      { alloc: tampered, root: MAINNET_ROOT }
    ]
    for (const { alloc, root } of cases) {
      const liar = await lyingPeer(alloc, account)
      try {
        assert.notEqual(liar.root, root)
        const context = await browser.newContext()
        const page = await context.newPage()
        const seen = watchNetwork(page)
        const address = wsAddress(liar.node)
        await page.goto(slicesUrl({ peer: address, account, root }))
        const status = await finalStatus(page)
        assert.match(status, new RegExp(`^error: no peer answered for 0x[0-9a-f]{64} at ${root}: proof does not reach 0x[0-9a-f]{64} from ${root}`), seen.console.join('\n'))
        assert.equal(await page.textContent('#balance'), '')
        assert.ok(liar.answered() >= 1)
        assert.deepEqual(seen.webSockets, [`${wsOrigin(address)}/`])
        await context.close()
      } finally {
        await liar.node.stop()
      }
    }
  })

  it('shows error: <reason> for bad parameters', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const account = Object.keys(mainnet)[0]
    const cases = [
      [{ account, root: MAINNET_ROOT }, 'error: missing peer'],
      [{ peer: bridgeAddress, account: '0x12', root: MAINNET_ROOT }, 'error: account must be 0x and 40 hex digits'],
      [{ peer: bridgeAddress, account }, 'error: missing root']
    ]
    for (const [params, expected] of cases) {
      await page.goto(slicesUrl(params))
      const status = await finalStatus(page)
      assert.ok(status.startsWith(expected), `${JSON.stringify(params)}: ${status}`)
    }
    await context.close()
  })
})
