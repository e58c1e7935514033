import { bytesToHex } from '@ethereumjs/util'
import { PeerMap } from '@libp2p/peer-collections'
import * as C from './constants.ts'
import { InvalidOptionError, UnknownRootError } from './errors.ts'
import { HeaderChain } from './headers.ts'
import { SliceMetrics } from './metrics.ts'
import { WriteThroughMap } from './persistence.ts'
import { Pruner } from './pruner.ts'
import { checkK, positionOf, sliceCount, sliceOf } from './slices.ts'
import { StateStore } from './state.ts'
import { hexBytes, positiveInt } from './util.ts'
import type { PubSubLike, SliceSyncComponents, SliceSyncEvents, SliceSyncInit, SliceSyncProgress } from './index.ts'
import type { RejectReason } from './metrics.ts'
import type { ProtocolLimits } from './protocol.ts'
import type { Logger, PeerId } from '@libp2p/interface'
import type { TypedEventEmitter } from 'main-event'

/**
 * What a peer said it holds in its last announcement
 */
export interface Announced {
  slices: Set<number>
  /** The state root it follows (hex) */
  root: string
  /** A bridge: it holds every slice */
  full: boolean
  /** Its position in slice space */
  position: number
}

/**
 * Everything this node knows about one remote peer
 */
export interface PeerState {
  /** Its last announcement, if any */
  announced?: Announced
  /** Invalid answers or messages it sent */
  faults: number
  /** No longer asked or listened to (after `maxFaults` faults) */
  bad: boolean
  /** When it last announced or was last penalised (ms since the epoch) */
  lastSeen: number
}

/**
 * The per-node state that the service's parts (server, gossip, syncer,
 * queries) share: options, the node store and header chain, the state root
 * followed, the slices wanted and held, and what is known of every peer
 */
export class NodeState {
  readonly components: SliceSyncComponents
  readonly init: SliceSyncInit
  readonly events: TypedEventEmitter<SliceSyncEvents>
  readonly log: Logger

  readonly sliceNibbles: number
  readonly position: number
  readonly radius: number
  readonly replication: number
  readonly maxSlices: number
  readonly requestTimeout: number
  readonly maxRangesInFlight: number
  readonly groupNibbles: number
  readonly announceInterval: number
  readonly maxFaults: number
  readonly maxPeersPerSlice: number
  readonly announceTtl: number
  readonly maxKnownPeers: number
  readonly maxDeltaBytes: number
  readonly maxInlineStorageSlots: number
  readonly limits: ProtocolLimits
  readonly topicPrefix: string

  readonly store: StateStore
  readonly chain: HeaderChain
  readonly metrics: SliceMetrics
  /** Drops nodes of roots older than the header history */
  readonly pruner: Pruner

  /** The state root followed */
  root?: Uint8Array
  /** A bridge: holds the whole state */
  full = false
  /** Slice → the state root (hex) at which it is held, complete and verified */
  readonly heldAt: Map<number, string> = new WriteThroughMap<number, string>()
  /** Slice → accounts in it at the root it is held at */
  readonly sliceAccounts = new Map<number, number>()
  /**
   * Accounts whose storage trie is larger than `maxInlineStorageSlots`
   * (sliced on its own): account key (hex) → its storage root
   */
  readonly large = new Map<string, Uint8Array>()
  /** `<account key>/<storage slice>` → the storage root (hex) it is held at */
  readonly storageHeld = new Map<string, string>()
  /** Slices this peer wants to hold (responsible ∪ adopted) */
  targets = new Set<number>()
  readonly peers = new PeerMap<PeerState>()
  running = false
  controller = new AbortController()
  accountsHeld = 0
  /** What this peer asked for and received (`stats()`) */
  readonly counters = { requests: 0, responseBytes: 0, entryBytes: 0, forwarded: 0 }
  /** `null` until looked up */
  private pubsubService: PubSubLike | undefined | null = null

