/**
 * @packageDocumentation
 *
 * Real libp2p and Helia nodes for Kitsune's tests and benchmarks. Every node
 * listens on 127.0.0.1 only and is built from explicit parts: no bootstrap,
 * no DHT, no mDNS, no delegated routing, no UPnP, so nothing leaves the
 * machine.
 */

import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { createLibp2p } from 'libp2p'
import { concat } from 'uint8arrays/concat'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, ServiceMap, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2pOptions, ServiceFactoryMap } from 'libp2p'

export const ECHO_PROTOCOL = '/kitsune-test/echo/1.0.0'

export interface BaseServices extends ServiceMap {
  identify: Identify
  ping: Ping
}

export interface TestNodeOptions<S extends ServiceMap = ServiceMap> {
  privateKey?: PrivateKey
  /** Extra services, merged with identify and ping */
  services?: ServiceFactoryMap<S>
  listen?: string[]
  /** Merged into the libp2p config last */
  config?: Partial<Libp2pOptions>
}

/**
 * The libp2p config every test node shares: TCP on 127.0.0.1, noise, yamux,
 * identify and ping, and a gater that allows loopback dials.
 */
export function loopbackConfig <S extends ServiceMap = ServiceMap> (options: TestNodeOptions<S> = {}): Libp2pOptions<BaseServices & S> {
  return {
    privateKey: options.privateKey,
    addresses: {
      listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0']
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialMultiaddr: () => false
    },
    connectionManager: {
      // tests start many peers on one host
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 1_000
    },
    ...options.config,
    services: {
      identify: identify(),
      ping: ping(),
      ...options.services
    } as any
  }
}

export async function createTestNode <S extends ServiceMap = ServiceMap> (options: TestNodeOptions<S> = {}): Promise<Libp2p<BaseServices & S>> {
  return createLibp2p(loopbackConfig(options))
}

export interface EchoOptions {
  maxInboundStreams?: number
}

/**
 * Registers an echo handler: every byte read is written back, and the write
 * side is closed when the remote closes theirs.
 */
export async function handleEcho (node: Libp2p, protocol: string = ECHO_PROTOCOL, options: EchoOptions = {}): Promise<void> {
  await node.handle(protocol, async (stream) => {
    try {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) {
          await drained(stream)
        }
      }
      await stream.close()
    } catch (err: any) {
      stream.abort(err)
    }
  }, {
    maxInboundStreams: options.maxInboundStreams ?? 1024,
    maxOutboundStreams: options.maxInboundStreams ?? 1024
  })
}

/**
 * Resolves on the stream's next 'drain' event, rejects if it closes first.
 * (`stream.onDrain()` in @libp2p/utils 7.4 resolves at once after the first
 * drain, so it cannot be used as a brake.)
 */
export async function drained (stream: Stream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      stream.removeEventListener('close', onClose)
      resolve()
    }
    const onClose = (evt: any): void => {
      stream.removeEventListener('drain', onDrain)
      reject(evt.error ?? new Error('Stream closed while waiting for drain'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

/**
 * Sends `data` in chunks with back-pressure, then half-closes the stream
 */
export async function sendAll (stream: Stream, data: Uint8Array, chunkSize = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += chunkSize) {
    if (!stream.send(data.subarray(offset, offset + chunkSize))) {
      await drained(stream)
    }
  }
  await stream.close()
}

/**
 * Reads the whole stream into one buffer
 */
export async function readAll (stream: Stream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) {
    chunks.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  }
  return concat(chunks)
}

/**
 * The first listen address of a node, with its `/p2p/<id>`
 */
export function addressOf (node: Libp2p): Multiaddr {
  const address = node.getMultiaddrs()[0]
  if (address == null) {
    throw new Error('node has no address')
  }
  return address
}

/**
 * Downstream pool timings that let tests see reconnects in milliseconds
 */
export const FAST_POOL = {
  reconnectInitialDelay: 50,
  reconnectMaxDelay: 500,
  dialTimeout: 2_000
}

/**
 * Sends `data` and reads the answer concurrently, as an echo client must
 */
export async function echoRoundTrip (stream: Stream, data: Uint8Array): Promise<Uint8Array> {
  const [received] = await Promise.all([readAll(stream), sendAll(stream, data)])
  return received
}

/**
 * Deterministic pseudo-random bytes (xorshift32), so a mismatch is reproducible
 */
export function patternBytes (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

export type TestHelia = HeliaWithLibp2p<BaseServices>

export interface TestHeliaOptions<H extends TestHelia = TestHelia> extends TestNodeOptions {
  /**
   * Adds Helia mixins (`withX(helia, …)`) before the node starts, e.g.
   * `helia => withPreload(helia, { listen: '/ip4/127.0.0.1/tcp/0' })`
   */
  extend?(helia: TestHelia): H
}

/**
 * A stock Helia node (unmodified `@helia/bitswap`) with in-memory stores and
 * the loopback libp2p config above. It routes nothing: blocks come only from
 * peers it is connected to.
 */
export async function createTestHelia <H extends TestHelia = TestHelia> (options: TestHeliaOptions<H> = {}): Promise<H> {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore()
  }), loopbackConfig(options))) as unknown as TestHelia
  const extended = options.extend?.(helia) ?? helia
  await extended.start()
  return extended as H
}

export { waitFor } from './wait.ts'
export { CHROMIUM_ARGS, CHROMIUM_LAUNCH_TIMEOUT, CHROMIUM_PATHS, ChromiumNotFoundError, findChromium, launchChromium } from './chromium.ts'
export type { Browser, BrowserContext, LaunchChromiumOptions, Page } from './chromium.ts'
export { markdownTables, normaliseDefault, tsdocOptions } from './readme.ts'
