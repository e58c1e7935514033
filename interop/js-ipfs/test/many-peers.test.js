/**
 * Many js-ipfs 0.18.1 apps at once, each with the proxy as its only
 * bootstrap and preload node, fetch content that an earlier app preloaded
 * and that only the downstream now holds.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { catWithin, createIpfs, waitForPeer } from '../src/ipfs.js'
import { sharedTopology } from '../src/shared-topology.js'
import { mark, waitForPreload } from '../src/preload-log.js'

const MiB = 1024 * 1024
const PEERS = 12

describe(`${PEERS} js-ipfs peers at once through kitsune proxy`, () => {
  const shared = sharedTopology()

  it(`${PEERS} fresh js-ipfs nodes, half over TCP and half over WebSockets, all cat a preloaded 2 MiB file byte for byte`, async (t) => {
    // an app adds and preloads the file, then goes away
    const publisher = await createIpfs({ bootstrap: [shared.topology.proxy.tcp], preload: shared.topology.proxy.preloadMultiaddr })
    shared.nodes.push(publisher)
    await waitForPeer(publisher.ipfs, shared.topology.proxy.peerId)
    const data = randomBytes(2 * MiB)
    const since = mark()
    const { cid } = await publisher.ipfs.add(data)
    await waitForPreload(cid, { since, timeout: 60_000 })
    await publisher.stop()

    // the readers are ordinary apps: preload on (their cat preloads too), in
    // this process; all started together, so they dial the proxy in the
    // same auto-dial tick
    const cpuBefore = process.cpuUsage()
    const started = Date.now()
    const readers = await Promise.all(Array.from({ length: PEERS }, async (_, i) => {
      const reader = await createIpfs({
        bootstrap: [i % 2 === 0 ? shared.topology.proxy.tcp : shared.topology.proxy.ws],
        preload: shared.topology.proxy.preloadMultiaddr
      })
      shared.nodes.push(reader)
      return reader
    }))
    const created = Date.now()

    const results = await Promise.allSettled(readers.map(async (reader, i) => {
      const fetched = await catWithin(reader.ipfs, cid, 90_000)
      assert.ok(fetched.equals(data), `reader ${i} got the added bytes`)
      const peers = await reader.ipfs.swarm.peers()
      assert.deepEqual(peers.map((p) => p.peer.toString()), [shared.topology.proxy.peerId], `reader ${i} is connected to the proxy only`)
      return Date.now() - created
    }))
    const failed = results.map((r, i) => r.status === 'rejected' ? `reader ${i}: ${r.reason?.message ?? r.reason}` : undefined).filter(Boolean)
    assert.deepEqual(failed, [], `every reader fetched the file (${failed.length} of ${PEERS} failed)`)

    const cpu = process.cpuUsage(cpuBefore)
    const memory = process.memoryUsage()
    const times = results.map((r) => r.status === 'fulfilled' ? r.value : NaN).sort((a, b) => a - b)
    t.diagnostic(`${PEERS} readers created in ${created - started} ms; cat done ${times[0]}..${times[times.length - 1]} ms after (js-ipfs dials its bootstrap peers on a 10 s tick)`)
    t.diagnostic(`this process: rss ${(memory.rss / MiB).toFixed(0)} MiB, heap used ${(memory.heapUsed / MiB).toFixed(0)} MiB, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms over ${Date.now() - started} ms`)
    const proxyRss = shared.topology.proxy.process.rss()
    const nodeRss = shared.topology.node.process.rss()
    t.diagnostic(`kitsune proxy rss ${((proxyRss ?? NaN) / MiB).toFixed(0)} MiB, kitsune node rss ${((nodeRss ?? NaN) / MiB).toFixed(0)} MiB`)
    // sanity: a dozen js-ipfs nodes fit in well under 2 GiB of one process
    assert.ok(memory.rss < 2048 * MiB, `rss ${memory.rss} bytes`)
  })
})