  constructor (components: SliceSyncComponents, init: SliceSyncInit, events: TypedEventEmitter<SliceSyncEvents>) {
    this.components = components
    this.init = init
    this.events = events
    this.log = components.logger.forComponent('kitsune:slice-sync')
    this.sliceNibbles = init.sliceNibbles ?? C.DEFAULT_SLICE_NIBBLES
    checkK(this.sliceNibbles)
    if (this.sliceNibbles < 1) {
      throw new InvalidOptionError('sliceNibbles must be at least 1')
    }
    this.radius = positiveInt('radius', init.radius ?? C.DEFAULT_RADIUS, 0)
    this.replication = positiveInt('replication', init.replication ?? C.DEFAULT_REPLICATION, 0)
    // 0: a light peer that holds nothing and answers its queries from peers' proofs
    this.maxSlices = positiveInt('maxSlices', init.maxSlices ?? C.DEFAULT_MAX_SLICES, 0)
    this.requestTimeout = positiveInt('requestTimeout', init.requestTimeout ?? C.DEFAULT_REQUEST_TIMEOUT)
    this.maxRangesInFlight = positiveInt('maxRangesInFlight', init.maxRangesInFlight ?? C.DEFAULT_MAX_RANGES_IN_FLIGHT)
    this.groupNibbles = Math.min(positiveInt('deltaGroupNibbles', init.deltaGroupNibbles ?? C.DEFAULT_DELTA_GROUP_NIBBLES, 0), this.sliceNibbles)
    this.announceInterval = positiveInt('announceInterval', init.announceInterval ?? C.DEFAULT_ANNOUNCE_INTERVAL)
    this.maxFaults = positiveInt('maxFaults', init.maxFaults ?? C.DEFAULT_MAX_FAULTS)
    this.maxInlineStorageSlots = positiveInt('maxInlineStorageSlots', init.maxInlineStorageSlots ?? C.DEFAULT_MAX_INLINE_STORAGE_SLOTS)
    this.maxDeltaBytes = positiveInt('maxDeltaBytes', init.maxDeltaBytes ?? C.DEFAULT_MAX_DELTA_BYTES, 1024)
    this.announceTtl = positiveInt('announceTtl', init.announceTtl ?? C.ANNOUNCE_TTL_INTERVALS * this.announceInterval)
    this.maxKnownPeers = positiveInt('maxKnownPeers', init.maxKnownPeers ?? C.DEFAULT_MAX_KNOWN_PEERS)
    this.maxPeersPerSlice = positiveInt('maxPeersPerSlice', init.maxPeersPerSlice ?? C.DEFAULT_MAX_PEERS_PER_SLICE)
    this.limits = {
      maxMessageSize: positiveInt('maxMessageSize', init.maxMessageSize ?? C.DEFAULT_MAX_MESSAGE_SIZE, 64),
      maxResponseBytes: positiveInt('maxResponseBytes', init.maxResponseBytes ?? C.DEFAULT_MAX_RESPONSE_BYTES),
      maxResponseCount: positiveInt('maxResponseCount', init.maxResponseCount ?? C.DEFAULT_MAX_RESPONSE_COUNT),
      maxHashesPerRequest: positiveInt('maxHashesPerRequest', init.maxHashesPerRequest ?? C.DEFAULT_MAX_HASHES_PER_REQUEST)
    }
    this.topicPrefix = `/kitsune/slice-sync/1/${init.network ?? C.DEFAULT_NETWORK}`
    // write-through maps: with `persist`, their changes go to the datastore
    this.store = new StateStore(new WriteThroughMap(), new WriteThroughMap())
    this.chain = new HeaderChain(positiveInt('headerHistory', init.headerHistory ?? C.DEFAULT_HEADER_HISTORY))
    this.position = positionOf(components.peerId.toMultihash().bytes, this.sliceNibbles)
    this.trust(init)
    this.pruner = new Pruner(this)
    this.metrics = new SliceMetrics(components.metrics, {
      targetSlices: () => this.full ? this.heldSlices().length : this.targets.size,
      heldSlices: () => this.heldSlices().length,
      accountsHeld: () => this.accountsHeld,
      headNumber: () => this.chain.head == null ? -1 : Number(this.chain.head.number),
      knownPeers: () => [...this.announcedPeers()].length,
      badPeers: () => [...this.peers.values()].filter(p => p.bad).length
    })
  }

