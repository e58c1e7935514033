import { serviceCapabilities } from '@libp2p/interface'
import { getNetConfig } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit, TCP as TCPMatcher } from '@multiformats/multiaddr-matcher'
import { sha256 } from '@noble/hashes/sha2.js'
import { TypedEventEmitter } from 'main-event'
import { AddressPolicy } from './address-policy.ts'
import {
  DEFAULT_MAX_FAILED_RELAYS, DEFAULT_NETWORK_PREFIX_V4, DEFAULT_RELAY_CANDIDATES, DEFAULT_RELAY_CHECK_INTERVAL, DEFAULT_RELAY_COUNT,
  DEFAULT_RELAY_SEARCH_TIMEOUT, DEFAULT_RETRY_FAILED_RELAY_AFTER, RELAY_HOP_PROTOCOL
} from './constants.ts'
import { InvalidOptionError, NoRelaysError } from './errors.ts'
import type { AbortOptions, ComponentLogger, Libp2pEvents, Logger, PeerId, PeerInfo, PeerRouting, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ClosestRelaysInit {
  /**
   * On how many of the XOR-closest relays to hold a reservation
   *
   * @default 2
   */
  count?: number
  /**
   * How many candidates the closest-peers query keeps
   *
   * @default 20
   */
  candidates?: number
  /**
   * How often reservations are checked and replaced, in ms (0 disables)
   *
   * @default 30000
   */
  checkInterval?: number
  /**
   * How long one DHT search may take, in ms
   *
   * @default 15000
   */
  searchTimeout?: number
  /**
   * Prefer relays whose addresses are in different networks of this IPv4
   * prefix length
   *
   * @default 24
   */
  networkPrefix?: number
  /**
   * Address ranges that count as public (e.g. a lab's `198.18.0.0/15`)
   *
   * @default []
   */
  publicCidrs?: string[]
  /**
   * Reserve as soon as the node starts (otherwise call `reserve()`, e.g.
   * after a reachability check said not-reachable)
   *
   * @default false
   */
  autoReserve?: boolean
  /**
   * A relay that refused a reservation or went away is passed over for this
   * long, in ms, then tried again
   *
   * @default 300000
   */
  retryFailedAfter?: number
  /**
   * The most failed relays remembered (the oldest are forgotten first)
   *
   * @default 256
   */
  maxFailed?: number
}

export interface ClosestRelaysComponents {
  peerId: PeerId
  peerRouting: PeerRouting
  peerStore: PeerStore
  connectionManager: ConnectionManager
  transportManager: TransportManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** A reservation is held */
export interface RelayReservedDetail {
  relay: PeerId
  addr: Multiaddr
  distance: string
  /** The relay's network (its address under `networkPrefix`) */
  network: string
}
/** A reservation was lost */
export interface RelayLostDetail { relay: PeerId, reason: string }

export interface ClosestRelaysEvents {
  'relay:reserved': CustomEvent<RelayReservedDetail>
  'relay:lost': CustomEvent<RelayLostDetail>
  'relay:error': CustomEvent<{ relay?: PeerId, error: Error }>
}

/** A relay-capable public peer and its XOR distance to a target */
export interface RelayCandidate {
  peer: PeerId
  addrs: Multiaddr[]
  /** XOR of sha256(target) and sha256(peer), hex */
  distance: string
  network: string
}

/** The Kademlia key of a peer id: sha256 of its multihash bytes (as kad-dht) */
export function kadKey (peer: PeerId): Uint8Array {
  return sha256(peer.toMultihash().bytes)
}

/** XOR distance between two peers' Kademlia keys, as hex (compare as strings) */
export function xorDistance (a: PeerId, b: PeerId): string {
  const ka = kadKey(a)
  const kb = kadKey(b)
  let out = ''
  for (let i = 0; i < ka.length; i++) {
    out += (ka[i] ^ kb[i]).toString(16).padStart(2, '0')
  }
  return out
}

/**
 * Picks `count` relays: closest first, but a relay in a network already
 * used is passed over while one in a new network remains
 */
export function pickRelays (sorted: RelayCandidate[], count: number): RelayCandidate[] {
  const out: RelayCandidate[] = []
  const networks = new Set<string>()
  for (const c of sorted) {
    if (out.length < count && !networks.has(c.network)) {
      out.push(c)
      networks.add(c.network)
    }
  }
  for (const c of sorted) {
    if (out.length < count && !out.includes(c)) {
      out.push(c)
    }
  }
  return out
}

/**
 * Picks the replacements for lost reservations: relays in networks none of
 * the held reservations (`usedNetworks`) is in come first, closest first,
 * and among those different networks are preferred
 */
export function pickReplacements (sorted: RelayCandidate[], usedNetworks: Set<string>, count: number): RelayCandidate[] {
  const fresh = sorted.filter(c => !usedNetworks.has(c.network))
  const used = sorted.filter(c => usedNetworks.has(c.network))
  return pickRelays(fresh, count).concat(pickRelays(used, count)).slice(0, count)
}

/**
 * Relays by Kademlia closeness: finds through the DHT the relay-capable
 * public peers XOR-closest to our peer id, reserves (Circuit Relay v2) on
 * the closest `count`, preferring different networks, and moves a
 * reservation when its relay goes away. The relay transport renews held
 * reservations before they expire. A dialer finds a target's relays the same
 * way with `findRelays(target)`.
 */
export class ClosestRelays extends TypedEventEmitter<ClosestRelaysEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@kitsune/closest-relays'
  readonly [serviceCapabilities] = ['@kitsune/closest-relays']

  private readonly components: ClosestRelaysComponents
  private readonly init: Required<Omit<ClosestRelaysInit, 'publicCidrs'>>
  private readonly policy: AddressPolicy
  private readonly log: Logger
  private readonly reserved = new Map<string, RelayReservedDetail>()
  /** relays that refused or went away → when (ms since epoch) */
  private readonly failed = new Map<string, number>()
  private timer?: ReturnType<typeof setInterval>
  private readonly shutdown = new AbortController()
  private running?: Promise<void>
  private wanted = false
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const key = evt.detail.toString()
    const r = this.reserved.get(key)
    if (r == null) {
      return
    }
    this.reserved.delete(key)
    this.markFailed(key)
    this.safeDispatchEvent('relay:lost', { detail: { relay: r.relay, reason: 'disconnected' } })
    if (this.wanted) {
      this.reserve().catch(err => { this.log.error('could not replace relay - %e', err) })
    }
  }

  constructor (components: ClosestRelaysComponents, init: ClosestRelaysInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('kitsune:hole-punch:relays')
    this.init = {
      count: init.count ?? DEFAULT_RELAY_COUNT,
      candidates: init.candidates ?? DEFAULT_RELAY_CANDIDATES,
      checkInterval: init.checkInterval ?? DEFAULT_RELAY_CHECK_INTERVAL,
      searchTimeout: init.searchTimeout ?? DEFAULT_RELAY_SEARCH_TIMEOUT,
      networkPrefix: init.networkPrefix ?? DEFAULT_NETWORK_PREFIX_V4,
      autoReserve: init.autoReserve ?? false,
      retryFailedAfter: init.retryFailedAfter ?? DEFAULT_RETRY_FAILED_RELAY_AFTER,
      maxFailed: init.maxFailed ?? DEFAULT_MAX_FAILED_RELAYS
    }
    if (!Number.isInteger(this.init.count) || this.init.count < 1) {
      throw new InvalidOptionError('count must be an integer >= 1')
    }
    this.policy = new AddressPolicy(init.publicCidrs)
  }

  start (): void {
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    if (this.init.autoReserve) {
      this.reserve().catch(err => { this.log.error('reserve failed - %e', err) })
    }
  }

  stop (): void {
    this.wanted = false
    this.shutdown.abort()
    clearInterval(this.timer)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  /** Relays passed over for now (they refused or went away), oldest first */
  get failedRelays (): string[] {
    this.expireFailed()
    return [...this.failed.keys()]
  }

  private markFailed (key: string): void {
    this.failed.delete(key)
    this.failed.set(key, Date.now())
    while (this.failed.size > this.init.maxFailed) {
      this.failed.delete(this.failed.keys().next().value as string)
    }
  }

  private expireFailed (): void {
    const now = Date.now()
    for (const [key, at] of this.failed) {
      if (now - at >= this.init.retryFailedAfter) {
        this.failed.delete(key)
      }
    }
  }

  /**
   * Drops reservations whose circuit address is no longer among the relay
   * transport's listen addresses (the reservation lapsed or was refused on
   * renewal while the connection stayed up), with `relay:lost`; returns how
   * many were dropped
   */
  dropLapsed (): number {
    let dropped = 0
    for (const [key, r] of this.reserved) {
      if (this.circuitAddressVia(r.relay) == null) {
        this.reserved.delete(key)
        dropped++
        this.log('reservation on %p lapsed', r.relay)
        this.safeDispatchEvent('relay:lost', { detail: { relay: r.relay, reason: 'reservation lapsed' } })
      }
    }
    return dropped
  }

  /**
   * The periodic check: drops lapsed reservations and refills up to `count`
   */
  async check (options: AbortOptions = {}): Promise<RelayReservedDetail[]> {
    this.dropLapsed()
    return this.reserve(options)
  }

  /** The relays we hold reservations on */
  get reservations (): RelayReservedDetail[] {
    return [...this.reserved.values()]
  }

  private publicTcp (addrs: Multiaddr[]): Multiaddr[] {
    return addrs.filter(a => TCPMatcher.exactMatch(a) && !Circuit.matches(a) && this.policy.isPublic(a))
  }

  /**
   * The relay-capable public peers closest to `target` (default: us),
   * closest first. Candidates come from a DHT closest-peers query for the
   * target's key, plus relays already known; each is connected to and
   * checked for the Circuit Relay v2 hop protocol.
   */
  async findRelays (target: PeerId = this.components.peerId, options: AbortOptions = {}): Promise<RelayCandidate[]> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.searchTimeout), this.shutdown.signal, ...(options.signal != null ? [options.signal] : [])])
    const found = new Map<string, PeerInfo>()
    try {
      for await (const info of this.components.peerRouting.getClosestPeers(target.toMultihash().bytes, { signal })) {
        if (!info.id.equals(this.components.peerId) && !info.id.equals(target)) {
          found.set(info.id.toString(), info)
        }
        if (found.size >= this.init.candidates) {
          break
        }
      }
    } catch (err: any) {
      this.log('closest-peers query ended - %e', err)
    }
    for (const peer of await this.components.peerStore.all()) {
      if (peer.protocols.includes(RELAY_HOP_PROTOCOL) && !found.has(peer.id.toString()) && !peer.id.equals(target)) {
        found.set(peer.id.toString(), { id: peer.id, multiaddrs: peer.addresses.map(a => a.multiaddr) })
      }
    }
    const out: RelayCandidate[] = []
    await Promise.all([...found.values()].map(async info => {
      try {
        let peer = await this.components.peerStore.get(info.id).catch(() => undefined)
        let addrs = this.publicTcp([...info.multiaddrs, ...(peer?.addresses.map(a => a.multiaddr) ?? [])])
        if (addrs.length === 0) {
          return
        }
        if (peer?.protocols.includes(RELAY_HOP_PROTOCOL) !== true) {
          await this.components.connectionManager.openConnection(info.id, { signal })
          await waitForProtocols(this.components, info.id, signal)
          peer = await this.components.peerStore.get(info.id)
          addrs = this.publicTcp(peer.addresses.map(a => a.multiaddr))
        }
        if (peer?.protocols.includes(RELAY_HOP_PROTOCOL) === true && addrs.length > 0) {
          out.push({
            peer: info.id,
            addrs,
            distance: xorDistance(target, info.id),
            network: this.policy.networkOf(getNetConfig(addrs[0]).host ?? '', this.init.networkPrefix)
          })
        }
      } catch (err: any) {
        this.log('candidate %p unusable - %e', info.id, err)
      }
    }))
    return out.sort((a, b) => a.distance.localeCompare(b.distance))
  }

  /**
   * Holds reservations on the `count` closest relays (different networks
   * preferred); replaces lost ones. Resolves when done; rejects with
   * {@link NoRelaysError} when no relay accepted a reservation.
   */
  async reserve (options: AbortOptions = {}): Promise<RelayReservedDetail[]> {
    this.wanted = true
    if (this.timer == null && this.init.checkInterval > 0) {
      this.timer = setInterval(() => {
        this.check().catch(err => { this.log('periodic relay check - %e', err) })
      }, this.init.checkInterval)
      this.timer.unref?.()
    }
    while (this.running != null) {
      await this.running
    }
    let release!: () => void
    this.running = new Promise(resolve => { release = resolve })
    try {
      this.dropLapsed()
      if (this.reserved.size >= this.init.count) {
        return this.reservations
      }
      this.expireFailed()
      const candidates = (await this.findRelays(this.components.peerId, options))
        .filter(c => !this.reserved.has(c.peer.toString()) && !this.failed.has(c.peer.toString()))
      const usedNetworks = new Set([...this.reserved.values()].map(r => r.network))
      const picks = pickReplacements(candidates, usedNetworks, this.init.count - this.reserved.size)
      const tried = new Set<string>()
      for (const c of picks) {
        tried.add(c.peer.toString())
        await this.reserveOn(c, options)
      }
      // fill up from the rest when some refused (each relay once per round)
      for (const c of candidates) {
        if (this.reserved.size >= this.init.count) {
          break
        }
        if (!tried.has(c.peer.toString()) && !this.reserved.has(c.peer.toString()) && !this.failed.has(c.peer.toString())) {
          tried.add(c.peer.toString())
          await this.reserveOn(c, options)
        }
      }
      if (this.reserved.size === 0) {
        throw new NoRelaysError(`no relay accepted a reservation (${candidates.length} candidates)`)
      }
      return this.reservations
    } finally {
      this.running = undefined
      release()
    }
  }

  private async reserveOn (c: RelayCandidate, options: AbortOptions): Promise<void> {
    const key = c.peer.toString()
    const circuit = multiaddr(`${c.addrs[0].toString()}/p2p/${key}/p2p-circuit`)
    try {
      await this.components.transportManager.listen([circuit])
      const addr = this.circuitAddressVia(c.peer) ?? circuit.encapsulate(`/p2p/${this.components.peerId.toString()}`)
      const detail = { relay: c.peer, addr, distance: c.distance, network: c.network }
      this.reserved.set(key, detail)
      this.log('reserved on %p (distance %s)', c.peer, c.distance.slice(0, 8))
      this.safeDispatchEvent('relay:reserved', { detail })
    } catch (err: any) {
      this.markFailed(key)
      this.log.error('reservation on %p refused - %e', c.peer, err)
      this.safeDispatchEvent('relay:error', { detail: { relay: c.peer, error: err } })
    }
  }

  private circuitAddressVia (relay: PeerId): Multiaddr | undefined {
    for (const l of this.components.transportManager.getListeners()) {
      for (const a of l.getAddrs()) {
        if (Circuit.matches(a) && a.toString().includes(`/p2p/${relay.toString()}/p2p-circuit`)) {
          return a.toString().endsWith(this.components.peerId.toString()) ? a : a.encapsulate(`/p2p/${this.components.peerId.toString()}`)
        }
      }
    }
    return undefined
  }
}

async function waitForProtocols (components: ClosestRelaysComponents, peer: PeerId, signal: AbortSignal): Promise<void> {
  const existing = await components.peerStore.get(peer).catch(() => undefined)
  if ((existing?.protocols.length ?? 0) > 0) {
    return
  }
  await new Promise<void>((resolve, reject) => {
    const onIdentify = (evt: CustomEvent<{ peerId: PeerId }>): void => {
      if (evt.detail.peerId.equals(peer)) {
        done()
        resolve()
      }
    }
    const onAbort = (): void => {
      done()
      reject(signal.reason)
    }
    const done = (): void => {
      components.events.removeEventListener('peer:identify', onIdentify as any)
      signal.removeEventListener('abort', onAbort)
    }
    components.events.addEventListener('peer:identify', onIdentify as any)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
