import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { ADOPTION_DELAY_INTERVALS } from './constants.ts'
import { InvalidMessageError, InvalidProofError, NoProviderError } from './errors.ts'
import { Request } from './pb/slice-sync.ts'
import { nextKey, verifyCodes, verifyRange } from './protocol.ts'
import { responsibleSlices, sliceBounds, sliceCount } from './slices.ts'
import { decodeAccount, EMPTY_CODE_HASH } from './state.ts'
import { StorageSyncer } from './storage-syncer.ts'
import { EMPTY_TRIE_ROOT } from './trie.ts'
import { LAST_KEY, ZERO_KEY } from './util.ts'
import type { NodeState } from './node-state.ts'
import type { Queries } from './queries.ts'
import type { TrieEntry } from './trie.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * What the syncer tells the gossip side
 */
export interface SyncerHooks {
  /** The wanted slices changed: subscribe to their delta topics */
  targetsChanged(): void
  /** Every wanted slice is held at the root: announce it */
  synced(): void
}

/**
 * Decides which slices this peer wants (responsibility by XOR distance,
 * adoption of under-held slices, the storage budget) and fills them with
 * verified range requests
 */
export class SliceSyncer {
  hooks?: SyncerHooks
  private readonly state: NodeState
  private readonly queries: Queries
  private readonly storage: StorageSyncer
  private syncing?: Promise<void>
  private syncAgain = false
  private reportedSynced?: string
  private adoptionOpen = false
  private adoptionTimer?: ReturnType<typeof setTimeout>

  constructor (state: NodeState, queries: Queries) {
    this.state = state
    this.queries = queries
    this.storage = new StorageSyncer(state, queries, this)
  }

  /** Whether the large accounts at the root followed are still to be learnt */
  get storagePending (): boolean {
    return this.storage.pending
  }

  /** A peer (not a bridge) announced itself: adoption starts once announcements had time to arrive */
  peerAnnounced (): void {
    if (this.adoptionTimer != null) {
      return
    }
    this.adoptionTimer = setTimeout(() => {
      this.adoptionOpen = true
      this.recomputeTargets()
      this.scheduleSync()
    }, ADOPTION_DELAY_INTERVALS * this.state.announceInterval)
  }

  async stop (): Promise<void> {
    clearTimeout(this.adoptionTimer)
    // a restart waits for announcements again
    this.adoptionTimer = undefined
    this.adoptionOpen = false
    await this.syncing?.catch(() => {})
    await this.storage.stop()
  }

  recomputeTargets (): void {
    const state = this.state
    if (state.full) {
      state.targets = new Set(state.heldSlices())
      return
    }
    const k = state.sliceNibbles
    const targets = new Set(responsibleSlices(state.position, k, state.radius))
    if (state.replication > 0 && this.adoptionOpen) {
      for (const s of this.adopted()) {
        targets.add(s)
      }
    }
    // the storage budget: nearest slices first
    state.targets = new Set([...targets].sort((a, b) => (a ^ state.position) - (b ^ state.position)).slice(0, state.maxSlices))
    // slices no longer wanted are no longer served or announced
    for (const slice of [...state.heldAt.keys()]) {
      if (!state.targets.has(slice)) {
        state.heldAt.delete(slice)
      }
    }
    this.hooks?.targetsChanged()
  }

  /**
   * Slices that fewer than `replication` announced peers are responsible
   * for and that this peer is among the nearest not responsible for: every
   * peer computes the same answer from the same announcements
   */
  private adopted (): number[] {
    const state = this.state
    const k = state.sliceNibbles
    const self = state.components.peerId.toString()
    const members: Array<{ id: string, position: number }> = [{ id: self, position: state.position }]
    for (const [peer, info] of state.announcedPeers()) {
      if (!info.full) {
        members.push({ id: peer.toString(), position: info.position })
      }
    }
    const holders = new Map<number, Set<string>>()
    for (const m of members) {
      for (const s of responsibleSlices(m.position, k, state.radius)) {
        let set = holders.get(s)
        if (set == null) {
          set = new Set()
          holders.set(s, set)
        }
        set.add(m.id)
      }
    }
    const out: number[] = []
    for (let s = 0; s < sliceCount(k); s++) {
      const have = holders.get(s) ?? new Set<string>()
      const missing = state.replication - have.size
      if (missing <= 0) {
        continue
      }
      const candidates = members.filter(m => !have.has(m.id))
        .sort((a, b) => ((a.position ^ s) - (b.position ^ s)) || byCodeUnits(a.id, b.id))
        .slice(0, missing)
      if (candidates.some(c => c.id === self)) {
        out.push(s)
      }
    }
    return out
  }

  scheduleSync (): void {
    if (!this.state.running || this.state.full) {
      return
    }
    if (this.syncing != null) {
      this.syncAgain = true
      return
    }
    this.syncing = this.syncLoop().finally(() => {
      this.syncing = undefined
      if (this.syncAgain && this.state.running) {
        this.syncAgain = false
        this.scheduleSync()
      }
    })
  }

