/**
 * Role: a stock Helia node (test-support's createTestHelia: unmodified
 * @helia/bitswap, in-memory stores, loopback only) holding the Bitswap
 * benchmark's content. Clients fetch from it directly (the direct path) and
 * through the forwarder proxy.
 *
 * config (each part optional):
 *   file:   { bytes, seed }          a UnixFS file, @helia/unixfs defaults
 *   warmup: { bytes, seed }          a second, smaller file for warm-ups
 *   blocks: { count, size, seed }    separate raw-codec blocks
 *
 * info: the node's address and peer id, and the CIDs of what it holds
 */

import { createHash } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { createTestHelia, patternBytes } from '@kitsune/test-support'
// not declared in benchmarks/package.json (adding it needs a lock-file
// update); it resolves through the workspace, as a dependency of
// test-support
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { memoryHandlers } from '../memory.js'
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
  const helia = await createTestHelia()
  const fs = unixfs(helia)
  const info = {
    peerId: helia.libp2p.peerId.toString(),
    multiaddr: helia.libp2p.getMultiaddrs()[0].toString()
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
      connections: () => helia.libp2p.getConnections().length
    },
    stop: async () => { await helia.stop() }
  }
})
