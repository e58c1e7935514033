/**
 * Role: the client (an upstream peer). Holds one connection to the
 * downstream (direct path) and one to the proxy, and runs the transfers and
 * latency probes the orchestrator asks for.
 */

import { createTestNode, patternBytes } from '@kitsune/test-support'
// not declared in benchmarks/package.json (adding it needs a lock-file
// update); it resolves through the workspace, as a dependency of
// test-support and proxy
import { multiaddr } from '@multiformats/multiaddr'
import { serveRole } from '../rpc.js'
import { ECHO_PROTOCOL, sendToSink } from '../protocols.js'

const STREAM_TIMEOUT = 10_000

serveRole('client', async () => {
  const node = await createTestNode()
  /** @type {Map<string, {addr: import('@multiformats/multiaddr').Multiaddr, connection: import('@libp2p/interface').Connection}>} */
  const targets = new Map()
  // one source buffer, sent in `chunkSize` slices over and over; nothing
  // mutates it, so re-sending the same bytes is safe
  const source = patternBytes(1024 * 1024, 42)

  const connectionTo = async (name) => {
    const target = targets.get(name)
    if (target == null) {
      throw new Error(`unknown target ${name}`)
    }
    if (target.connection.status !== 'open') {
      target.connection = await node.dial(target.addr)
    }
    return target.connection
  }

  /**
   * Opens a sink stream, sends `bytes` with back-pressure, half-closes and
   * waits for the receiver's ack. The clock covers opening the stream to
   * the ack.
   */
  const throughput = async ({ target, bytes, chunkSize = 64 * 1024, paceMBps }) => {
    const connection = await connectionTo(target)
    const { received, ms, closedMs } = await sendToSink(connection, { bytes, source, chunkSize, paceMBps, openTimeout: STREAM_TIMEOUT })
    if (received !== bytes) {
      throw new Error(`${target}: receiver reports ${received} bytes, sent ${bytes}`)
    }
    return { bytes, ms, closedMs }
  }

  const ONE_BYTE = new Uint8Array([0x2a])

  /**
   * One latency sample: open an echo stream, send one byte, stop the clock
   * on the first byte back. Then close and wait for the stream to end (not
   * timed) so samples never overlap.
   */
  const probe = async (name) => {
    const connection = await connectionTo(name)
    const start = performance.now()
    const stream = await connection.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(STREAM_TIMEOUT) })
    const closed = new Promise((resolve, reject) => {
      stream.addEventListener('close', (evt) => {
        if (evt.error != null) { reject(evt.error) } else { resolve() }
      }, { once: true })
    })
    closed.catch(() => {})
    const first = new Promise((resolve, reject) => {
      stream.addEventListener('message', () => { resolve(performance.now()) }, { once: true })
      closed.then(() => reject(new Error('stream closed before the echo')), reject)
    })
    first.catch(() => {})
    stream.send(ONE_BYTE)
    const end = await first
    await stream.close()
    const timeout = AbortSignal.timeout(STREAM_TIMEOUT)
    await Promise.race([closed, new Promise((_resolve, reject) => {
      timeout.addEventListener('abort', () => reject(new Error(`${name}: echo stream did not close`)))
    })])
    return end - start
  }

  return {
    info: { peerId: node.peerId.toString() },
    handlers: {
      connect: async ({ name, addr }) => {
        const ma = multiaddr(addr)
        const connection = await node.dial(ma)
        targets.set(name, { addr: ma, connection })
        return { remotePeer: connection.remotePeer.toString() }
      },
      throughput,
      /**
       * `warmup` + `samples` rounds; each round probes every target once, in
       * an order that alternates, so drift and noise hit all paths alike
       */
      latency: async ({ names, warmup, samples }) => {
        const out = Object.fromEntries(names.map(n => [n, []]))
        for (let i = 0; i < warmup + samples; i++) {
          const order = i % 2 === 0 ? names : [...names].reverse()
          for (const name of order) {
            const ms = await probe(name)
            if (i >= warmup) {
              out[name].push(ms)
            }
          }
        }
        return out
      }
    },
    stop: async () => { await node.stop() }
  }
})
