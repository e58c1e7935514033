import { INBOUND_CONNECTION_THRESHOLD, MAX_CONNECTIONS, MAX_INCOMING_PENDING_CONNECTIONS } from './constants.ts'

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
