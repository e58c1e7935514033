/**
 * Role: many light upstream peers in one process, for the memory figure.
 * Each is its own libp2p node (test-support's createTestNode: TCP, noise,
 * yamux, identify, ping; not listening) with its own connection to the
 * target, and speaks raw Bitswap 1.2.0 (src/bitswap-wire.js): it sends one
 * wantlist of want-blocks (send-dont-have set) and counts the blocks that
 * come back on the streams the target opens, checking each block's sha2-256
 * against the CIDs it asked for.
 *
 * config: { count }
 * Commands:
 *   connect    { addr, parallel }  every peer dials the target
 *   want       { cids: string[][], timeoutMs }  peer i wants cids[i]; resolves
 *              when every peer has all its blocks, or at the timeout with
 *              what arrived (so a stall is reported, not thrown)
 *   want-missing { count, wantType }  every peer sends one wantlist of
 *              `count` CIDs of random bytes (blocks nobody has), want-haves
 *              by default, and keeps it: the flood of issue 10, or, with a
 *              small count, idle peers that each keep a small wantlist
 *   disconnect                     every peer hangs up
 */

import { createHash, randomBytes } from 'node:crypto'
import { BITSWAP_120 } from '@kitsune/bitswap-forwarder'
import { createTestNode } from '@kitsune/test-support'
// not declared in benchmarks/package.json (adding them needs a lock-file
// update); they resolve through the workspace, as dependencies of
// test-support
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { decodeMessage, frameReader, wantlistFrame } from '../bitswap-wire.js'
import { serveRole } from '../rpc.js'

const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

/**
 * Counts a block a peer received: wanted (its sha2-256 is one the peer asked
 * for), a duplicate, or unwanted
 */
function onBlock (peer, data) {
  const key = createHash('sha256').update(data).digest('hex')
  const got = peer.wanted.get(key)
  if (got == null) {
    peer.unwanted++
  } else if (got) {
    peer.duplicates++
  } else {
    peer.wanted.set(key, true)
    peer.received++
    if (peer.received === peer.wanted.size) {
      peer.doneAt = performance.now()
      peer.onDone?.()
    }
  }
}

serveRole('bitswap-peers', async (config) => {
  const peers = []
  for (let i = 0; i < config.count; i++) {
    const node = await createTestNode({ listen: [] })
    const peer = {
      node,
      /** sha2-256 digest (hex) → received yet */
      wanted: new Map(),
      received: 0,
      duplicates: 0,
      unwanted: 0,
      dontHaves: 0,
      wantsSeen: 0,
      streams: 0,
      sentAt: 0,
      doneAt: 0,
      /** @type {(() => void) | undefined} */
      onDone: undefined
    }
    await node.handle(BITSWAP_120, (stream) => {
      peer.streams++
      const reader = frameReader()
      Promise.resolve().then(async () => {
        for await (const chunk of stream) {
          for (const bytes of reader.push(chunk)) {
            const message = decodeMessage(bytes)
            peer.wantsSeen += message.wants
            peer.dontHaves += message.presences.filter(p => p.dontHave).length
            for (const data of message.blocks) {
              onBlock(peer, data)
            }
          }
        }
      }).catch(() => {})
    }, { maxInboundStreams: 64 })
    peers.push(peer)
  }

  let target

  return {
    info: { count: peers.length },
    handlers: {
      connect: async ({ addr, parallel = 10 }) => {
        target = multiaddr(addr)
        let next = 0
        const worker = async () => {
          while (next < peers.length) {
            const peer = peers[next++]
            await peer.node.dial(target, { signal: AbortSignal.timeout(30_000) })
          }
        }
        await Promise.all(Array.from({ length: parallel }, worker))
        return { connected: peers.filter(p => p.node.getConnections().length > 0).length }
      },
      want: async ({ cids, timeoutMs = 120_000 }) => {
        if (cids.length !== peers.length) {
          throw new Error(`${cids.length} wantlists for ${peers.length} peers`)
        }
        const deadline = AbortSignal.timeout(timeoutMs)
        const all = peers.map(async (peer, i) => {
          const list = cids[i].map(c => CID.parse(c))
          peer.wanted = new Map(list.map(cid => [hex(cid.multihash.digest), false]))
          peer.received = 0
          peer.duplicates = 0
          peer.unwanted = 0
          peer.dontHaves = 0
          peer.wantsSeen = 0
          peer.streams = 0
          const done = new Promise(resolve => {
            peer.onDone = resolve
            deadline.addEventListener('abort', resolve, { once: true })
          })
          peer.sentAt = performance.now()
          const stream = await peer.node.dialProtocol(target, BITSWAP_120, { signal: AbortSignal.timeout(10_000) })
          stream.send(wantlistFrame(list))
          await stream.close()
          await done
        })
        const settled = await Promise.allSettled(all)
        const errors = settled.filter(s => s.status === 'rejected').map(s => String(s.reason?.message ?? s.reason))
        return {
          peers: peers.length,
          complete: peers.filter(p => p.received === p.wanted.size).length,
          wanted: peers.reduce((acc, p) => acc + p.wanted.size, 0),
          received: peers.reduce((acc, p) => acc + p.received, 0),
          duplicates: peers.reduce((acc, p) => acc + p.duplicates, 0),
          unwanted: peers.reduce((acc, p) => acc + p.unwanted, 0),
          dontHaves: peers.reduce((acc, p) => acc + p.dontHaves, 0),
          wantsSeen: peers.reduce((acc, p) => acc + p.wantsSeen, 0),
          inboundStreams: peers.reduce((acc, p) => acc + p.streams, 0),
          // per peer: wantlist sent → its last block (ms)
          completionMs: peers.filter(p => p.received === p.wanted.size).map(p => p.doneAt - p.sentAt),
          errors: errors.slice(0, 3),
          errorCount: errors.length
        }
      },
      'want-missing': async ({ count, wantType = 'have' }) => {
        let sent = 0
        await Promise.all(peers.map(async (peer) => {
          const cids = await Promise.all(Array.from({ length: count }, async () => CID.createV1(raw.code, await sha256.digest(randomBytes(32)))))
          const stream = await peer.node.dialProtocol(target, BITSWAP_120, { signal: AbortSignal.timeout(30_000) })
          stream.send(wantlistFrame(cids, { wantType }))
          await stream.close()
          sent += cids.length
        }))
        return { sent }
      },
      disconnect: async () => {
        await Promise.all(peers.map(async p => { await p.node.hangUp(target).catch(() => {}) }))
      }
    },
    stop: async () => { await Promise.all(peers.map(async p => { await p.node.stop() })) }
  }
})
