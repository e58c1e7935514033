/**
 * The two protocols the benchmark runs, shared by the downstream (which
 * serves them), the proxy (which routes them) and the client (which uses
 * them).
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