  private async syncLoop (): Promise<void> {
    const state = this.state
    const root = state.root
    if (root == null) {
      return
    }
    const rootHex = bytesToHex(root)
    const queue = [...state.targets].sort((a, b) => a - b).filter(s => state.heldAt.get(s) !== rootHex)
    const pending = queue.length
    const worker = async (): Promise<void> => {
      while (state.running && queue.length > 0) {
        const slice = queue.shift()
        if (slice == null || state.root == null || !equalsBytes(state.root, root)) {
          return
        }
        try {
          await this.syncSlice(root, slice)
        } catch (err: any) {
          state.log('slice %d not synced yet: %s', slice, err.message)
        }
      }
    }
    const started = Date.now()
    if (pending > 0) {
      await Promise.all(Array.from({ length: Math.min(state.maxRangesInFlight, pending) }, worker))
      state.accountsHeld = state.countAccounts()
      state.metrics.syncPass(Date.now() - started)
    }
    if (await this.storage.sync(root) > 0) {
      state.metrics.syncPass(Date.now() - started)
    }
    state.accountsHeld = state.countAccounts()
    // once per state root and set of wanted slices
    const key = `${rootHex}/${[...state.targets].sort((a, b) => a - b).join(',')}/${state.storageHeld.size}`
    if (state.isSynced() && this.reportedSynced !== key) {
      this.reportedSynced = key
      this.hooks?.synced()
      state.events.safeDispatchEvent('synced', { detail: state.progress() })
    }
  }

  private async syncSlice (root: Uint8Array, slice: number): Promise<void> {
    const state = this.state
    const providers = state.providersOf(slice, bytesToHex(root))
    if (providers.length === 0 && state.pubsub == null) {
      // without pubsub nothing is announced: ask the connected peers (every
      // answer is checked against the root all the same)
      for (const connection of state.components.connectionManager.getConnections()) {
        const peer = connection.remotePeer
        if (!state.isBad(peer) && !providers.some(p => p.equals(peer)) && providers.length < state.maxPeersPerSlice) {
          providers.push(peer)
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
        if (!state.targets.has(slice)) {
          return
        }
        state.heldAt.set(slice, bytesToHex(root))
        state.events.safeDispatchEvent('slice:synced', { detail: { slice, stateRoot: bytesToHex(root), from: peer } })
        return
      } catch (err: any) {
        lastError = err
        if (err instanceof InvalidProofError || err instanceof InvalidMessageError) {
          state.penalise(peer, err.message, 'range')
        }
      }
    }
    throw lastError ?? new NoProviderError(`slice ${slice}`)
  }

  /**
   * A whole key range of a trie from one peer, every response verified;
   * undefined when it holds more than `maxEntries` entries
   */
  async fetchRange (peer: PeerId, root: Uint8Array, origin: Uint8Array, limit: Uint8Array, type: Request.Type, maxEntries = Infinity): Promise<{ entries: TrieEntry[], proof: Uint8Array[] } | undefined> {
    const limits = this.state.limits
    const entries: TrieEntry[] = []
    const proof: Uint8Array[] = []
    let from: Uint8Array | undefined = origin
    while (from != null) {
      const response = await this.queries.request(peer, {
        type,
        root,
        origin: from,
        limit,
        maxBytes: limits.maxResponseBytes,
        maxCount: Math.min(limits.maxResponseCount, maxEntries + 1 - entries.length),
        forwarded: false
      })
      const range = await verifyRange(root, from, limit, response)
      this.state.metrics.rangeFetched(type === Request.Type.ACCOUNT_RANGE ? 'account' : 'storage')
      entries.push(...range.entries)
      proof.push(...range.proof)
      if (range.complete) {
        break
      }
      if (entries.length > maxEntries) {
        return undefined
      }
      from = nextKey(range.entries[range.entries.length - 1].key)
    }
    return { entries, proof }
  }

  /**
   * A slice's accounts, their storage tries and code from one peer; kept
   * only once all of it verified
   */
  private async fetchSlice (peer: PeerId, root: Uint8Array, slice: number): Promise<void> {
    const { store, limits, sliceNibbles } = this.state
    const { start, end } = sliceBounds(slice, sliceNibbles)
    const { entries, proof } = await this.fetchRange(peer, root, start, end, Request.Type.ACCOUNT_RANGE) ?? { entries: [], proof: [] }
    const codes = new Map<string, Uint8Array>()
    const wantedCodes: Uint8Array[] = []
    const storage: Array<{ entries: TrieEntry[], proof: Uint8Array[] }> = []
    for (const entry of entries) {
      const account = decodeAccount(entry.value)
      if (!equalsBytes(account.storageRoot, EMPTY_TRIE_ROOT) && !this.state.isSliced(account.storageRoot) && !this.hasTrie(account.storageRoot)) {
        const range = await this.fetchRange(peer, account.storageRoot, ZERO_KEY, LAST_KEY, Request.Type.STORAGE_RANGE, this.state.maxInlineStorageSlots)
        if (range == null) {
          // a large storage trie: sliced on its own, held by other peers
          this.state.large.set(bytesToHex(entry.key), account.storageRoot)
        } else {
          storage.push(range)
        }
      }
      if (!equalsBytes(account.codeHash, EMPTY_CODE_HASH) && !store.codes.has(bytesToHex(account.codeHash))) {
        wantedCodes.push(account.codeHash)
      }
    }
    for (let i = 0; i < wantedCodes.length; i += limits.maxHashesPerRequest) {
      const hashes = wantedCodes.slice(i, i + limits.maxHashesPerRequest)
      const response = await this.queries.request(peer, { type: Request.Type.BYTE_CODES, hashes, forwarded: false })
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
    store.importRange(entries, proof)
    for (const s of storage) {
      store.importRange(s.entries, s.proof)
    }
    for (const [hash, code] of codes) {
      store.codes.set(hash, code)
    }
    this.state.sliceAccounts.set(slice, store.checkComplete(root, start, end, store.reader, undefined, r => this.state.isSliced(r)))
  }

  private hasTrie (root: Uint8Array): boolean {
    try {
      this.state.store.reader.range(root, ZERO_KEY, LAST_KEY)
      return true
    } catch {
      return false
    }
  }
}

/** Plain string order (not the locale's): every peer must sort alike */
function byCodeUnits (a: string, b: string): number {
  if (a === b) {
    return 0
  }
  return a < b ? -1 : 1
}
