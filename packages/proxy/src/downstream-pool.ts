import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { API_TIMEOUT, DIAL_TIMEOUT, DOWNSTREAM_TAG, MAX_CONSECUTIVE_FAILURES, RECONNECT_INITIAL_DELAY, RECONNECT_MAX_DELAY } from './constants.ts'
import { InvalidDownstreamError } from './errors.ts'
import { apiUrl, discoverFromApi, peerIdOf } from './kubo-api.ts'
import type { ComponentLogger, Libp2pEvents, Logger, PeerId, PeerStore, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * - `connecting`: not yet reached for the first time
 * - `up`: connected; new work may be placed on it
 * - `draining`: connected, keeps its open streams, takes no new work
 * - `down`: not connected; reconnecting with backoff
 */
export type DownstreamStatus = 'connecting' | 'up' | 'down' | 'draining'

/**
 * A downstream as strategies and the proxy's users see it
 */
export interface Downstream {
  readonly peerId: PeerId
  readonly status: DownstreamStatus
  /** Streams the proxy currently has open to it */
  readonly openStreams: number
  /** Latest ping round trip in ms, measured by libp2p's connection monitor */
  readonly rtt?: number
  /** Its Kubo RPC API, when it was configured by one (`downstreamApis`) */
  readonly api?: URL
}

/**
 * A plain, serialisable snapshot of one downstream, for status lines and
 * events
 */
export interface DownstreamInfo {
  /** Unset while a downstream given by its API has not answered yet */
  peerId?: string
  /** The multiaddr or API address the operator configured */
  source: string
  status: DownstreamStatus
  openStreams: number
  rtt?: number
  /** Why it is down, when it is */
  lastError?: string
  /** Its Kubo RPC API base URL, when it was configured by one */
  api?: string
}

export interface DownstreamPoolEvents {
  'downstream:up': CustomEvent<DownstreamInfo>
  'downstream:down': CustomEvent<DownstreamInfo>
  'downstream:draining': CustomEvent<DownstreamInfo>
}

export interface DownstreamPoolInit {
  /**
   * libp2p multiaddrs of downstreams, each ending in `/p2p/<id>`
   *
   * @default []
   */
  downstreams?: Array<string | Multiaddr>
  /**
   * Kubo RPC API addresses (URL or multiaddr) of downstreams; the peer id and
   * addresses are learned with `POST /api/v0/id`, again on each reconnect
   *
   * @default []
   */
  downstreamApis?: Array<string | URL | Multiaddr>
  /** @default 10000 */
  dialTimeout?: number
  /** @default 10000 */
  apiTimeout?: number
  /** @default 500 */
  reconnectInitialDelay?: number
  /** @default 30000 */
  reconnectMaxDelay?: number
  /** @default 3 */
  maxConsecutiveFailures?: number
}

export interface DownstreamPoolComponents {
  peerId: PeerId
  peerStore: PeerStore
  connectionManager: ConnectionManager
  transportManager: TransportManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

class DownstreamEntry implements Downstream {
  peerId!: PeerId
  status: DownstreamStatus = 'connecting'
  openStreams = 0
  multiaddrs: Multiaddr[] = []
  failures = 0
  attempt = 0
  draining = false
  lastError?: string
  timer?: ReturnType<typeof setTimeout>
  connecting = false
  /** When the current connection came up */
  upSince = 0
  readonly source: string
  readonly api?: URL
  private readonly connectionManager: ConnectionManager

  constructor (source: string, connectionManager: ConnectionManager, api?: URL) {
    this.source = source
    this.api = api
    this.connectionManager = connectionManager
  }

  get rtt (): number | undefined {
    if (this.peerId == null) {
      return undefined
    }
    return this.connectionManager.getConnections(this.peerId).find(c => c.rtt != null)?.rtt
  }

  info (): DownstreamInfo {
    return {
      peerId: this.peerId?.toString(),
      source: this.source,
      status: this.status,
      openStreams: this.openStreams,
      rtt: this.rtt,
      lastError: this.status === 'down' ? this.lastError : undefined,
      api: this.api?.href
    }
  }
}

/**
 * The downstream nodes behind the proxy, as the proxy shares them with the
 * services built on it (`proxy.pool`): it keeps a connection to each, notices
 * when one goes, reconnects with capped exponential backoff, and only ever
 * hands out downstreams that are up. Its events carry a `DownstreamInfo`.
 */
export interface DownstreamPool extends TypedEventTarget<DownstreamPoolEvents> {
  /** Resolves once every configured downstream has been tried at least once */
  ready(): Promise<void>
  /** Downstreams that may take new work */
  healthy(): Downstream[]
  /** A snapshot of every configured downstream */
  list(): DownstreamInfo[]
  /** Whether a peer is one of the downstreams */
  isDownstream(peerId: PeerId): boolean
  /** Stop placing new work on a downstream; what it has keeps running */
  drain(peerId: PeerId): void
  /** Undo `drain` */
  undrain(peerId: PeerId): void
  /**
   * Count a stream as open on a downstream (for `least-outstanding`) until
   * the returned function is called
   */
  acquire(peerId: PeerId): () => void
  /** Work placed on a downstream succeeded */
  reportSuccess(peerId: PeerId): void
  /**
   * Work placed on a downstream failed. After `maxConsecutiveFailures` in a
   * row it is marked down and its connection closed; it is then redialled
   * with backoff like any other lost downstream.
   */
  reportFailure(peerId: PeerId, err: Error): void
}

/**
 * The pool the proxy runs; others see it as a {@link DownstreamPool}
 */
export class DefaultDownstreamPool extends TypedEventEmitter<DownstreamPoolEvents> implements DownstreamPool {
  private readonly components: DownstreamPoolComponents
  private readonly entries: DownstreamEntry[] = []
  private readonly log: Logger
  private readonly dialTimeout: number
  private readonly apiTimeout: number
  private readonly reconnectInitialDelay: number
  private readonly reconnectMaxDelay: number
  private readonly maxConsecutiveFailures: number
  private started = false
  private readonly firstAttempts = Promise.withResolvers<void>()

  constructor (components: DownstreamPoolComponents, init: DownstreamPoolInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('kitsune:proxy:pool')
    this.dialTimeout = init.dialTimeout ?? DIAL_TIMEOUT
    this.apiTimeout = init.apiTimeout ?? API_TIMEOUT
    this.reconnectInitialDelay = init.reconnectInitialDelay ?? RECONNECT_INITIAL_DELAY
    this.reconnectMaxDelay = init.reconnectMaxDelay ?? RECONNECT_MAX_DELAY
    this.maxConsecutiveFailures = init.maxConsecutiveFailures ?? MAX_CONSECUTIVE_FAILURES

    for (const downstream of init.downstreams ?? []) {
      const text = downstream.toString()
      let address: Multiaddr
      try {
        address = multiaddr(text)
      } catch (err: any) {
        throw new InvalidDownstreamError(`Invalid downstream multiaddr "${text}": ${err.message}`)
      }
      const id = peerIdOf(address)
      if (id == null) {
        throw new InvalidDownstreamError(`Downstream multiaddr "${text}" must end in /p2p/<peer id>`)
      }
      const entry = new DownstreamEntry(text, components.connectionManager)
      entry.peerId = peerIdFromString(id)
      entry.multiaddrs = [address]
      this.entries.push(entry)
    }

    for (const api of init.downstreamApis ?? []) {
      this.entries.push(new DownstreamEntry(api.toString(), components.connectionManager, apiUrl(api)))
    }

    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
    this.onPeerConnect = this.onPeerConnect.bind(this)
  }

  async start (): Promise<void> {
    this.started = true
    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.components.events.addEventListener('peer:connect', this.onPeerConnect)

    if (this.entries.length === 0) {
      this.firstAttempts.resolve()
    }

    Promise.allSettled(this.entries.map(async entry => { await this.connect(entry) }))
      .then(() => { this.firstAttempts.resolve() }, () => {})
  }

  async stop (): Promise<void> {
    this.started = false
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.components.events.removeEventListener('peer:connect', this.onPeerConnect)
    for (const entry of this.entries) {
      clearTimeout(entry.timer)
    }
  }

  /**
   * Resolves once every configured downstream has been tried at least once
   */
  async ready (): Promise<void> {
    await this.firstAttempts.promise
  }

  /**
   * Downstreams that may take new work
   */
  healthy (): Downstream[] {
    return this.entries.filter(entry => entry.status === 'up')
  }

  /**
   * A snapshot of every configured downstream
   */
  list (): DownstreamInfo[] {
    return this.entries.map(entry => entry.info())
  }

  /**
   * Whether a peer is one of the downstreams
   */
  isDownstream (peerId: PeerId): boolean {
    return this.find(peerId) != null
  }

  /**
   * Stop placing new work on a downstream; what it has keeps running
   */
  drain (peerId: PeerId): void {
    const entry = this.find(peerId)
    if (entry == null) {
      return
    }
    entry.draining = true
    if (entry.status === 'up') {
      this.setStatus(entry, 'draining')
    }
  }

  /**
   * Undo `drain`
   */
  undrain (peerId: PeerId): void {
    const entry = this.find(peerId)
    if (entry == null) {
      return
    }
    entry.draining = false
    if (entry.status === 'draining') {
      this.setStatus(entry, 'up')
    }
  }

  /**
   * Count a stream as open on a downstream until the returned function is called
   */
  acquire (peerId: PeerId): () => void {
    const entry = this.find(peerId)
    if (entry == null) {
      return () => {}
    }
    entry.openStreams++
    let released = false
    return () => {
      if (!released) {
        released = true
        entry.openStreams--
      }
    }
  }

  /**
   * Work placed on a downstream succeeded
   */
  reportSuccess (peerId: PeerId): void {
    const entry = this.find(peerId)
    if (entry != null) {
      entry.failures = 0
    }
  }

  /**
   * Work placed on a downstream failed. After `maxConsecutiveFailures` in a
   * row it is marked down and its connection closed; it is then redialled
   * with backoff like any other lost downstream.
   */
  reportFailure (peerId: PeerId, err: Error): void {
    const entry = this.find(peerId)
    if (entry == null) {
      return
    }
    entry.failures++
    entry.lastError = err.message
    if (entry.failures >= this.maxConsecutiveFailures && (entry.status === 'up' || entry.status === 'draining')) {
      this.log('downstream %p failed %d times in a row, marking it down - %e', entry.peerId, entry.failures, err)
      this.markDown(entry, `${entry.failures} consecutive failures: ${err.message}`)
      this.components.connectionManager.closeConnections(entry.peerId).catch(() => {})
    }
  }

  private find (peerId: PeerId): DownstreamEntry | undefined {
    return this.entries.find(entry => entry.peerId?.equals(peerId))
  }

  private setStatus (entry: DownstreamEntry, status: DownstreamStatus): void {
    if (entry.status === status) {
      return
    }
    entry.status = status
    this.log('downstream %s is %s', entry.peerId?.toString() ?? entry.source, status)
    if (status !== 'connecting') {
      this.safeDispatchEvent(`downstream:${status}`, { detail: entry.info() })
    }
  }

  private markDown (entry: DownstreamEntry, reason: string): void {
    entry.lastError = reason
    this.setStatus(entry, 'down')
    this.scheduleReconnect(entry)
  }

  private scheduleReconnect (entry: DownstreamEntry): void {
    if (!this.started || entry.timer != null || entry.connecting) {
      return
    }
    const delay = Math.min(this.reconnectInitialDelay * 2 ** entry.attempt * (0.8 + Math.random() * 0.4), this.reconnectMaxDelay)
    entry.attempt++
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      void this.connect(entry)
    }, delay)
    entry.timer.unref?.()
  }

  private async connect (entry: DownstreamEntry): Promise<void> {
    if (!this.started || entry.connecting) {
      return
    }
    entry.connecting = true

    try {
      if (entry.api != null) {
        const discovered = await discoverFromApi(entry.api, {
          signal: AbortSignal.timeout(this.apiTimeout),
          canDial: (address) => this.components.transportManager.dialTransportForMultiaddr(address) != null
        })
        entry.peerId = discovered.peerId
        entry.multiaddrs = discovered.multiaddrs
      }

      if (entry.peerId.equals(this.components.peerId)) {
        throw new InvalidDownstreamError('the downstream has the proxy\'s own peer id; give the old node a new key before putting it behind the proxy')
      }

      await this.components.peerStore.merge(entry.peerId, {
        tags: { [DOWNSTREAM_TAG]: { value: 100 } }
      })
      await this.components.connectionManager.openConnection(entry.multiaddrs, {
        signal: AbortSignal.timeout(this.dialTimeout)
      })

      entry.failures = 0
      entry.upSince = Date.now()
      this.setStatus(entry, entry.draining ? 'draining' : 'up')
    } catch (err: any) {
      this.log.error('downstream %s unreachable - %e', entry.source, err)
      entry.lastError = err.message
      this.setStatus(entry, 'down')
    } finally {
      entry.connecting = false
    }

    if (entry.status === 'down') {
      this.scheduleReconnect(entry)
    }
  }

  private onPeerDisconnect (evt: CustomEvent<PeerId>): void {
    const entry = this.find(evt.detail)
    if (entry != null && (entry.status === 'up' || entry.status === 'draining')) {
      // a connection that held for a while starts the backoff afresh; one
      // that drops at once keeps backing off, so a flapping node is not
      // redialled every half second
      if (Date.now() - entry.upSince >= this.reconnectMaxDelay) {
        entry.attempt = 0
      }
      this.markDown(entry, 'disconnected')
    }
  }

  private onPeerConnect (evt: CustomEvent<PeerId>): void {
    const entry = this.find(evt.detail)
    if (entry != null && entry.status === 'down' && !entry.connecting) {
      clearTimeout(entry.timer)
      entry.timer = undefined
      entry.failures = 0
      entry.upSince = Date.now()
      this.setStatus(entry, entry.draining ? 'draining' : 'up')
    }
  }
}