  /** Takes the trust anchor: a state root, a header, or both */
  private trust (init: SliceSyncInit): void {
    if (init.trustedRoot != null) {
      const root = typeof init.trustedRoot === 'string' ? hexBytes(init.trustedRoot) : init.trustedRoot
      if (root.length !== 32) {
        throw new InvalidOptionError('trustedRoot must be 32 bytes')
      }
      this.chain.trustRoot(root)
      this.root = root
    }
    if (init.trustedHeader != null) {
      const header = this.chain.trustHeader(init.trustedHeader)
      this.root = header.stateRoot
    }
  }

  /**
   * The pubsub service, or `undefined` when none is configured (libp2p's
   * components throw for a missing service): without one, no announcements,
   * headers or deltas are sent or received
   */
  get pubsub (): PubSubLike | undefined {
    if (this.pubsubService === null) {
      try {
        this.pubsubService = (this.components as any)[this.init.pubsubService ?? C.DEFAULT_PUBSUB_SERVICE] ?? undefined
      } catch {
        this.pubsubService = undefined
      }
    }
    return this.pubsubService ?? undefined
  }

  /** The state of a peer, created on first use */
  peer (id: PeerId): PeerState {
    let state = this.peers.get(id)
    if (state == null) {
      state = { faults: 0, bad: false, lastSeen: Date.now() }
      this.peers.set(id, state)
    }
    return state
  }

  /**
   * Drops announcements older than `announceTtl` (and, with `gone`, the
   * announcement of a peer that disconnected), forgets peers that are
   * neither bad, announced nor connected, and keeps at most `maxKnownPeers`
   * (the least recently seen go first). Returns whether an announcement was
   * dropped.
   */
  expirePeers (now: number = Date.now(), gone?: PeerId): boolean {
    let dropped = false
    const connected = (id: PeerId): boolean => {
      try {
        return this.components.connectionManager.getConnections(id).length > 0
      } catch {
        return false
      }
    }
    for (const [id, peer] of [...this.peers]) {
      if (peer.announced != null && (now - peer.lastSeen > this.announceTtl || gone?.equals(id) === true)) {
        peer.announced = undefined
        dropped = true
      }
      if (!peer.bad && peer.announced == null && !connected(id)) {
        this.peers.delete(id)
      }
    }
    if (this.peers.size > this.maxKnownPeers) {
      // the least recently seen first, bad peers last (they stay shunned longest)
      const oldest = [...this.peers].sort(([, a], [, b]) => Number(a.bad) - Number(b.bad) || a.lastSeen - b.lastSeen)
      for (const [id, peer] of oldest.slice(0, this.peers.size - this.maxKnownPeers)) {
        dropped ||= peer.announced != null
        this.peers.delete(id)
      }
    }
    return dropped
  }

  isBad (id: PeerId): boolean {
    return this.peers.get(id)?.bad === true
  }

  /** Peers that announced what they hold and were not found bad */
  * announcedPeers (): Generator<[PeerId, Announced]> {
    for (const [id, state] of this.peers) {
      if (!state.bad && state.announced != null) {
        yield [id, state.announced]
      }
    }
  }

  get rootHex (): string | undefined {
    return this.root == null ? undefined : bytesToHex(this.root)
  }

  /** Slices complete and verified at the current state root, sorted */
  heldSlices (): number[] {
    const root = this.rootHex
    return [...this.heldAt].filter(([, r]) => r === root).map(([s]) => s).sort((a, b) => a - b)
  }

