import { INBOUND_CONNECTION_THRESHOLD, MAX_CONNECTIONS, MAX_INCOMING_PENDING_CONNECTIONS, MAX_STREAM_WINDOW } from './constants.ts'

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
