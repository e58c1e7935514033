/**
 * A js-ipfs 0.18.1 app whose only bootstrap peer and only preload node is
 * `kitsune proxy` (RSA identity, a `kitsune node` downstream) adds content;
 * js-ipfs's own preloader reports success; the app stops; a fresh js-ipfs
 * fetches the content, which can now only come from the downstream through
 * the proxy.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { catWithin, createIpfs, waitForPeer } from '../src/ipfs.js'
import { sharedTopology } from '../src/shared-topology.js'
import { mark, waitForPreload } from '../src/preload-log.js'

const MiB = 1024 * 1024
const PRELOAD_TIMEOUT = 60_000
const FETCH_TIMEOUT = 60_000
const TCP = /^\/ip4\/127\.0\.0\.1\/tcp\/\d+(\/p2p\/\w+)?$/
const WS = /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws(\/p2p\/\w+)?$/

describe('js-ipfs 0.18.1 adds, preloads through kitsune proxy, a fresh js-ipfs fetches', () => {
  const shared = sharedTopology()

  /**
   * The app that adds (preload on) and the reader that fetches later (a new
   * repo, preload off: it only reads), both with `bootstrap` as their only
   * bootstrap peer. The reader starts now to save the ~10 s js-ipfs takes
   * to dial its bootstrap peers, but reads only after the app has stopped.
   *
   * @param {string} bootstrap
   */
  async function appAndReader (bootstrap) {
    const [app, reader] = await Promise.all([
      createIpfs({ bootstrap: [bootstrap], preload: shared.topology.proxy.preloadMultiaddr }),
      createIpfs({ bootstrap: [bootstrap] })
    ])
    shared.nodes.push(app, reader)
    return { app, reader }
  }

  /**
   * The reader's only peer is the proxy, over the expected transport
   *
   * @param {any} ipfs
   * @param {RegExp} transport
   */
  async function assertOnlyPeerIsProxy (ipfs, transport) {
    const peers = await ipfs.swarm.peers()
    assert.deepEqual(peers.map((p) => p.peer.toString()), [shared.topology.proxy.peerId], 'the reader is connected to the proxy only')
    assert.match(peers[0].addr.toString(), transport)
  }

  /**
   * @param {string} bootstrap
   * @param {RegExp} transport
   */
  async function addPreloadCat (bootstrap, transport, size = 3 * MiB) {
    const { app, reader } = await appAndReader(bootstrap)
    await waitForPeer(app.ipfs, shared.topology.proxy.peerId)

    const data = randomBytes(size)
    const since = mark()
    const { cid } = await app.ipfs.add(data)
    const { ms } = await waitForPreload(cid, { since, timeout: PRELOAD_TIMEOUT })
    assert.ok(ms >= 0)

    // nobody but the downstream holds the file now
    await app.stop()

    const fetched = await catWithin(reader.ipfs, cid, FETCH_TIMEOUT)
    assert.equal(fetched.length, data.length)
    assert.ok(fetched.equals(data), 'the fetched bytes are the added bytes')
    await assertOnlyPeerIsProxy(reader.ipfs, transport)
  }

  it('a 3 MiB file over TCP: js-ipfs\'s preloader reports success, a fresh js-ipfs cats it byte for byte', async () => {
    await addPreloadCat(shared.topology.proxy.tcp, TCP)
  })

  it('a dag-cbor DAG (dag.put node by node, js-ipfs defaults): the root\'s preload succeeds, a fresh js-ipfs gets every block byte for byte', async () => {
    const { app, reader } = await appAndReader(shared.topology.proxy.tcp)
    await waitForPeer(app.ipfs, shared.topology.proxy.peerId)

    const since = mark()
    // a DAG of 7 dag-cbor nodes: 4 leaves of 200 KB of random bytes, 2
    // inner nodes, a root; every dag.put preloads its node (ipfs-core's
    // dag/put.js: unless `preload: false`), as an app's would
    const leaves = []
    for (let i = 0; i < 4; i++) {
      leaves.push(await app.ipfs.dag.put({ leaf: i, data: randomBytes(200_000) }))
    }
    const inner = [
      await app.ipfs.dag.put({ children: leaves.slice(0, 2) }),
      await app.ipfs.dag.put({ children: leaves.slice(2) })
    ]
    const root = await app.ipfs.dag.put({ name: 'kitsune interop', created: Date.now(), inner })
    const cids = [root, ...inner, ...leaves]
    for (const cid of cids) {
      assert.equal(cid.code, 0x71, 'dag-cbor')
    }

    await waitForPreload(root, { since, timeout: PRELOAD_TIMEOUT })

    const blocks = new Map()
    for (const cid of cids) {
      blocks.set(cid.toString(), Buffer.from(await app.ipfs.block.get(cid)))
    }
    const rootValue = (await app.ipfs.dag.get(root)).value

    await app.stop()

    // through the root, as an app would: dag.get resolves it from the root
    const got = await reader.ipfs.dag.get(root, { timeout: FETCH_TIMEOUT })
    assert.equal(got.value.name, rootValue.name)
    assert.equal(got.value.created, rootValue.created)
    assert.deepEqual(got.value.inner.map(String), inner.map(String))
    for (const cid of cids) {
      const bytes = Buffer.from(await reader.ipfs.block.get(cid, { timeout: FETCH_TIMEOUT }))
      assert.ok(bytes.equals(blocks.get(cid.toString())), `block ${cid} is byte for byte the added one`)
    }
    const leaf = await reader.ipfs.dag.get(root, { path: 'inner/1/children/1', timeout: FETCH_TIMEOUT })
    assert.equal(leaf.value.leaf, 3)
    await assertOnlyPeerIsProxy(reader.ipfs, TCP)
  })

  // js-ipfs's mplex (7.x) resets a stream whose unread input passes 4 MiB,
  // and mplex has no flow control: whoever serves js-ipfs more than that on
  // one stream before js-ipfs reads it loses the stream
  it('a 16 MiB file over TCP: js-ipfs\'s preloader reports success, a fresh js-ipfs cats it byte for byte', async () => {
    await addPreloadCat(shared.topology.proxy.tcp, TCP, 16 * MiB)
  })

  it('a 3 MiB file over WebSockets: js-ipfs\'s preloader reports success, a fresh js-ipfs cats it byte for byte', async () => {
    await addPreloadCat(shared.topology.proxy.ws, WS)
  })
})
