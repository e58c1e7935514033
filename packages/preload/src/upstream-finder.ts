import { isIPv4, isIPv6 } from 'node:net'
import { normaliseAddress } from './api-server.ts'
import type { DownstreamPool } from '@kitsune/proxy'
import type { PeerId } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The IP address a connection comes from, if its remote address has one
 * (relayed connections and DNS names have none we can compare)
 */
export function hostOf (address: Multiaddr): string | undefined {
  const components = address.getComponents()
  if (components.some(c => c.name === 'p2p-circuit')) {
    return undefined
  }
  const host = components.find(c => c.name === 'ip4' || c.name === 'ip6')?.value
  if (host == null || (!isIPv4(host) && !isIPv6(host))) {
    return undefined
  }
  return normaliseAddress(host)
}

export interface UpstreamFinderComponents {
  connectionManager: ConnectionManager
}

/**
 * Finds the upstream peers that an HTTP caller may be: the peers connected to
 * the proxy from the caller's IP address, downstreams excluded. A browser that
 * added content and then called its preload node is connected to it from the
 * address its HTTP request comes from (the js-ipfs preload flow).
 */
export class UpstreamFinder {
  private readonly components: UpstreamFinderComponents
  private readonly pool: DownstreamPool

  constructor (components: UpstreamFinderComponents, pool: DownstreamPool) {
    this.components = components
    this.pool = pool
  }

  /**
   * Peers connected from `address`, most recently connected first (the
   * caller is most likely the one that just added content), at most `limit`
   */
  from (address: string, limit: number): PeerId[] {
    const wanted = normaliseAddress(address)
    return this.matching(host => host === wanted, limit)
  }

  /**
   * Peers connected from any address `accept` takes, newest first, at most
   * `limit`
   */
  matching (accept: (host: string) => boolean, limit: number): PeerId[] {
    const newest = new Map<string, { peer: PeerId, opened: number }>()

    for (const connection of this.components.connectionManager.getConnections()) {
      const host = hostOf(connection.remoteAddr)
      if (connection.status !== 'open' || host == null || !accept(host)) {
        continue
      }
      if (this.pool.isDownstream(connection.remotePeer)) {
        continue
      }
      const key = connection.remotePeer.toString()
      const opened = connection.timeline.open
      const known = newest.get(key)
      if (known == null || known.opened < opened) {
        newest.set(key, { peer: connection.remotePeer, opened })
      }
    }

    return [...newest.values()]
      .sort((a, b) => b.opened - a.opened)
      .slice(0, limit)
      .map(entry => entry.peer)
  }
}
