import { isIPv4, isIPv6 } from 'node:net'
import { normaliseAddress } from './api-server.ts'
import type { DownstreamPool } from '@kitsune/proxy'
import type { Connection, PeerId, PeerStore } from '@libp2p/interface'
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

/**
 * Whether two IP addresses are the same once IPv4-mapped IPv6 is unwrapped
 */
function sameHost (a: string, b: string): boolean {
  return normaliseAddress(a) === normaliseAddress(b)
}

export interface UpstreamFinderComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
}

/**
 * Finds the upstream peers that an HTTP caller may be: the peers connected to
 * the proxy from the caller's host, downstreams excluded. A browser that
 * added content and then called its preload node is connected to it from the
 * address its HTTP request comes from (the js-ipfs preload flow); a node that
 * listens on several addresses may connect from another one of them, which
 * its identify record lists.
 */
export class UpstreamFinder {
  private readonly components: UpstreamFinderComponents
  private readonly pool: DownstreamPool

  constructor (components: UpstreamFinderComponents, pool: DownstreamPool) {
    this.components = components
    this.pool = pool
  }

  /**
   * Peers connected from the host of `address`, most recently connected
   * first (the caller is most likely the one that just added content), at
   * most `limit`. Peers whose own listen addresses include `address` come
   * after those.
   */
  async from (address: string, limit: number): Promise<PeerId[]> {
    const direct = this.matching(host => sameHost(host, address), limit)
    if (direct.length >= limit) {
      return direct
    }
    const listed: PeerId[] = []
    for (const connection of this.upstreamConnections()) {
      if (direct.length + listed.length >= limit) {
        break
      }
      const peer = connection.remotePeer
      if (!direct.some(known => known.equals(peer)) && !listed.some(known => known.equals(peer)) && await this.lists(peer, address)) {
        listed.push(peer)
      }
    }
    return [...direct, ...listed]
  }

  /**
   * Whether a connection may be the caller at `address`'s: it comes from the
   * same host, or its peer lists the address as one of its own
   */
  async isFrom (connection: Connection, address: string): Promise<boolean> {
    if (!this.isUpstream(connection)) {
      return false
    }
    const host = hostOf(connection.remoteAddr)
    if (host != null && sameHost(host, address)) {
      return true
    }
    return this.lists(connection.remotePeer, address)
  }

  /**
   * Whether an open, non-downstream connection comes from a host `accept`
   * takes
   */
  comesFrom (connection: Connection, accept: (host: string) => boolean): boolean {
    const host = hostOf(connection.remoteAddr)
    return this.isUpstream(connection) && host != null && accept(host)
  }

  /**
   * Peers connected from any address `accept` takes, newest first, at most
   * `limit`
   */
  matching (accept: (host: string) => boolean, limit: number): PeerId[] {
    const newest = new Map<string, { peer: PeerId, opened: number }>()

    for (const connection of this.upstreamConnections()) {
      if (!this.comesFrom(connection, accept)) {
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

  private upstreamConnections (): Connection[] {
    return this.components.connectionManager.getConnections().filter(connection => this.isUpstream(connection))
  }

  private isUpstream (connection: Connection): boolean {
    return connection.status === 'open' && !this.pool.isDownstream(connection.remotePeer)
  }

  /**
   * Whether the peer's known addresses (its identify listen addresses) are
   * on the host of `address`
   */
  private async lists (peer: PeerId, address: string): Promise<boolean> {
    try {
      const { addresses } = await this.components.peerStore.get(peer)
      return addresses.some(({ multiaddr }) => {
        const host = hostOf(multiaddr)
        return host != null && sameHost(host, address)
      })
    } catch {
      return false
    }
  }
}
