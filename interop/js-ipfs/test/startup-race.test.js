/**
 * The start-up race: js-ipfs preloads before its connection to the proxy
 * is up — the empty directory it creates at init, and whatever an app adds
 * right after `create()` resolves. js-ipfs 0.18 dials its bootstrap peers
 * only on libp2p 0.42's auto-dial tick (every 10 s; the bootstrap module
 * announces them after 1 s), so those preload calls reach the proxy ~10 s
 * before the caller's peer does.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { downstreamRefs } from '../src/downstream.js'
import { catWithin, createIpfs } from '../src/ipfs.js'
import { sharedTopology } from '../src/shared-topology.js'
import { mark, waitForPreload } from '../src/preload-log.js'

const MiB = 1024 * 1024
/** The empty unixfs directory js-ipfs creates (and preloads) at init */
const EMPTY_DIR = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn'
const PRELOAD_TIMEOUT = 60_000

describe('the start-up race: js-ipfs preloads before it is connected to kitsune proxy', () => {
  const shared = sharedTopology()

  it('content added right after create() resolves, and the init-time empty directory, are both "successfully preloaded"', async () => {
    const since = mark()
    const app = await createIpfs({ bootstrap: [shared.topology.proxy.tcp], preload: shared.topology.proxy.preloadMultiaddr })
    shared.nodes.push(app)

    // straight after create(): not yet connected to anyone
    assert.deepEqual(await app.ipfs.swarm.peers(), [], 'js-ipfs is not connected to the proxy yet')
    const data = randomBytes(2 * MiB)
    const { cid } = await app.ipfs.add(data)
    // the add (and with it js-ipfs's preload call) happened before the connection
    assert.deepEqual(await app.ipfs.swarm.peers(), [], 'the preload call was made before js-ipfs connected')

    const [file, emptyDir] = await Promise.all([
      waitForPreload(cid, { since, timeout: PRELOAD_TIMEOUT }),
      waitForPreload(EMPTY_DIR, { since, timeout: PRELOAD_TIMEOUT })
    ])
    assert.ok(file.ms >= 0 && emptyDir.ms >= 0)

    // the downstream holds both now, with the app gone
    await app.stop()
    for (const root of [cid.toString(), EMPTY_DIR]) {
      const { status, errors } = await downstreamRefs(shared.topology.node.api, root)
      assert.equal(status, 200, `the downstream answers refs of ${root}`)
      assert.deepEqual(errors, [], `the downstream holds all of ${root}`)
    }

    // and serves the file through the proxy, byte for byte
    const reader = await createIpfs({ bootstrap: [shared.topology.proxy.tcp] })
    shared.nodes.push(reader)
    const fetched = await catWithin(reader.ipfs, cid, 60_000)
    assert.ok(fetched.equals(data), 'the fetched bytes are the added bytes')
  })
})
