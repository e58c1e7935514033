import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { LARGE_ACCOUNT_SOURCES } from './constants.ts'
import { InvalidMessageError, InvalidProofError, NoProviderError } from './errors.ts'
import { Request } from './pb/slice-sync.ts'
import { readProof } from './protocol.ts'
import { sliceBounds } from './slices.ts'
import { decodeAccount } from './state.ts'
import { addNodes } from './trie.ts'
import type { NodeState } from './node-state.ts'
import type { Queries } from './queries.ts'
import type { SliceSyncer } from './slice-syncer.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * Large storage tries (over `maxInlineStorageSlots` slots) are sliced on
 * their own: storage slice `i` of account `h` is held by the peers
 * responsible for slice `(i + prefix(h)) mod 16^k`. This learns which
 * accounts are large (from peers, each account checked with its proof) and
 * fetches the storage slices this peer wants, each range verified against
 * the account's storage root.
 */
export class StorageSyncer {
  private readonly state: NodeState
  private readonly queries: Queries
  private readonly syncer: SliceSyncer
  private askedAt?: string
  private lastAttempt = -Infinity
  private learning?: Promise<void>

  constructor (state: NodeState, queries: Queries, syncer: SliceSyncer) {
    this.state = state
    this.queries = queries
    this.syncer = syncer
  }

  /** Brings the wanted storage slices to `root`; returns how many were fetched */
  async sync (root: Uint8Array): Promise<number> {
    const state = this.state
    if (state.full || state.targets.size === 0) {
      return 0
    }
    this.learn(root)
    let fetched = 0
    for (const wanted of state.wantedStorage()) {
      if (!state.running || state.root == null || !equalsBytes(state.root, root)) {
        break
      }
      if (state.storageHeld.get(wanted.id) === bytesToHex(wanted.storageRoot)) {
        continue
      }
      try {
        await this.fetchStorageSlice(root, wanted)
        fetched++
      } catch (err: any) {
        state.log('storage slice %s not synced yet: %s', wanted.id, err.message)
      }
    }
    return fetched
  }

  /**
   * Learns the large accounts at the root in the background (a range sync
   * does not wait for it); what it learns starts another sync pass
   */
  private learn (root: Uint8Array): void {
    if (this.learning != null) {
      return
    }
    this.learning = this.learnLarge(root)
      .then(changed => {
        if (changed) {
          this.syncer.scheduleSync()
        }
      })
      .catch(err => { this.state.log('large accounts not learnt: %s', err.message) })
      .finally(() => { this.learning = undefined })
  }

  /**
   * Asks peers (bridges first) which accounts have large storage tries at
   * the root; each answer's accounts are checked with their proofs, and the
   * proof nodes kept (so that this peer can prove the accounts whose
   * storage slices it serves)
   */
  private async learnLarge (root: Uint8Array): Promise<boolean> {
    const state = this.state
    const rootHex = bytesToHex(root)
    // once per root; until settled, at most once per announcement interval
    if (this.askedAt === rootHex || Date.now() - this.lastAttempt < state.announceInterval) {
      return false
    }
    let changed = false
    this.lastAttempt = Date.now()
    const announced = [...state.announcedPeers()].filter(([, info]) => info.root === rootHex).sort(([, a], [, b]) => Number(b.full) - Number(a.full)).map(([id]) => id)
    const candidates: PeerId[] = [...announced]
    for (const connection of state.components.connectionManager.getConnections()) {
      if (!state.isBad(connection.remotePeer) && !candidates.some(p => p.equals(connection.remotePeer))) {
        candidates.push(connection.remotePeer)
      }
    }
    // with a bridge announced at this root, its answer settles it (it knows
    // every large account); without one, the first answers do
    const bridged = [...state.announcedPeers()].some(([, info]) => info.full && info.root === rootHex)
    let answered = 0
    let settled = false
    for (const peer of candidates.slice(0, LARGE_ACCOUNT_SOURCES)) {
      try {
        const response = await this.queries.request(peer, { type: Request.Type.LARGE_ACCOUNTS, root })
        for (const entry of response.entries) {
          const value = readProof(root, entry.key, response.proof)
          if (value == null || !equalsBytes(value, entry.value)) {
            throw new InvalidProofError(`large account ${bytesToHex(entry.key)} does not match its proof`)
          }
          const storageRoot = decodeAccount(value).storageRoot
          const known = state.large.get(bytesToHex(entry.key))
          changed ||= known == null || !equalsBytes(known, storageRoot)
          state.large.set(bytesToHex(entry.key), storageRoot)
        }
        addNodes(state.store.nodes, response.proof)
        answered++
        // a bridge knows every large account; another peer those of its slices
        settled ||= state.peers.get(peer)?.announced?.full === true
        if (settled) {
          break
        }
      } catch (err: any) {
        if (err instanceof InvalidProofError || err instanceof InvalidMessageError) {
          state.penalise(peer, err.message, 'account_proof')
        }
      }
    }
    // a connected peer that has not announced yet may be a bridge
    const unannounced = state.components.connectionManager.getConnections().some(c => state.peers.get(c.remotePeer)?.announced == null)
    if (settled || (!bridged && !unannounced && answered > 0)) {
      this.askedAt = rootHex
    }
    return changed
  }

  /** Waits for a lookup of large accounts in flight */
  async stop (): Promise<void> {
    await this.learning
  }

  /** Whether the large accounts at the root followed are still to be learnt */
  get pending (): boolean {
    return !this.state.full && this.state.targets.size > 0 && this.askedAt !== this.state.rootHex
  }

  private async fetchStorageSlice (root: Uint8Array, wanted: ReturnType<NodeState['wantedStorage']>[number]): Promise<void> {
    const state = this.state
    const providers = state.providersOf(wanted.position, bytesToHex(root))
    for (const connection of state.components.connectionManager.getConnections()) {
      const peer = connection.remotePeer
      if (!state.isBad(peer) && !providers.some(p => p.equals(peer)) && providers.length < state.maxPeersPerSlice) {
        providers.push(peer)
      }
    }
    const { start, end } = sliceBounds(wanted.slice, state.sliceNibbles)
    let lastError: Error | undefined
    for (const peer of providers) {
      try {
        const range = await this.syncer.fetchRange(peer, wanted.storageRoot, start, end, Request.Type.STORAGE_RANGE)
        if (range == null) {
          continue
        }
        state.store.importRange(range.entries, range.proof)
        // reads completely out of our own store, or throws
        state.store.reader.range(wanted.storageRoot, start, end)
        state.storageHeld.set(wanted.id, bytesToHex(wanted.storageRoot))
        return
      } catch (err: any) {
        lastError = err
        if (err instanceof InvalidProofError || err instanceof InvalidMessageError) {
          state.penalise(peer, err.message, 'range')
        }
      }
    }
    throw lastError ?? new NoProviderError(`no peer holds storage slice ${wanted.id}`)
  }
}
