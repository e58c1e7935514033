import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { serviceCapabilities } from '@libp2p/interface'
import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { TypedEventEmitter } from 'main-event'
import * as C from './constants.ts'
import { InvalidMessageError, InvalidOptionError, InvalidProofError, MissingNodeError, NoProviderError, RemoteError, UnknownRootError } from './errors.ts'
import { decodeHeader, HeaderChain } from './headers.ts'
import { Announce, Delta, Request, Response } from './pb/slice-sync.ts'
import { exchange, nextKey, readProof, verifyCodes, verifyRange } from './protocol.ts'
import { bitmapToSlices, checkK, positionOf, responsibleSlices, sliceBounds, sliceCount, sliceOf, slicesToBitmap } from './slices.ts'
import { decodeAccount, EMPTY_CODE_HASH, MissingStorage, slotKey, StateStore } from './state.ts'
import { addNodes, EMPTY_TRIE_ROOT, OverlayNodes, TrieReader } from './trie.ts'
import type { HeaderInfo } from './headers.ts'
import type { AccountQueryOptions, BlockUpdate, SliceSyncComponents, SliceSyncEvents, SliceSyncInit, SliceSyncProgress, SliceSync as SliceSyncInterface, VerifiedAccount, PubSubLike } from './index.ts'
import type { ProtocolLimits } from './protocol.ts'
import type { AccountBody } from './state.ts'
import type { TrieEntry } from './trie.ts'
import type { AbortOptions, Connection, Logger, PeerId, Stream } from '@libp2p/interface'

interface RequestInit {
  type: Request.Type
  root?: Uint8Array
  origin?: Uint8Array
  limit?: Uint8Array
  maxBytes?: number
  maxCount?: number
  hashes?: Uint8Array[]
  key?: Uint8Array
  slots?: Uint8Array[]
  forwarded?: boolean
}

interface PeerInfo {
  slices: Set<number>
  root: string
  full: boolean
  position: number
}

const ACCEPT = 'accept' as any
const IGNORE = 'ignore' as any
const REJECT = 'reject' as any

const ZERO_KEY = new Uint8Array(32)
const LAST_KEY = new Uint8Array(32).fill(0xff)

