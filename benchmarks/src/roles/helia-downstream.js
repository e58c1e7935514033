/**
 * Role: a stock Helia node (test-support's createTestHelia: unmodified
 * @helia/bitswap, in-memory stores, loopback only). In the Bitswap benchmark
 * it holds the content that clients fetch directly (the direct path) and
 * through the forwarder proxy; in the preload benchmark it starts empty, with
 * `withPreload` from @kitsune/preload, and fetches what it is asked to
 * preload from the peers connected to it.
 *
 * config (each part optional):
 *   file:    { bytes, seed }         a UnixFS file, @helia/unixfs defaults
 *   warmup:  { bytes, seed }         a second, smaller file for warm-ups
 *   blocks:  { count, size, seed }   separate raw-codec blocks
 *   preload: WithPreloadInit (JSON)  add the Kubo-compatible preload API,
 *                                    listening on 127.0.0.1 (port chosen by
 *                                    the OS)
 *   sink:    true                    also serve the sink protocol
 *                                    (src/protocols.js): the end of the
 *                                    plain bridged stream that the Bitswap
 *                                    benchmark compares the forwarder with
 *
 * info: the node's address and peer id, the CIDs of what it holds, and with
 * `preload` the API's base URL (`api`)
 *
 * Commands (besides rpc.js's and memory.js's):
 *   connections  how many connections the node has
 *   peers        the peer ids it is connected to
 *   has { cids } which of `cids` its blockstore holds: { held, missing }
 */

import { createHash } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { createTestHelia, patternBytes } from '@kitsune/test-support'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { memoryHandlers } from '../memory.js'
import { handleSink } from '../protocols.js'
import { serveRole } from '../rpc.js'

/**
 * `count` raw blocks of `size` bytes, each different (its own pattern seed)
 *
 * @param {{ count: number, size: number, seed: number }} spec
 */
async function makeRawBlocks ({ count, size, seed }) {
  const out = []
  for (let i = 0; i < count; i++) {
    const data = patternBytes(size, seed + i)
    out.push({ cid: CID.createV1(raw.code, await sha256.digest(data)), data })
  }
  return out
}

serveRole('helia-downstream', async (config) => {
  // the Bitswap benchmark does not load @kitsune/preload
  const withPreload = config.preload == null ? undefined : (await import('@kitsune/preload')).withPreload
  const helia = await createTestHelia(withPreload == null
    ? {}
    : { extend: h => withPreload(h, { ...config.preload, listen: '/ip4/127.0.0.1/tcp/0' }) })
  const fs = unixfs(helia)
  if (config.sink === true) {
    await handleSink(helia.libp2p)
  }
  const info = {
    peerId: helia.libp2p.peerId.toString(),
    multiaddr: helia.libp2p.getMultiaddrs()[0].toString(),
    api: helia.preload?.url?.href
  }

  for (const name of ['file', 'warmup']) {
    const spec = config[name]
    if (spec == null) {
      continue
    }
    const bytes = patternBytes(spec.bytes, spec.seed)
    // the defaults of @helia/unixfs 8: CIDv1, raw leaves, 1 MiB chunks,
    // balanced DAG of up to 1,024 links per node
    const cid = await fs.addBytes(bytes)
    info[name] = {
      cid: cid.toString(),
      bytes: spec.bytes,
      sha256: createHash('sha256').update(bytes).digest('hex')
    }
  }

  if (config.blocks != null) {
    const blocks = await makeRawBlocks(config.blocks)
    for (const { cid, data } of blocks) {
      await helia.blockstore.put(cid, data)
    }
    info.blocks = {
      cids: blocks.map(b => b.cid.toString()),
      size: config.blocks.size
    }
  }

  return {
    info,
    handlers: {
      ...memoryHandlers(),
      connections: () => helia.libp2p.getConnections().length,
      peers: () => helia.libp2p.getConnections().map(c => c.remotePeer.toString()),
      has: async ({ cids }) => {
        const missing = []
        for (const cid of cids) {
          if (!(await helia.blockstore.has(CID.parse(cid)))) {
            missing.push(cid)
          }
        }
        return { held: cids.length - missing.length, missing }
      }
    },
    stop: async () => { await helia.stop() }
  }
})
