import { mplex } from '@libp2p/mplex'
import { INBOUND_CONNECTION_THRESHOLD, MAX_CONNECTIONS, MAX_INCOMING_PENDING_CONNECTIONS, MAX_STREAM_WINDOW, MPLEX_MAX_MESSAGE_SIZE, MPLEX_MAX_UNPROCESSED_BYTES, MPLEX_NEW_STREAMS_PER_SECOND } from './constants.ts'
import type { StreamMuxerFactory } from '@libp2p/interface'
import type { MplexInit } from '@libp2p/mplex'

/**
 * Connection limits for a node that many peers reach through few addresses
 */
export interface FrontDoorLimits {
  /**
   * New inbound connections per second accepted from one host. libp2p's
   * default (5) refuses peers behind a shared NAT or a test on loopback.
   *
   * @default 100
   */
  inboundConnectionThreshold?: number
  /**
   * Inbound connections that may be mid-upgrade at once
   *
   * @default 256
   */
  maxIncomingPendingConnections?: number
  /**
   * Connections held before the least valuable are pruned (downstreams are
   * tagged and never pruned)
   *
   * @default 2048
   */
  maxConnections?: number
}

/**
 * The `connectionManager` settings of a front-door node. Spread the result
 * into `createLibp2p({ connectionManager })`: these are libp2p options, read
 * when the node is created, so the proxy service cannot set them itself.
 *
 * @example
 *
 * ```typescript
 * import { frontDoorConnectionManager } from '@kitsune/proxy'
 * import { createLibp2p } from 'libp2p'
 *
 * const node = await createLibp2p({
 *   connectionManager: frontDoorConnectionManager({ maxConnections: 4096 })
 * })
 * ```
 */
export function frontDoorConnectionManager (limits: FrontDoorLimits = {}): Required<FrontDoorLimits> {
  return {
    inboundConnectionThreshold: limits.inboundConnectionThreshold ?? INBOUND_CONNECTION_THRESHOLD,
    maxIncomingPendingConnections: limits.maxIncomingPendingConnections ?? MAX_INCOMING_PENDING_CONNECTIONS,
    maxConnections: limits.maxConnections ?? MAX_CONNECTIONS
  }
}

export interface FrontDoorMuxerLimits {
  /**
   * The largest receive window of one stream. A bridge pauses the side whose
   * peer sends faster than the other side reads, and pausing only stops
   * window updates: this is what can still arrive, and so what the proxy may
   * hold per paused stream. yamux's own default grows to 16 MiB.
   *
   * @default 1048576
   */
  maxStreamWindowSize?: number
}

/**
 * Options for `yamux()` on a front-door node, so that a paused bridge holds at
 * most one receive window per stream. Keep `maxBufferedBytes` of every route
 * at or above this window.
 *
 * @example
 *
 * ```typescript
 * import { yamux } from '@libp2p/yamux'
 * import { frontDoorMuxerOptions } from '@kitsune/proxy'
 *
 * const muxer = yamux(frontDoorMuxerOptions())
 * ```
 */
export function frontDoorMuxerOptions (limits: FrontDoorMuxerLimits = {}): { streamOptions: { maxStreamWindowSize: number } } {
  return {
    streamOptions: {
      maxStreamWindowSize: limits.maxStreamWindowSize ?? MAX_STREAM_WINDOW
    }
  }
}

/**
 * mplex limits for a node that js-ipfs-era peers reach: they speak only
 * mplex, and their Bitswap opens a new stream for every message
 */
export interface FrontDoorMplexLimits {
  /**
   * New streams one connection may open per second; one more closes the
   * connection (mplex has no flow control, so this is its only brake on a
   * stream flood). `@libp2p/mplex` defaults to 5, which cuts off a js-ipfs
   * Bitswap client within its first file.
   *
   * @default 500
   */
  mplexNewStreamsPerSecond?: number
  /**
   * The largest mplex frame a peer may send; a larger one closes the
   * connection
   *
   * @default 1048576
   */
  mplexMaxMessageSize?: number
  /**
   * Bytes of undecoded mplex frames one connection may hold; more close it
   *
   * @default 4194304
   */
  mplexMaxUnprocessedBytes?: number
}

/**
 * The options `mplex()` of `@libp2p/mplex` takes for these limits
 */
export function frontDoorMplexOptions (limits: FrontDoorMplexLimits = {}): MplexInit {
  return {
    disconnectThreshold: limits.mplexNewStreamsPerSecond ?? MPLEX_NEW_STREAMS_PER_SECOND,
    maxMessageSize: limits.mplexMaxMessageSize ?? MPLEX_MAX_MESSAGE_SIZE,
    maxUnprocessedMessageQueueSize: limits.mplexMaxUnprocessedBytes ?? MPLEX_MAX_UNPROCESSED_BYTES
  }
}

/**
 * mplex for a front-door node, so that js-ipfs and other js-libp2p 0.x
 * peers (mplex only) are served rather than cut off, while a peer that
 * floods new streams, or sends oversized frames, loses its connection.
 *
 * @example
 *
 * ```typescript
 * import { yamux } from '@libp2p/yamux'
 * import { frontDoorMplex, frontDoorMuxerOptions } from '@kitsune/proxy'
 *
 * const streamMuxers = [yamux(frontDoorMuxerOptions()), frontDoorMplex()]
 * ```
 */
export function frontDoorMplex (limits: FrontDoorMplexLimits = {}): () => StreamMuxerFactory {
  const createFactory = mplex(frontDoorMplexOptions(limits))
  return () => {
    const factory = createFactory()
    return {
      protocol: factory.protocol,
      createStreamMuxer: (maConn) => {
        const muxer = factory.createStreamMuxer(maConn)
        // @libp2p/mplex 12 aborts its streams past a limit but leaves the
        // connection up, so the peer would hang on a dead muxer instead of
        // reconnecting: take the connection down with it
        const abort = muxer.abort.bind(muxer)
        muxer.abort = (err: Error) => {
          abort(err)
          maConn.abort(err)
        }
        return muxer
      }
    }
  }
}
