import { serviceCapabilities } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { Bridge } from './bridge.ts'
import * as C from './constants.ts'
import { DeltaValidator } from './deltas.ts'
import { InvalidOptionError } from './errors.ts'
import { Gossip } from './gossip.ts'
import { NodeState } from './node-state.ts'
import { Persistence } from './persistence.ts'
import { Queries } from './queries.ts'
import { Server } from './server.ts'
import { SliceSyncer } from './slice-syncer.ts'
import type { HeaderInfo, HeaderChain } from './headers.ts'
import type { AccountQueryOptions, BlockUpdate, SliceSyncComponents, SliceSyncEvents, SliceSyncInit, SliceSyncProgress, SliceSync as SliceSyncInterface, VerifiedAccount } from './index.ts'
import type { StateStore } from './state.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/**
 * The slice-sync service: its lifecycle, and the public API over the parts
 * that share one {@link NodeState} — the {@link Server} (answers requests),
 * {@link Gossip} (announcements, headers, delta topics), the
 * {@link DeltaValidator}, the {@link SliceSyncer} (wanted slices, range
 * sync), {@link Queries} (verified account and storage reads) and, on a
 * bridge, the {@link Bridge}
 */
export class DefaultSliceSync extends TypedEventEmitter<SliceSyncEvents> implements SliceSyncInterface {
  readonly [Symbol.toStringTag] = '@kitsune/slice-sync'
  readonly [serviceCapabilities]: string[] = [C.SLICE_SYNC_CAPABILITY]

  private readonly state: NodeState
  private readonly queries: Queries
  private readonly server: Server
  private readonly syncer: SliceSyncer
  private readonly gossip: Gossip
  private readonly bridge: Bridge
  private persistence?: Persistence
  private readonly onPeerConnect: () => void
  private readonly onPeerDisconnect: (evt: CustomEvent<PeerId>) => void

  constructor (components: SliceSyncComponents, init: SliceSyncInit = {}) {
    super()
    this.state = new NodeState(components, init, this)
    this.queries = new Queries(this.state)
    this.server = new Server(this.state, this.queries)
    this.syncer = new SliceSyncer(this.state, this.queries)
    this.gossip = new Gossip(this.state, this.syncer, new DeltaValidator(this.state, this.syncer))
    this.syncer.hooks = this.gossip
    this.bridge = new Bridge(this.state, this.gossip)
    this.onPeerConnect = () => {
      if (!this.state.full && this.state.chain.head == null && this.state.running) {
        // learn the headers that link to the trust anchor
        void this.catchUp().catch(() => {})
      }
      this.syncer.scheduleSync()
    }
    this.onPeerDisconnect = (evt) => {
      this.gossip.expire(evt.detail)
    }
  }

  // ---- lifecycle ----

  async start (): Promise<void> {
    const { components, init } = this.state
    this.state.running = true
    this.state.controller = new AbortController()
    await components.registrar.handle(C.PROTOCOL, (stream, connection) => {
      void this.server.handleStream(stream, connection)
    }, {
      maxInboundStreams: init.maxInboundStreams ?? C.DEFAULT_MAX_INBOUND_STREAMS,
      maxOutboundStreams: init.maxOutboundStreams ?? C.DEFAULT_MAX_OUTBOUND_STREAMS
    })
    if (init.persist === true) {
      if (components.datastore == null) {
        throw new InvalidOptionError('persist needs the node\'s datastore')
      }
      this.persistence = new Persistence(this.state, components.datastore)
      const { loaded, tampered, slices } = await this.persistence.resume()
      this.state.log('resumed %d slices from %d stored records (%d did not hash to their key)', slices.length, loaded, tampered)
    }
    if (init.source != null) {
      await this.bridge.load(init.source)
    }
  }

