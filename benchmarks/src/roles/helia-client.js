/**
 * Role: a stock Helia client (test-support's createTestHelia), fresh for
 * every measured fetch: the orchestrator forks one process per fetch, so no
 * block is ever local, no earlier node's garbage is in the heap, and the
 * client is connected to exactly one peer, its target (the Helia downstream
 * on the direct path, the forwarder proxy on the other).
 *
 * Commands:
 *   connect      { addr }  dial, then wait until identify lists Bitswap
 *   fetch-file   { cid, bytes, sha256 }  UnixFS cat, timed from the call to
 *                the last chunk; checked byte for byte (sha256) afterwards
 *   fetch-blocks { cids, concurrency, size }  helia.blockstore.get of
 *                separate raw blocks, `concurrency` in flight
 *
 * The orchestrator warms each client up with an untimed fetch of other
 * content over the same path before the timed one.
 */

import { createHash } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { createTestHelia } from '@kitsune/test-support'
// not declared in benchmarks/package.json (adding them needs a lock-file
// update); they resolve through the workspace, as dependencies of
// test-support
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { serveRole } from '../rpc.js'

const BITSWAP_120 = '/ipfs/bitswap/1.2.0'

serveRole('helia-client', async () => {
  const helia = await createTestHelia()
  const fs = unixfs(helia)
  let target

  /**
   * Fetches a whole file and returns its length and sha256 (hashed after
   * the last chunk arrived, outside the timed part)
   */
  const cat = async (cid, timeoutMs) => {
    const start = performance.now()
    const chunks = []
    let length = 0
    for await (const chunk of fs.cat(CID.parse(cid), { signal: AbortSignal.timeout(timeoutMs) })) {
      chunks.push(chunk)
      length += chunk.byteLength
    }
    const ms = performance.now() - start
    const hash = createHash('sha256')
    for (const chunk of chunks) {
      hash.update(chunk)
    }
    return { ms, length, sha256: hash.digest('hex') }
  }

  /**
   * Gets every CID with `concurrency` gets in flight; returns the time and
   * the bytes received (Helia verifies each block against its CID)
   */
  const getAll = async (cids, concurrency, timeoutMs) => {
    const signal = AbortSignal.timeout(timeoutMs)
    const parsed = cids.map(c => CID.parse(c))
    let next = 0
    let bytes = 0
    const worker = async () => {
      while (next < parsed.length) {
        const cid = parsed[next++]
        for await (const chunk of helia.blockstore.get(cid, { signal })) {
          bytes += chunk.byteLength
        }
      }
    }
    const start = performance.now()
    await Promise.all(Array.from({ length: Math.min(concurrency, parsed.length) }, worker))
    return { ms: performance.now() - start, bytes }
  }

  const connectedTo = () => helia.libp2p.getConnections().map(c => c.remotePeer.toString())

  return {
    info: { peerId: helia.libp2p.peerId.toString() },
    handlers: {
      connect: async ({ addr }) => {
        const connection = await helia.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
        target = connection.remotePeer
        const deadline = Date.now() + 10_000
        for (;;) {
          const peer = await helia.libp2p.peerStore.get(target).catch(() => undefined)
          if (peer?.protocols.includes(BITSWAP_120) === true) {
            break
          }
          if (Date.now() > deadline) {
            throw new Error(`identify: ${addr} does not list ${BITSWAP_120}`)
          }
          await new Promise(resolve => setTimeout(resolve, 10))
        }
        return { remotePeer: target.toString() }
      },
      'fetch-file': async ({ cid, bytes, sha256, timeoutMs = 120_000 }) => {
        const result = await cat(cid, timeoutMs)
        if (result.length !== bytes || result.sha256 !== sha256) {
          throw new Error(`fetched ${result.length} bytes (sha256 ${result.sha256}), expected ${bytes} (${sha256})`)
        }
        return { ms: result.ms, bytes: result.length, connectedTo: connectedTo() }
      },
      'fetch-blocks': async ({ cids, concurrency, size, timeoutMs = 120_000 }) => {
        const result = await getAll(cids, concurrency, timeoutMs)
        if (result.bytes !== cids.length * size) {
          throw new Error(`got ${result.bytes} bytes of blocks, expected ${cids.length * size}`)
        }
        return { ms: result.ms, blocks: cids.length, connectedTo: connectedTo() }
      }
    },
    stop: async () => { await helia.stop() }
  }
})