  isSynced (): boolean {
    const root = this.rootHex
    if (root == null) {
      return false
    }
    for (const s of this.targets) {
      if (this.heldAt.get(s) !== root) {
        return false
      }
    }
    return this.wantedStorage().every(w => this.storageHeld.get(w.id) === bytesToHex(w.storageRoot))
  }

  /** Whether a storage trie is sliced on its own (large) */
  isSliced (storageRoot: Uint8Array): boolean {
    const hex = bytesToHex(storageRoot)
    for (const root of this.large.values()) {
      if (bytesToHex(root) === hex) {
        return true
      }
    }
    return false
  }

  /** The slice position of storage slice `i` of the account with key `key` */
  storagePosition (key: Uint8Array, i: number): number {
    return (i + sliceOf(key, this.sliceNibbles)) % sliceCount(this.sliceNibbles)
  }

  /**
   * The storage slices of large accounts this peer wants: storage slice `i`
   * of account `h` where `(i + prefix(h)) mod 16^k` is a wanted slice (a
   * bridge holds every one)
   */
  wantedStorage (): Array<{ id: string, key: Uint8Array, storageRoot: Uint8Array, slice: number, position: number }> {
    const out: Array<{ id: string, key: Uint8Array, storageRoot: Uint8Array, slice: number, position: number }> = []
    if (this.full) {
      return out
    }
    for (const [keyHex, storageRoot] of this.large) {
      const key = hexBytes(keyHex)
      for (let i = 0; i < sliceCount(this.sliceNibbles); i++) {
        const position = this.storagePosition(key, i)
        if (this.targets.has(position)) {
          out.push({ id: `${keyHex}/${i}`, key, storageRoot, slice: i, position })
        }
      }
    }
    return out
  }

  progress (): SliceSyncProgress {
    const held = this.heldSlices()
    return {
      stateRoot: this.rootHex,
      target: this.full ? held.length : this.targets.size,
      held: held.length,
      accounts: this.accountsHeld,
      synced: this.isSynced()
    }
  }

  countAccounts (): number {
    let count = 0
    for (const s of this.heldSlices()) {
      count += this.sliceAccounts.get(s) ?? 0
    }
    return count
  }

  /** The delta topic group of a slice */
  groupOf (slice: number): number {
    return Math.floor(slice / 16 ** (this.sliceNibbles - this.groupNibbles))
  }

  /** The root to answer a query at: the given one, or the one followed */
  queryRoot (root?: Uint8Array | string): Uint8Array {
    if (root != null) {
      return typeof root === 'string' ? hexBytes(root) : root
    }
    if (this.root == null) {
      throw new UnknownRootError('no state root: give trustedRoot, trustedHeader or a root')
    }
    return this.root
  }

  /** Providers of a slice: announced holders at this root first, then bridges */
  providersOf (slice: number, root: string): PeerId[] {
    const holders: PeerId[] = []
    const bridges: PeerId[] = []
    for (const [peer, info] of this.announcedPeers()) {
      if (info.root !== root || !info.slices.has(slice)) {
        continue
      }
      (info.full ? bridges : holders).push(peer)
    }
    // spread the load: rotate by our position
    const rotate = holders.length === 0 ? 0 : this.position % holders.length
    return [...holders.slice(rotate), ...holders.slice(0, rotate), ...bridges].slice(0, this.maxPeersPerSlice)
  }

  /**
   * Counts a fault of a peer (data of the `kind` given that did not verify);
   * at `maxFaults` it is no longer asked or listened to, and is hung up on
   */
  penalise (peer: PeerId, reason: string, kind: RejectReason): void {
    const state = this.peer(peer)
    state.faults++
    state.lastSeen = Date.now()
    this.metrics.rejectedData(kind)
    this.log('penalising %p: %s', peer, reason)
    this.events.safeDispatchEvent('peer:penalised', { detail: { peer, reason } })
    if (state.faults >= this.maxFaults && !state.bad) {
      state.bad = true
      state.announced = undefined
      void this.components.connectionManager.closeConnections(peer).catch(() => {})
    }
  }
}