  /**
   * Gossip needs a started pubsub service: topics, validators and the
   * announcement timer are set up once every service has started
   */
  afterStart (): void {
    this.gossip.start()
    this.state.components.events.addEventListener('peer:identify', this.onPeerConnect)
    this.state.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.syncer.recomputeTargets()
    this.gossip.announce()
    this.syncer.scheduleSync()
    const source = this.state.init.source
    if (source?.blocks != null) {
      void this.bridge.follow(source)
    }
  }

  beforeStop (): void {
    this.state.running = false
    this.state.controller.abort()
    this.state.components.events.removeEventListener('peer:identify', this.onPeerConnect)
    this.state.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.gossip.stop()
  }

  async stop (): Promise<void> {
    this.beforeStop()
    await this.state.components.registrar.unhandle(C.PROTOCOL)
    await this.syncer.stop()
    await this.persistence?.flush()
  }

  // ---- public API ----

  get store (): StateStore {
    return this.state.store
  }

  get chain (): HeaderChain {
    return this.state.chain
  }

  get sliceNibbles (): number {
    return this.state.sliceNibbles
  }

  get position (): number {
    return this.state.position
  }

  get stateRoot (): Uint8Array | undefined {
    return this.state.root
  }

  get isBridge (): boolean {
    return this.state.full
  }

  /** Slices this peer wants to hold (responsible ∪ adopted), sorted */
  targetSlices (): number[] {
    return [...this.state.targets].sort((a, b) => a - b)
  }

  /** Slices complete and verified at the current state root, sorted */
  heldSlices (): number[] {
    return this.state.heldSlices()
  }

  progress (): SliceSyncProgress {
    return this.state.progress()
  }

  isSynced (): boolean {
    return this.state.isSynced()
  }

  /**
   * Peers known from announcements: their held slices and whether they are a
   * bridge
   */
  knownPeers (): Array<{ peer: PeerId, slices: number[], full: boolean, root: string }> {
    return [...this.state.announcedPeers()].map(([peer, info]) => ({ peer, slices: [...info.slices].sort((a, b) => a - b), full: info.full, root: info.root }))
  }

  /** Peers no longer asked after sending data that did not verify */
  penalisedPeers (): PeerId[] {
    return [...this.state.peers].filter(([, p]) => p.bad).map(([id]) => id)
  }

  async getAccount (address: Uint8Array | string, options: AccountQueryOptions = {}): Promise<VerifiedAccount | null> {
    return this.queries.getAccount(address, options)
  }

  async getStorage (address: Uint8Array | string, slot: Uint8Array | string, options: AccountQueryOptions = {}): Promise<Uint8Array> {
    return this.queries.getStorage(address, slot, options)
  }

  /**
   * Applies one block's changes on a bridge and publishes the header and the
   * deltas. The new state root must be the header's.
   */
  async applyBlock (update: BlockUpdate): Promise<HeaderInfo> {
    return this.bridge.applyBlock(update)
  }

  /**
   * Asks connected peers for their recent headers and follows them from the
   * trust anchor; returns the new head, if any
   */
  async catchUp (options: AbortOptions = {}): Promise<HeaderInfo | undefined> {
    const head = await this.queries.catchUp(options)
    if (head != null) {
      this.syncer.scheduleSync()
    }
    return head
  }

  /**
   * The state root a peer follows (its answer to a HEADERS request). Not
   * verified: use it only where the peer is trusted to name the root.
   */
  async peerStateRoot (peer: PeerId, options: AbortOptions = {}): Promise<Uint8Array> {
    return this.queries.peerStateRoot(peer, options)
  }

  /**
   * What this peer asked for and received: requests sent, bytes of the
   * answers, bytes of the entries (keys and values) in them, and range
   * responses fetched and verified while syncing, and account proofs asked
   * of holders on another peer's behalf
   */
  stats (): { requests: number, responseBytes: number, entryBytes: number, ranges: number, forwarded: number } {
    return { ...this.state.counters, ranges: this.state.metrics.rangesFetched }
  }
}
