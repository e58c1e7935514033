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
 *   add-file     { bytes, seed, chunkBytes? }  adds a UnixFS file (the
 *                @helia/unixfs defaults, or fixed-size chunks of
 *                `chunkBytes`); returns its root and every block's CID
 *   push         { bytes, chunkSize? }  a plain stream on the same
 *                connection: opens a sink stream (src/protocols.js) to the
 *                target, which the forwarder proxy bridges to its downstream,
 *                sends `bytes` with back-pressure and waits for the ack
 *                (timed from opening the stream to the ack)
 *   preload      { url, cid, blocks }  what a js-ipfs-era app does after
 *                adding: `POST <url>/api/v0/refs?arg=<cid>&recursive=true`,
 *                timed from the request until the response ends, every line
 *                read; checks the status, that no line has an Err and that
 *                the refs are exactly `blocks` without the root
 *
 * The orchestrator warms each client up with an untimed fetch (or preload)
 * of other content over the same path before the timed one.
 */

import { createHash } from 'node:crypto'
import { unixfs } from '@helia/unixfs'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import * as dagPb from '@ipld/dag-pb'
import { createTestHelia, patternBytes } from '@kitsune/test-support'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sendToSink } from '../protocols.js'
import { serveRole } from '../rpc.js'

const BITSWAP_120 = '/ipfs/bitswap/1.2.0'

serveRole('helia-client', async () => {
  const helia = await createTestHelia()
  const fs = unixfs(helia)
  let target
  /** @type {import('@libp2p/interface').Connection | undefined} */
  let connection
  // the push's source, sent in slices over and over (as the stream
  // benchmark's client does)
  let pushSource

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

  /**
   * Every CID of a local UnixFS DAG (dag-pb nodes and raw leaves), root first
   */
  const dagCids = async (root) => {
    const out = []
    const queue = [root]
    while (queue.length > 0) {
      const cid = queue.shift()
      out.push(cid.toString())
      if (cid.code === dagPb.code) {
        const chunks = []
        for await (const chunk of helia.blockstore.get(cid, { offline: true })) {
          chunks.push(chunk)
        }
        queue.push(...dagPb.decode(Buffer.concat(chunks)).Links.map(link => link.Hash))
      }
    }
    return out
  }

  /**
   * POSTs a Kubo refs request and reads the NDJSON answer to its end; times
   * the response headers, the first ref line and the end
   */
  const refs = async (url, cid, timeoutMs) => {
    const start = performance.now()
    const response = await fetch(new URL(`/api/v0/refs?arg=${cid}&recursive=true`, url), { method: 'POST', signal: AbortSignal.timeout(timeoutMs) })
    const headersMs = performance.now() - start
    let firstRefMs
    let text = ''
    const lines = []
    const decoder = new TextDecoder()
    for await (const chunk of response.body) {
      firstRefMs ??= performance.now() - start
      text += decoder.decode(chunk, { stream: true })
      const end = text.lastIndexOf('\n')
      if (end >= 0) {
        lines.push(...text.slice(0, end).split('\n').filter(l => l !== ''))
        text = text.slice(end + 1)
      }
    }
    const ms = performance.now() - start
    text += decoder.decode()
    if (text.trim() !== '') {
      lines.push(text)
    }
    if (response.status !== 200) {
      throw new Error(`${url} answered ${response.status}: ${lines.join(' ').slice(0, 500)}`)
    }
    return { ms, headersMs, firstRefMs, lines: lines.map(l => JSON.parse(l)), streamError: response.headers.get('x-stream-error') }
  }

  return {
    info: { peerId: helia.libp2p.peerId.toString() },
    handlers: {
      connect: async ({ addr }) => {
        connection = await helia.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
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
      push: async ({ bytes, chunkSize = 64 * 1024 }) => {
        if (connection == null || connection.status !== 'open') {
          throw new Error('push: not connected to the target')
        }
        pushSource ??= patternBytes(1024 * 1024, 42)
        const result = await sendToSink(connection, { bytes, source: pushSource, chunkSize })
        if (result.received !== bytes) {
          throw new Error(`push: the sink reports ${result.received} bytes, sent ${bytes}`)
        }
        return { ms: result.ms, bytes, connectedTo: connectedTo() }
      },
      'add-file': async ({ bytes, seed, chunkBytes }) => {
        const data = patternBytes(bytes, seed)
        const cid = await fs.addBytes(data, chunkBytes == null ? {} : { chunker: fixedSize({ chunkSize: chunkBytes }) })
        return { cid: cid.toString(), bytes, blocks: await dagCids(cid) }
      },
      preload: async ({ url, cid, blocks, timeoutMs = 120_000 }) => {
        const result = await refs(url, cid, timeoutMs)
        const errors = result.lines.filter(l => l.Err !== '' || l.Type === 'error')
        if (errors.length > 0) {
          throw new Error(`${errors.length} error line(s): ${JSON.stringify(errors[0])}`)
        }
        const expected = new Set(blocks.filter(b => b !== cid))
        const got = new Set(result.lines.map(l => l.Ref))
        if (result.lines.length !== expected.size || got.size !== expected.size || [...expected].some(b => !got.has(b))) {
          throw new Error(`${result.lines.length} refs (${got.size} distinct), expected the ${expected.size} blocks of the DAG but the root`)
        }
        return { ms: result.ms, headersMs: result.headersMs, firstRefMs: result.firstRefMs, refs: result.lines.length, connectedTo: connectedTo() }
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