function positiveInt (name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${value}`)
  }
  return value
}

/**
 * The slice-sync service: see the package documentation
 */
export class DefaultSliceSync extends TypedEventEmitter<SliceSyncEvents> implements SliceSyncInterface {
  readonly [Symbol.toStringTag] = '@kitsune/slice-sync'
  readonly [serviceCapabilities]: string[] = [C.SLICE_SYNC_CAPABILITY]

  readonly store: StateStore
  readonly chain: HeaderChain
  readonly sliceNibbles: number
  readonly position: number

  private readonly components: SliceSyncComponents
  private readonly init: SliceSyncInit
  private readonly log: Logger
  private readonly limits: ProtocolLimits
  private readonly radius: number
  private readonly replication: number
  private readonly maxSlices: number
  private readonly requestTimeout: number
  private readonly maxRangesInFlight: number
  private readonly groupNibbles: number
  private readonly announceInterval: number
  private readonly maxFaults: number
  private readonly maxPeersPerSlice: number
  private readonly topicPrefix: string

  private root?: Uint8Array
  private full = false
  private readonly heldAt = new Map<number, string>()
  private readonly sliceAccounts = new Map<number, number>()
  private readonly peers = new PeerMap<PeerInfo>()
  private readonly faults = new PeerMap<number>()
  private readonly bad = new PeerSet()
  private readonly seenDeltas = new Set<string>()
  private targets = new Set<number>()
  private running = false
  private controller = new AbortController()
  private announceTimer?: ReturnType<typeof setInterval>
  private syncing?: Promise<void>
  private syncAgain = false
  private reportedSynced?: string
  private subscribed = new Set<string>()
  private accountsHeld = 0
  private readonly counters = { requests: 0, responseBytes: 0, entryBytes: 0 }
  private adoptionOpen = false
  /** `null` until looked up */
  private pubsubService: PubSubLike | undefined | null = null
  private adoptionTimer?: ReturnType<typeof setTimeout>
  private readonly onMessage: (evt: any) => void
  private readonly onPeerConnect: () => void

  constructor (components: SliceSyncComponents, init: SliceSyncInit = {}) {
    super()
    this.components = components
    this.init = init
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
    this.maxPeersPerSlice = positiveInt('maxPeersPerSlice', init.maxPeersPerSlice ?? C.DEFAULT_MAX_PEERS_PER_SLICE)
    this.limits = {
      maxMessageSize: positiveInt('maxMessageSize', init.maxMessageSize ?? C.DEFAULT_MAX_MESSAGE_SIZE, 64),
      maxResponseBytes: positiveInt('maxResponseBytes', init.maxResponseBytes ?? C.DEFAULT_MAX_RESPONSE_BYTES),
      maxResponseCount: positiveInt('maxResponseCount', init.maxResponseCount ?? C.DEFAULT_MAX_RESPONSE_COUNT),
      maxHashesPerRequest: positiveInt('maxHashesPerRequest', init.maxHashesPerRequest ?? C.DEFAULT_MAX_HASHES_PER_REQUEST)
    }
    this.topicPrefix = `/kitsune/slice-sync/1/${init.network ?? C.DEFAULT_NETWORK}`
    this.store = new StateStore()
    this.chain = new HeaderChain(positiveInt('headerHistory', init.headerHistory ?? C.DEFAULT_HEADER_HISTORY))
    this.position = positionOf(components.peerId.toMultihash().bytes, this.sliceNibbles)
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
    this.onMessage = (evt) => { this.handleMessage(evt.detail) }
    this.onPeerConnect = () => {
      if (!this.full && this.chain.head == null && this.running) {
        // learn the headers that link to the trust anchor
        void this.catchUp().catch(() => {})
      }
      this.scheduleSync()
    }
  }

  // ---- lifecycle ----

  async start (): Promise<void> {
    this.running = true
    this.controller = new AbortController()
    await this.components.registrar.handle(C.PROTOCOL, (stream, connection) => {
      void this.handleStream(stream, connection)
    }, {
      maxInboundStreams: this.init.maxInboundStreams ?? C.DEFAULT_MAX_INBOUND_STREAMS,
      maxOutboundStreams: this.init.maxOutboundStreams ?? C.DEFAULT_MAX_OUTBOUND_STREAMS
    })
    if (this.init.source != null) {
      const { accounts, header } = await this.init.source.load({ signal: this.controller.signal })
      const { root, accounts: count } = this.store.load(accounts)
      if (header != null) {
        const info = this.chain.trustHeader(header)
        if (!equalsBytes(info.stateRoot, root)) {
          throw new InvalidProofError(`the source's state has root ${bytesToHex(root)}, its header says ${bytesToHex(info.stateRoot)}`)
        }
      } else {
        this.chain.trustRoot(root)
      }
      this.root = root
      this.full = true
      this.accountsHeld = count
      for (let s = 0; s < sliceCount(this.sliceNibbles); s++) {
        this.heldAt.set(s, bytesToHex(root))
      }
    }
  }

  /**
   * Gossip needs a started pubsub service: topics, validators and the
   * announcement timer are set up once every service has started
   */
  afterStart (): void {
    const pubsub = this.pubsub
    if (pubsub != null) {
      pubsub.addEventListener('message', this.onMessage)
      pubsub.topicValidators.set(this.topic('announce'), (peer, msg) => this.validateAnnounce(peer, msg))
      pubsub.topicValidators.set(this.topic('headers'), (peer, msg) => this.validateHeader(peer, msg))
      for (let g = 0; g < 16 ** this.groupNibbles; g++) {
        pubsub.topicValidators.set(this.topic(`delta/${g}`), async (peer, msg) => this.validateDelta(peer, msg, g))
      }
      this.subscribe(this.topic('announce'))
      this.subscribe(this.topic('headers'))
      this.announceTimer = setInterval(() => { this.announce() }, this.announceInterval)
    }

    this.components.events.addEventListener('peer:identify', this.onPeerConnect)
    this.recomputeTargets()
    this.announce()
    this.scheduleSync()
    if (this.init.source?.blocks != null) {
      void this.followSource()
    }
  }

  beforeStop (): void {
    this.running = false
    this.controller.abort()
    clearInterval(this.announceTimer)
    clearTimeout(this.adoptionTimer)
    this.components.events.removeEventListener('peer:identify', this.onPeerConnect)
    const pubsub = this.pubsub
    if (pubsub != null) {
      pubsub.removeEventListener('message', this.onMessage)
      for (const topic of this.subscribed) {
        try {
          pubsub.unsubscribe(topic)
        } catch {
          // pubsub already stopped
        }
        pubsub.topicValidators.delete(topic)
      }
      pubsub.topicValidators.delete(this.topic('announce'))
      pubsub.topicValidators.delete(this.topic('headers'))
      for (let g = 0; g < 16 ** this.groupNibbles; g++) {
        pubsub.topicValidators.delete(this.topic(`delta/${g}`))
      }
      this.subscribed.clear()
    }
  }

  async stop (): Promise<void> {
    this.beforeStop()
    await this.components.registrar.unhandle(C.PROTOCOL)
    await this.syncing?.catch(() => {})
  }

  // ---- public API ----

  get stateRoot (): Uint8Array | undefined {
    return this.root
  }

  get isBridge (): boolean {
    return this.full
  }

  /** Slices this peer wants to hold (responsible ∪ adopted), sorted */
  targetSlices (): number[] {
    return [...this.targets].sort((a, b) => a - b)
  }

  /** Slices complete and verified at the current state root, sorted */
  heldSlices (): number[] {
    const root = this.root == null ? undefined : bytesToHex(this.root)
    return [...this.heldAt].filter(([, r]) => r === root).map(([s]) => s).sort((a, b) => a - b)
  }

  progress (): SliceSyncProgress {
    const held = this.heldSlices()
    return {
      stateRoot: this.root == null ? undefined : bytesToHex(this.root),
      target: this.full ? held.length : this.targets.size,
      held: held.length,
      accounts: this.accountsHeld,
      synced: this.isSynced()
    }
  }

  isSynced (): boolean {
    if (this.root == null) {
      return false
    }
    const root = bytesToHex(this.root)
    for (const s of this.targets) {
      if (this.heldAt.get(s) !== root) {
        return false
      }
    }
    return true
  }

  /**
   * Peers known from announcements: their held slices and whether they are a
   * bridge
   */
  knownPeers (): Array<{ peer: PeerId, slices: number[], full: boolean, root: string }> {
    return [...this.peers.entries()].map(([peer, info]) => ({ peer, slices: [...info.slices].sort((a, b) => a - b), full: info.full, root: info.root }))
  }

  /** Peers no longer asked after sending data that did not verify */
  penalisedPeers (): PeerId[] {
    return [...this.bad]
  }

  async getAccount (address: Uint8Array | string, options: AccountQueryOptions = {}): Promise<VerifiedAccount | null> {
    const addr = typeof address === 'string' ? hexBytes(address) : address
    if (addr.length !== 20) {
      throw new InvalidOptionError('an address is 20 bytes')
    }
    const root = this.queryRoot(options.root)
    const key = keccak256(addr)
    const local = this.readLocal(root, key)
    if (local !== undefined) {
      return local == null ? null : { address: bytesToHex(addr), ...local, stateRoot: bytesToHex(root), proof: this.store.reader.prove(root, key) }
    }
    const { value, proof } = await this.fetchAccount(root, key, [], options)
    if (value == null) {
      return null
    }
    return { address: bytesToHex(addr), ...decodeAccount(value), stateRoot: bytesToHex(root), proof }
  }

  async getStorage (address: Uint8Array | string, slot: Uint8Array | string, options: AccountQueryOptions = {}): Promise<Uint8Array> {
    const addr = typeof address === 'string' ? hexBytes(address) : address
    const slotBytes = typeof slot === 'string' ? hexBytes(slot) : slot
    const root = this.queryRoot(options.root)
    const key = keccak256(addr)
    const sKey = slotKey(slotBytes)
    const local = this.readLocal(root, key)
    if (local !== undefined) {
      if (local == null) {
        return new Uint8Array(0)
      }
      const value = this.store.reader.get(local.storageRoot, sKey)
      return value == null ? new Uint8Array(0) : decodeSlot(value)
    }
    const { value, storage } = await this.fetchAccount(root, key, [sKey], options)
    if (value == null) {
      return new Uint8Array(0)
    }
    const v = storage[0]
    return v == null ? new Uint8Array(0) : decodeSlot(v)
  }

  /**
   * Applies one block's changes on a bridge and publishes the header and the
   * deltas. The new state root must be the header's.
   */
  async applyBlock (update: BlockUpdate): Promise<HeaderInfo> {
    if (!this.full || this.root == null) {
      throw new InvalidOptionError('only a bridge (a node with a source) applies blocks')
    }
    const header = decodeHeader(update.header)
    const parent = this.chain.get(header.parentHash)
    if (parent == null || !equalsBytes(parent.stateRoot, this.root)) {
      throw new UnknownRootError(`block ${header.number} does not follow the bridge's head`)
    }
    const { root, changed } = await this.store.apply(this.root, update.changes)
    if (!equalsBytes(root, header.stateRoot)) {
      throw new InvalidProofError(`applying block ${header.number} gives ${bytesToHex(root)}, its header says ${bytesToHex(header.stateRoot)}`)
    }
    this.chain.offer(header)
    this.root = root
    const rootHex = bytesToHex(root)
    for (let s = 0; s < sliceCount(this.sliceNibbles); s++) {
      this.heldAt.set(s, rootHex)
    }
    await this.publish(this.topic('headers'), update.header)
    const codes = new Map<string, Uint8Array>()
    for (const c of update.changes) {
      if (c.code != null && c.code.length > 0) {
        codes.set(bytesToHex(keccak256(c.address)), c.code)
      }
    }
    for (const delta of this.buildDeltas(header, changed, codes)) {
      await this.publish(this.topic(`delta/${delta.group}`), Delta.encode(delta))
    }
    this.safeDispatchEvent('block', { detail: { number: header.number, hash: bytesToHex(header.hash), stateRoot: rootHex } })
    return header
  }

  /**
   * Asks connected peers for their recent headers and follows them from the
   * trust anchor; returns the new head, if any
   */
  async catchUp (options: AbortOptions = {}): Promise<HeaderInfo | undefined> {
    for (const connection of this.components.connectionManager.getConnections()) {
      try {
        const response = await this.request(connection.remotePeer, { type: Request.Type.HEADERS, forwarded: false }, options)
        let advanced = false
        for (const rlp of response.headers) {
          const verdict = this.chain.offer(decodeHeader(rlp))
          advanced ||= verdict === 'accepted'
        }
        const head = this.chain.head
        if (advanced && head != null && (this.root == null || !equalsBytes(head.stateRoot, this.root))) {
          this.root = head.stateRoot
          this.scheduleSync()
          return head
        }
      } catch (err: any) {
        this.log('no headers from %p: %s', connection.remotePeer, err.message)
      }
    }
    return undefined
  }

  /**
   * The state root a peer follows (its answer to a HEADERS request). Not
   * verified: use it only where the peer is trusted to name the root.
   */
  async peerStateRoot (peer: PeerId, options: AbortOptions = {}): Promise<Uint8Array> {
    const response = await this.request(peer, { type: Request.Type.HEADERS }, options)
    if (response.root.length !== 32) {
      throw new UnknownRootError(`${peer.toString()} follows no state root`)
    }
    return response.root
  }

  // ---- responsibility ----

  private recomputeTargets (): void {
    if (this.full) {
      this.targets = new Set(this.heldSlices())
      return
    }
    const k = this.sliceNibbles
    const mine = responsibleSlices(this.position, k, this.radius)
    const targets = new Set(mine)
    if (this.replication > 0 && this.adoptionOpen) {
      const members: Array<{ id: string, position: number }> = [{ id: this.components.peerId.toString(), position: this.position }]
      for (const [peer, info] of this.peers) {
        if (!info.full) {
          members.push({ id: peer.toString(), position: info.position })
        }
      }
      const self = this.components.peerId.toString()
      const holders = new Map<number, Set<string>>()
      for (const m of members) {
        for (const s of responsibleSlices(m.position, k, this.radius)) {
          let set = holders.get(s)
          if (set == null) {
            set = new Set()
            holders.set(s, set)
          }
          set.add(m.id)
        }
      }
      for (let s = 0; s < sliceCount(k); s++) {
        const have = holders.get(s) ?? new Set<string>()
        const missing = this.replication - have.size
        if (missing <= 0) {
          continue
        }
        const candidates = members.filter(m => !have.has(m.id))
          .sort((a, b) => ((a.position ^ s) - (b.position ^ s)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .slice(0, missing)
        if (candidates.some(c => c.id === self)) {
          targets.add(s)
        }
      }
    }
    // the storage budget: nearest slices first
    this.targets = new Set([...targets].sort((a, b) => (a ^ this.position) - (b ^ this.position)).slice(0, this.maxSlices))
    // slices no longer wanted are no longer served or announced
    for (const slice of [...this.heldAt.keys()]) {
      if (!this.targets.has(slice)) {
        this.heldAt.delete(slice)
      }
    }
    this.updateSubscriptions()
  }

  private updateSubscriptions (): void {
    const groups = new Set<number>()
    for (const s of this.full ? [] : this.targets) {
      groups.add(this.groupOf(s))
    }
    for (const g of groups) {
      this.subscribe(this.topic(`delta/${g}`))
    }
  }

  private groupOf (slice: number): number {
    return Math.floor(slice / 16 ** (this.sliceNibbles - this.groupNibbles))
  }

  // ---- sync ----

  private scheduleSync (): void {
    if (!this.running || this.full) {
      return
    }
    if (this.syncing != null) {
      this.syncAgain = true
      return
    }
    this.syncing = this.syncLoop().finally(() => {
      this.syncing = undefined
      if (this.syncAgain && this.running) {
        this.syncAgain = false
        this.scheduleSync()
      }
    })
  }

  private async syncLoop (): Promise<void> {
    const root = this.root
    if (root == null) {
      return
    }
    const rootHex = bytesToHex(root)
    const pending = this.targetSlices().filter(s => this.heldAt.get(s) !== rootHex)
    const queue = [...pending]
    const worker = async (): Promise<void> => {
      while (this.running && queue.length > 0) {
        const slice = queue.shift()
        if (slice == null || this.root == null || !equalsBytes(this.root, root)) {
          return
        }
        try {
          await this.syncSlice(root, slice)
        } catch (err: any) {
          this.log('slice %d not synced yet: %s', slice, err.message)
        }
      }
    }
    if (pending.length > 0) {
      await Promise.all(Array.from({ length: Math.min(this.maxRangesInFlight, pending.length) }, worker))
    }
    this.accountsHeld = this.countAccounts()
    // once per state root and set of wanted slices
    const state = `${rootHex}/${this.targetSlices().join(',')}`
    if (this.isSynced() && this.reportedSynced !== state) {
      this.reportedSynced = state
      this.announce()
      this.safeDispatchEvent('synced', { detail: this.progress() })
    }
  }

  private countAccounts (): number {
    const root = this.root
    if (root == null) {
      return 0
    }
    let count = 0
    for (const s of this.heldSlices()) {
      count += this.sliceAccounts.get(s) ?? 0
    }
    return count
  }

  /** Providers of a slice: announced holders at this root first, then bridges */
  private providersOf (slice: number, root: string): PeerId[] {
    const holders: PeerId[] = []
    const bridges: PeerId[] = []
    for (const [peer, info] of this.peers) {
      if (this.bad.has(peer) || info.root !== root || !info.slices.has(slice)) {
        continue
      }
      (info.full ? bridges : holders).push(peer)
    }
    // spread the load: rotate by our position
    const rotate = holders.length === 0 ? 0 : this.position % holders.length
    return [...holders.slice(rotate), ...holders.slice(0, rotate), ...bridges].slice(0, this.maxPeersPerSlice)
  }

  private async syncSlice (root: Uint8Array, slice: number): Promise<void> {
    const providers = this.providersOf(slice, bytesToHex(root))
    if (providers.length === 0 && this.pubsub == null) {
      // without pubsub nothing is announced: ask the connected peers (every
      // answer is checked against the root all the same)
      for (const connection of this.components.connectionManager.getConnections()) {
        if (!this.bad.has(connection.remotePeer) && !providers.some(p => p.equals(connection.remotePeer)) && providers.length < this.maxPeersPerSlice) {
          providers.push(connection.remotePeer)
        }
      }
    }
    if (providers.length === 0) {
      throw new NoProviderError(`no peer announced slice ${slice}`)
    }
    let lastError: Error | undefined
    for (const peer of providers) {
      try {
        await this.fetchSlice(peer, root, slice)
        if (!this.targets.has(slice)) {
          return
        }
        this.heldAt.set(slice, bytesToHex(root))
        this.safeDispatchEvent('slice:synced', { detail: { slice, stateRoot: bytesToHex(root), from: peer } })
        return
      } catch (err: any) {
        lastError = err
        if (err instanceof InvalidProofError || err instanceof InvalidMessageError) {
          this.penalise(peer, err.message)
        }
      }
    }
    throw lastError ?? new NoProviderError(`slice ${slice}`)
  }

  private async fetchRangeFrom (peer: PeerId, root: Uint8Array, origin: Uint8Array, limit: Uint8Array, type: Request.Type): Promise<{ entries: TrieEntry[], proof: Uint8Array[] }> {
    const entries: TrieEntry[] = []
    const proof: Uint8Array[] = []
    let from: Uint8Array | undefined = origin
    while (from != null) {
      const response = await this.request(peer, {
        type,
        root,
        origin: from,
        limit,
        maxBytes: this.limits.maxResponseBytes,
        maxCount: this.limits.maxResponseCount,
        forwarded: false
      })
      const range = await verifyRange(root, from, limit, response)
      entries.push(...range.entries)
      proof.push(...range.proof)
      if (range.complete) {
        break
      }
      from = nextKey(range.entries[range.entries.length - 1].key)
    }
    return { entries, proof }
  }

  private async fetchSlice (peer: PeerId, root: Uint8Array, slice: number): Promise<void> {
    const { start, end } = sliceBounds(slice, this.sliceNibbles)
    const { entries, proof } = await this.fetchRangeFrom(peer, root, start, end, Request.Type.ACCOUNT_RANGE)
    // storage tries and code of the slice's accounts
    const codes = new Map<string, Uint8Array>()
    const wantedCodes: Uint8Array[] = []
    const storage: Array<{ entries: TrieEntry[], proof: Uint8Array[] }> = []
    for (const entry of entries) {
      const account = decodeAccount(entry.value)
      if (!equalsBytes(account.storageRoot, EMPTY_TRIE_ROOT) && !this.hasTrie(account.storageRoot)) {
        storage.push(await this.fetchRangeFrom(peer, account.storageRoot, ZERO_KEY, LAST_KEY, Request.Type.STORAGE_RANGE))
      }
      if (!equalsBytes(account.codeHash, EMPTY_CODE_HASH) && !this.store.codes.has(bytesToHex(account.codeHash))) {
        wantedCodes.push(account.codeHash)
      }
    }
    for (let i = 0; i < wantedCodes.length; i += this.limits.maxHashesPerRequest) {
      const hashes = wantedCodes.slice(i, i + this.limits.maxHashesPerRequest)
      const response = await this.request(peer, { type: Request.Type.BYTE_CODES, hashes, forwarded: false })
      for (const [hash, code] of verifyCodes(hashes, response.codes)) {
        codes.set(hash, code)
      }
    }
    for (const hash of wantedCodes) {
      if (!codes.has(bytesToHex(hash))) {
        throw new InvalidProofError(`code ${bytesToHex(hash)} missing from the answer`)
      }
    }
    // everything verified: keep it
    this.store.importRange(entries, proof)
    for (const s of storage) {
      this.store.importRange(s.entries, s.proof)
    }
    for (const [hash, code] of codes) {
      this.store.codes.set(hash, code)
    }
    this.sliceAccounts.set(slice, this.store.checkComplete(root, start, end))
  }

  private hasTrie (root: Uint8Array): boolean {
    try {
      this.store.reader.range(root, ZERO_KEY, LAST_KEY)
      return true
    } catch {
      return false
    }
  }

  private penalise (peer: PeerId, reason: string): void {
    const count = (this.faults.get(peer) ?? 0) + 1
    this.faults.set(peer, count)
    this.log('penalising %p: %s', peer, reason)
    this.safeDispatchEvent('peer:penalised', { detail: { peer, reason } })
    if (count >= this.maxFaults && !this.bad.has(peer)) {
      this.bad.add(peer)
      this.peers.delete(peer)
      void this.components.connectionManager.closeConnections(peer).catch(() => {})
    }
  }

  // ---- queries ----

  private queryRoot (root?: Uint8Array | string): Uint8Array {
    if (root != null) {
      return typeof root === 'string' ? hexBytes(root) : root
    }
    if (this.root == null) {
      throw new UnknownRootError('no state root: give trustedRoot, trustedHeader or a root')
    }
    return this.root
  }

  /** undefined: not held here; null: held and absent */
  private readLocal (root: Uint8Array, key: Uint8Array): AccountBody | null | undefined {
    const slice = sliceOf(key, this.sliceNibbles)
    if (this.heldAt.get(slice) == null) {
      return undefined
    }
    try {
      const value = this.store.reader.get(root, key)
      if (value == null) {
        return null
      }
      const account = decodeAccount(value)
      this.store.reader.range(account.storageRoot, ZERO_KEY, LAST_KEY)
      return account
    } catch (err: any) {
      if (err instanceof MissingNodeError) {
        return undefined
      }
      throw err
    }
  }

  private async fetchAccount (root: Uint8Array, key: Uint8Array, slots: Uint8Array[], options: AccountQueryOptions & { forwarded?: boolean }): Promise<{ value: Uint8Array | null, proof: Uint8Array[], storageProof: Uint8Array[], storage: Array<Uint8Array | null> }> {
    const slice = sliceOf(key, this.sliceNibbles)
    const rootHex = bytesToHex(root)
    const candidates = [...this.providersOf(slice, rootHex)]
    // then connected peers and every announced peer: one that does not hold
    // the account asks a holder on our behalf
    const others = [...this.components.connectionManager.getConnections().map(c => c.remotePeer), ...this.peers.keys()]
    for (const peer of others) {
      if (!candidates.some(p => p.equals(peer)) && !this.bad.has(peer) && candidates.length < this.maxPeersPerSlice * 2) {
        candidates.push(peer)
      }
    }
    let lastError: Error | undefined
    for (const peer of candidates) {
      try {
        const response = await this.request(peer, { type: Request.Type.ACCOUNT_PROOF, root, key, slots, forwarded: options.forwarded === true }, options)
        const value = readProof(root, key, response.proof)
        const storage: Array<Uint8Array | null> = []
        if (slots.length > 0) {
          const storageRoot = value == null ? EMPTY_TRIE_ROOT : decodeAccount(value).storageRoot
          for (const s of slots) {
            storage.push(equalsBytes(storageRoot, EMPTY_TRIE_ROOT) ? null : readProof(storageRoot, s, response.storageProof))
          }
        }
        return { value, proof: response.proof, storageProof: response.storageProof, storage }
      } catch (err: any) {
        lastError = err
        if (err instanceof InvalidProofError || err instanceof InvalidMessageError) {
          this.penalise(peer, err.message)
        }
      }
    }
    throw new NoProviderError(`no peer answered for ${bytesToHex(key)} at ${rootHex}${lastError == null ? '' : `: ${lastError.message}`}`)
  }

  private async request (peer: PeerId, request: RequestInit, options: AbortOptions = {}): Promise<Response> {
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.requestTimeout), ...(options.signal == null ? [] : [options.signal])])
    const stream = await this.components.connectionManager.openStream(peer, C.PROTOCOL, { signal })
    const response = await exchange(stream, ({
      root: new Uint8Array(0),
      origin: new Uint8Array(0),
      limit: new Uint8Array(0),
      maxBytes: 0,
      maxCount: 0,
      hashes: [],
      key: new Uint8Array(0),
      slots: [],
      forwarded: false,
      ...request
    } as any) as Request, this.limits, { signal })
    this.counters.requests++
    this.counters.responseBytes += Response.encode(response).byteLength
    for (const e of response.entries) {
      this.counters.entryBytes += e.key.byteLength + e.value.byteLength
    }
    return response
  }

  /**
   * What this peer asked for and received: requests sent, bytes of the
   * answers, and bytes of the entries (keys and values) in them
   */
  stats (): { requests: number, responseBytes: number, entryBytes: number } {
    return { ...this.counters }
  }

  // ---- serving ----

  private async handleStream (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: this.limits.maxMessageSize })
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.requestTimeout)])
    let response: Response
    try {
      let bytes
      try {
        bytes = await lp.read({ signal })
      } catch (err: any) {
        if (err.name === 'InvalidDataLengthError') {
          throw new InvalidMessageError(`request larger than maxMessageSize (${this.limits.maxMessageSize} bytes)`)
        }
        throw err
      }
      let request: Request
      try {
        request = Request.decode(bytes, { limits: { hashes: this.limits.maxHashesPerRequest, slots: this.limits.maxHashesPerRequest } })
      } catch (err: any) {
        throw new InvalidMessageError(`not a slice-sync request: ${err.message}`)
      }
      response = await this.answer(request)
    } catch (err: any) {
      if (err instanceof InvalidMessageError) {
        this.log('bad request from %p: %s', connection.remotePeer, err.message)
        response = emptyResponse(Response.Status.BAD_REQUEST, err.message)
      } else if (err.name === 'AbortError' || err.name === 'TimeoutError') {
        stream.abort(err)
        return
      } else {
        response = emptyResponse(Response.Status.ERROR, err.message)
      }
    }
    try {
      let encoded = Response.encode(response)
      if (encoded.byteLength + 8 > this.limits.maxMessageSize) {
        encoded = Response.encode(emptyResponse(Response.Status.ERROR, 'response would exceed maxMessageSize'))
      }
      await lp.write(encoded, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err)
    }
  }

  private async answer (request: Request): Promise<Response> {
    const reader = this.store.reader
    switch (request.type) {
      case Request.Type.ACCOUNT_RANGE:
      case Request.Type.STORAGE_RANGE: {
        if (request.root.length !== 32 || request.origin.length !== 32 || request.limit.length !== 32) {
          throw new InvalidMessageError('root, origin and limit must be 32 bytes')
        }
        const maxCount = Math.min(request.maxCount === 0 ? this.limits.maxResponseCount : request.maxCount, this.limits.maxResponseCount)
        const maxBytes = Math.min(request.maxBytes === 0 ? this.limits.maxResponseBytes : request.maxBytes, this.limits.maxResponseBytes)
        try {
          const { entries, complete } = reader.range(request.root, request.origin, request.limit, { maxCount, maxBytes })
          const last = complete ? request.limit : entries[entries.length - 1].key
          const proof = dedupe([...reader.prove(request.root, request.origin), ...reader.prove(request.root, last)])
          return { ...emptyResponse(Response.Status.OK), entries, proof, complete } as Response
        } catch (err: any) {
          if (err instanceof MissingNodeError) {
            return emptyResponse(Response.Status.NOT_HELD, 'range not held at this root')
          }
          throw err
        }
      }
      case Request.Type.BYTE_CODES: {
        const codes: Uint8Array[] = []
        for (const hash of request.hashes) {
          const code = this.store.codes.get(bytesToHex(hash))
          if (code != null) {
            codes.push(code)
          }
        }
        return { ...emptyResponse(Response.Status.OK), codes } as Response
      }
      case Request.Type.ACCOUNT_PROOF: {
        if (request.root.length !== 32 || request.key.length !== 32 || request.slots.some(s => s.length !== 32)) {
          throw new InvalidMessageError('root, key and slots must be 32 bytes')
        }
        try {
          const value = reader.get(request.root, request.key)
          const proof = reader.prove(request.root, request.key)
          const storageProof: Uint8Array[] = []
          if (value != null) {
            const { storageRoot } = decodeAccount(value)
            for (const s of request.slots) {
              storageProof.push(...reader.prove(storageRoot, s))
            }
          }
          return { ...emptyResponse(Response.Status.OK), proof, storageProof: dedupe(storageProof) } as Response
        } catch (err: any) {
          if (!(err instanceof MissingNodeError)) {
            throw err
          }
          if (request.forwarded) {
            return emptyResponse(Response.Status.NOT_HELD, 'account not held at this root')
          }
        }
        // not held here: ask a holder on the requester's behalf; the
        // requester verifies the proof itself
        try {
          const { proof, storageProof } = await this.fetchAccount(request.root, request.key, request.slots, { forwarded: true })
          return { ...emptyResponse(Response.Status.OK), proof, storageProof } as Response
        } catch (err: any) {
          return emptyResponse(Response.Status.NOT_HELD, err.message)
        }
      }
      case Request.Type.HEADERS: {
        return {
          ...emptyResponse(Response.Status.OK),
          headers: this.chain.list().slice(-this.limits.maxResponseCount).map(h => h.rlp),
          root: this.root ?? new Uint8Array(0)
        } as Response
      }
      default:
        throw new InvalidMessageError(`unknown request type ${request.type as number}`)
    }
  }

  // ---- gossip ----

  /**
   * The pubsub service, or `undefined` when none is configured (libp2p's
   * components throw for a missing service): without one, no announcements,
   * headers or deltas are sent or received
   */
  private get pubsub (): PubSubLike | undefined {
    if (this.pubsubService === null) {
      try {
        this.pubsubService = (this.components as any)[this.init.pubsubService ?? C.DEFAULT_PUBSUB_SERVICE] ?? undefined
      } catch {
        this.pubsubService = undefined
      }
    }
    return this.pubsubService ?? undefined
  }

  private topic (name: string): string {
    return `${this.topicPrefix}/${name}`
  }

  private subscribe (topic: string): void {
    const pubsub = this.pubsub
    if (pubsub == null || this.subscribed.has(topic)) {
      return
    }
    this.subscribed.add(topic)
    pubsub.subscribe(topic)
  }

  private async publish (topic: string, data: Uint8Array): Promise<void> {
    try {
      await this.pubsub?.publish(topic, data)
    } catch (err: any) {
      this.log('publish on %s: %s', topic, err.message)
    }
  }

  private announce (): void {
    // a light peer (maxSlices 0) is not announced: nobody counts it as a holder
    if (!this.running || this.root == null || this.maxSlices === 0 || this.pubsub == null) {
      return
    }
    const held = this.heldSlices()
    void this.publish(this.topic('announce'), Announce.encode({
      slices: slicesToBitmap(held, this.sliceNibbles),
      root: this.root,
      full: this.full,
      sliceNibbles: this.sliceNibbles,
      addrs: (this.components.addressManager?.getAddresses() ?? []).slice(0, 16).map(a => a.bytes)
    } as Announce))
  }

  private handleMessage (message: any): void {
    if (message?.topic !== this.topic('announce') || message.type !== 'signed') {
      return
    }
    let announce: Announce
    try {
      announce = Announce.decode(message.data)
    } catch {
      return
    }
    const peer: PeerId = message.from
    if (this.bad.has(peer) || peer.equals(this.components.peerId)) {
      return
    }
    const known = this.peers.get(peer)
    const info: PeerInfo = {
      slices: new Set(bitmapToSlices(announce.slices, this.sliceNibbles)),
      root: bytesToHex(announce.root),
      full: announce.full,
      position: positionOf(peer.toMultihash().bytes, this.sliceNibbles)
    }
    this.peers.set(peer, info)
    if (this.adoptionTimer == null && !info.full) {
      // take on under-held slices once other peers' announcements had time
      // to arrive
      this.adoptionTimer = setTimeout(() => {
        this.adoptionOpen = true
        this.recomputeTargets()
        this.scheduleSync()
      }, 2 * this.announceInterval)
    }
    if (known == null && announce.addrs.length > 0 && this.components.peerStore != null) {
      try {
        const multiaddrs = announce.addrs.slice(0, 16).map(a => multiaddr(a))
        void this.components.peerStore.merge(peer, { multiaddrs }).catch(() => {})
      } catch {
        // an unusable address: the peer is still known by id
      }
    }
    if (known == null || known.full !== info.full) {
      this.recomputeTargets()
    }
    if (known == null || known.root !== info.root || known.slices.size !== info.slices.size) {
      this.scheduleSync()
    }
  }

  private validateAnnounce (peer: PeerId, message: any): any {
    try {
      const announce = Announce.decode(message.data)
      if (announce.sliceNibbles !== this.sliceNibbles || announce.root.length !== 32 ||
        announce.slices.length !== Math.ceil(sliceCount(this.sliceNibbles) / 8)) {
        return REJECT
      }
      return this.bad.has(peer) ? IGNORE : ACCEPT
    } catch {
      return REJECT
    }
  }

  private validateHeader (peer: PeerId, message: any): any {
    let header: HeaderInfo
    try {
      header = decodeHeader(message.data)
    } catch {
      this.faultFromGossip(peer, 'malformed header')
      return REJECT
    }
    try {
      const verdict = this.chain.offer(header)
      if (verdict === 'accepted') {
        this.onNewHeader(header)
        return ACCEPT
      }
      return IGNORE
    } catch (err: any) {
      this.faultFromGossip(peer, err.message)
      return REJECT
    }
  }

  private onNewHeader (header: HeaderInfo): void {
    if (this.full) {
      return
    }
    // a peer that holds no slice follows the head's state root
    if (this.chain.head === header && this.targets.size === 0) {
      this.root = header.stateRoot
    }
  }

  private faultFromGossip (peer: PeerId, reason: string): void {
    this.penalise(peer, reason)
  }

  private async validateDelta (peer: PeerId, message: any, group: number): Promise<any> {
    let delta: Delta
    let header: HeaderInfo
    try {
      delta = Delta.decode(message.data, { limits: { accounts: 65536, nodes: 65536, codes: 1024 } })
      header = decodeHeader(delta.header)
      if (delta.group !== group || !equalsBytes(header.stateRoot, delta.stateRoot)) {
        throw new InvalidMessageError('delta group or state root does not match')
      }
    } catch (err: any) {
      this.faultFromGossip(peer, `malformed delta: ${err.message}`)
      return REJECT
    }
    const id = `${bytesToHex(header.hash)}/${group}`
    if (this.seenDeltas.has(id)) {
      return IGNORE
    }
    let verdict
    try {
      verdict = this.chain.offer(header)
    } catch (err: any) {
      this.faultFromGossip(peer, err.message)
      return REJECT
    }
    if (verdict === 'unknown-parent') {
      // cannot be checked: its header does not link to a header we follow
      this.safeDispatchEvent('delta:ignored', { detail: { peer, reason: 'unknown header' } })
      return IGNORE
    }
    const root = header.stateRoot
    const overlay = new OverlayNodes(this.store.nodes)
    addNodes(overlay.top, delta.nodes)
    const reader = new TrieReader(overlay)
    const codes = new Map<string, Uint8Array>()
    for (const code of delta.codes) {
      codes.set(bytesToHex(keccak256(code)), code)
    }
    try {
      for (const entry of delta.accounts) {
        if (entry.key.length !== 32 || this.groupOf(sliceOf(entry.key, this.sliceNibbles)) !== group) {
          throw new InvalidProofError('delta entry outside its group')
        }
        let value: Uint8Array | null
        try {
          value = reader.get(root, entry.key)
        } catch (err: any) {
          throw new InvalidProofError(`delta proof is incomplete: ${err.message}`)
        }
        if (entry.value.length === 0 ? value != null : (value == null || !equalsBytes(value, entry.value))) {
          throw new InvalidProofError(`delta value of ${bytesToHex(entry.key)} does not match the state root`)
        }
      }
    } catch (err: any) {
      this.faultFromGossip(peer, err.message)
      this.safeDispatchEvent('delta:rejected', { detail: { peer, reason: err.message } })
      return REJECT
    }
    this.seenDeltas.add(id)
    if (this.seenDeltas.size > 4096) {
      this.seenDeltas.delete(this.seenDeltas.values().next().value as string)
    }
    // apply to the slices of this group that we hold
    const parent = this.chain.get(header.parentHash)
    const parentRoot = parent == null ? undefined : bytesToHex(parent.stateRoot)
    const rootHex = bytesToHex(root)
    let applied = 0
    for (const [slice, at] of this.heldAt) {
      if (this.groupOf(slice) !== group || (at !== parentRoot && at !== rootHex)) {
        continue
      }
      const { start, end } = sliceBounds(slice, this.sliceNibbles)
      try {
        this.sliceAccounts.set(slice, this.store.checkComplete(root, start, end, reader, codes))
        this.heldAt.set(slice, rootHex)
        applied++
      } catch (err: any) {
        if (!(err instanceof MissingNodeError || err instanceof MissingStorage)) {
          throw err
        }
        this.log('slice %d not complete after delta %s: %s', slice, id, err.message)
      }
    }
    for (const [hash, bytes] of overlay.top) {
      this.store.nodes.set(hash, bytes)
    }
    for (const [hash, code] of codes) {
      this.store.codes.set(hash, code)
    }
    if (this.chain.head === header || (this.root != null && parentRoot === bytesToHex(this.root))) {
      if (this.root == null || !equalsBytes(this.root, root)) {
        this.root = root
      }
    }
    this.safeDispatchEvent('delta:applied', { detail: { group, number: header.number, stateRoot: rootHex, slices: applied } })
    if (this.isSynced()) {
      this.accountsHeld = this.countAccounts()
      this.safeDispatchEvent('block', { detail: { number: header.number, hash: bytesToHex(header.hash), stateRoot: rootHex } })
    } else {
      this.scheduleSync()
    }
    return ACCEPT
  }

  private buildDeltas (header: HeaderInfo, changed: Map<string, Uint8Array[]>, codesByKey: Map<string, Uint8Array>): Delta[] {
    const root = header.stateRoot
    const reader = this.store.reader
    const groups = 16 ** this.groupNibbles
    const perGroup = Array.from({ length: groups }, () => ({ accounts: [] as Array<{ key: Uint8Array, value: Uint8Array }>, nodes: new Map<string, Uint8Array>(), codes: [] as Uint8Array[] }))
    const add = (g: number, proof: Uint8Array[]): void => {
      for (const node of proof) {
        perGroup[g].nodes.set(bytesToHex(keccak256(node)), node)
      }
    }
    for (let s = 0; s < sliceCount(this.sliceNibbles); s++) {
      const { start, end } = sliceBounds(s, this.sliceNibbles)
      add(this.groupOf(s), reader.prove(root, start))
      add(this.groupOf(s), reader.prove(root, end))
    }
    for (const [keyHex, slots] of changed) {
      const key = hexBytes(keyHex)
      const g = this.groupOf(sliceOf(key, this.sliceNibbles))
      const value = reader.get(root, key)
      perGroup[g].accounts.push({ key, value: value ?? new Uint8Array(0) })
      add(g, reader.prove(root, key))
      if (value != null) {
        const { storageRoot } = decodeAccount(value)
        for (const slot of slots) {
          add(g, reader.prove(storageRoot, slot))
        }
      }
      const code = codesByKey.get(keyHex)
      if (code != null) {
        perGroup[g].codes.push(code)
      }
    }
    return perGroup.map((d, group): Delta => ({
      header: header.rlp,
      stateRoot: root,
      group,
      accounts: d.accounts,
      nodes: [...d.nodes.values()],
      codes: d.codes
    } as any))
  }

  private async followSource (): Promise<void> {
    try {
      for await (const update of this.init.source?.blocks?.({ signal: this.controller.signal }) ?? []) {
        await this.applyBlock(update)
      }
    } catch (err: any) {
      if (this.running) {
        this.log.error('state source failed: %s', err.message)
        this.safeDispatchEvent('source:error', { detail: err })
      }
    }
  }
}

function emptyResponse (status: Response.Status, error = ''): Response {
  return { status, error, entries: [], proof: [], complete: false, codes: [], headers: [], storageProof: [], root: new Uint8Array(0) }
}

function dedupe (nodes: Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>()
  for (const n of nodes) {
    seen.set(bytesToHex(n), n)
  }
  return [...seen.values()]
}

function decodeSlot (value: Uint8Array): Uint8Array {
  // storage values are RLP strings
  const decoded = RLP.decode(value)
  if (!(decoded instanceof Uint8Array)) {
    throw new InvalidProofError('a storage value is not an RLP string')
  }
  return decoded
}

/**
 * Hex (with or without 0x) to bytes; throws InvalidOptionError on bad input
 */
export function hexBytes (hex: string): Uint8Array {
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new InvalidOptionError(`not hex: ${hex}`)
  }
  const out = new Uint8Array(clean.length / 2)
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16)
  }
  return out
}

export { RemoteError }
