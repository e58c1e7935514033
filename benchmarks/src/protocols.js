/**
 * The two protocols the stream benchmark runs, shared by the downstream
 * (which serves them), the proxy (which routes them) and the client (which
 * uses them). The Bitswap benchmark uses the sink too, for the plain bridged
 * stream its Bitswap CPU figure is compared with.
 */

import { drained } from '@kitsune/test-support'

/**
 * One-way bulk transfer: the sender writes N bytes and half-closes; the
 * receiver reads and discards everything, then answers with an 8-byte
 * big-endian count of the bytes it received and closes. The sender stops its
 * clock on that ack, so the figure covers every byte arriving, not just
 * leaving.
 */
export const SINK_PROTOCOL = '/kitsune-bench/sink/1.0.0'

/** Echo (test-support's handler) for the stream-opening latency figure */
export const ECHO_PROTOCOL = '/kitsune-bench/echo/1.0.0'

export const ACK_LENGTH = 8

/**
 * Registers the sink handler on `node`
 *
 * @param {import('@libp2p/interface').Libp2p} node
 */
export async function handleSink (node) {
  await node.handle(SINK_PROTOCOL, async (stream) => {
    try {
      let received = 0
      for await (const chunk of stream) {
        received += chunk.byteLength
      }
      const ack = new Uint8Array(ACK_LENGTH)
      new DataView(ack.buffer).setBigUint64(0, BigInt(received))
      if (!stream.send(ack)) {
        await drained(stream)
      }
      await stream.close()
    } catch (err) {
      stream.abort(err)
    }
  }, {
    maxInboundStreams: 64,
    maxOutboundStreams: 64
  })
}

/**
 * Opens a sink stream on `connection`, sends `bytes` in `chunkSize`
 * `send()`s (slices of `source`, over and over: nothing mutates it) with
 * back-pressure (waits for 'drain'), optionally paced, half-closes and waits
 * for the receiver's ack. The clock runs from opening the stream to the ack.
 * The caller checks `received` (the receiver's count) against `bytes`.
 *
 * @param {import('@libp2p/interface').Connection} connection
 * @param {object} options
 * @param {number} options.bytes
 * @param {Uint8Array} options.source
 * @param {number} [options.chunkSize]
 * @param {number} [options.paceMBps] hold the average rate to this (MB/s)
 * @param {number} [options.openTimeout] ms to open the stream
 * @returns {Promise<{ received: number, ms: number, closedMs: number }>}
 */
export async function sendToSink (connection, { bytes, source, chunkSize = 64 * 1024, paceMBps, openTimeout = 10_000 }) {
  const start = performance.now()
  const stream = await connection.newStream(SINK_PROTOCOL, { signal: AbortSignal.timeout(openTimeout) })
  const ack = readAck(stream)
  ack.catch(() => {})
  let sent = 0
  let offset = 0
  while (sent < bytes) {
    const n = Math.min(chunkSize, bytes - sent, source.byteLength - offset)
    if (!stream.send(source.subarray(offset, offset + n))) {
      await drained(stream)
    }
    sent += n
    offset = (offset + n) % source.byteLength
    if (paceMBps != null) {
      // hold the average rate to paceMBps (so nobody waits for a core)
      const wait = start + (sent / (paceMBps * 1e6)) * 1000 - performance.now()
      if (wait > 1) {
        await new Promise(resolve => setTimeout(resolve, wait))
      }
    }
  }
  await stream.close()
  const closedMs = performance.now() - start
  const received = await ack
  return { received, ms: performance.now() - start, closedMs }
}

/**
 * Collects the sink's ack from `stream`. Attach it as soon as the stream
 * exists (v3 streams deliver 'message' events whether or not anyone listens).
 *
 * @param {import('@libp2p/interface').Stream} stream
 * @returns {Promise<number>} the byte count the receiver reports
 */
export function readAck (stream) {
  return new Promise((resolve, reject) => {
    const parts = []
    let length = 0
    const onMessage = (evt) => {
      const bytes = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      parts.push(bytes)
      length += bytes.byteLength
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', (evt) => {
      stream.removeEventListener('message', onMessage)
      if (evt.error != null) {
        reject(evt.error)
        return
      }
      if (length !== ACK_LENGTH) {
        reject(new Error(`sink ack was ${length} bytes, expected ${ACK_LENGTH}`))
        return
      }
      const ack = new Uint8Array(ACK_LENGTH)
      let offset = 0
      for (const p of parts) {
        ack.set(p, offset)
        offset += p.byteLength
      }
      resolve(Number(new DataView(ack.buffer).getBigUint64(0)))
    }, { once: true })
  })
}
