import type { Want, WantKind } from './codec.ts'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * - `held`: accepted, waiting for the peer's byte budget before it is routed
 * - `routed`: handed to the want router (or the cache)
 */
export type LedgerEntryState = 'held' | 'routed'

/**
 * `upstream`: a peer that came to the proxy; `downstream`: a downstream whose
 * wants passed a preload window
 */
export type LedgerRole = 'upstream' | 'downstream'

/**
 * One want of one peer
 */
export interface LedgerEntry {
  readonly key: string
  /** The CID exactly as the peer sent it: blocks and presences echo it */
  readonly cid: CID
  wantType: WantKind
  priority: number
  sendDontHave: boolean
  state: LedgerEntryState
  /** Counted against the peer's byte budget until answered or exhausted */
  reserved: boolean
  /** DONT_HAVE was sent for this want (it stays wanted) */
  toldDontHave: boolean
}

/**
 * Tallies shared by every ledger and outbound queue, for the global
 * outstanding-bytes budget
 */
export class Totals {
  /** Routed want-blocks not yet answered, all peers */
  reservedBlocks = 0
  /** Block bytes queued for all peers and not yet written to a stream */
  queuedBytes = 0
  /** Peers with block bytes queued */
  queuedPeers = 0
  /** Ledgers with routed want-blocks not yet answered */
  reservingLedgers = 0
}

/**
 * What one peer wants from the forwarder: its wantlist with full-list
 * replacement semantics, and the order in which held wants are routed.
 * Upstream peers have one; so do downstreams whose wants pass a preload
 * window.
 */
export class PeerLedger {
  readonly peer: PeerId
  readonly peerKey: string
  readonly role: LedgerRole
  readonly entries = new Map<string, LedgerEntry>()
  /** Keys of held entries, oldest first */
  readonly held = new Set<string>()
  /**
   * Wants the full want table could not take, oldest first: taken in when
   * room frees (see `WantTable`)
   */
  readonly waiting = new Map<string, Want>()
  /** Routed want-blocks not yet answered */
  reservedBlocks = 0
  /**
   * Set when the peer ran out of budget; routing resumes only once half of
   * the budget is free again, so that wants leave in batches
   */
  throttled = false
  private readonly totals?: Totals

  constructor (peer: PeerId, role: LedgerRole, totals?: Totals) {
    this.peer = peer
    this.peerKey = peer.toString()
    this.role = role
    this.totals = totals
  }

  get size (): number {
    return this.entries.size
  }

  add (entry: LedgerEntry): void {
    this.entries.set(entry.key, entry)
    if (entry.state === 'held') {
      this.held.add(entry.key)
    }
  }

  /**
   * Forgets a want; returns it if it was there
   */
  remove (key: string): LedgerEntry | undefined {
    const entry = this.entries.get(key)
    if (entry == null) {
      return undefined
    }
    this.entries.delete(key)
    this.held.delete(key)
    this.release(entry)
    return entry
  }

  /**
   * The oldest want of a kind (of any kind when none of it is left)
   */
  oldest (kind: WantKind): LedgerEntry | undefined {
    let first: LedgerEntry | undefined
    for (const entry of this.entries.values()) {
      if (entry.wantType === kind) {
        return entry
      }
      first ??= entry
    }
    return first
  }

  reserve (entry: LedgerEntry): void {
    if (!entry.reserved && entry.wantType === 'block') {
      entry.reserved = true
      this.reservedBlocks++
      if (this.totals != null) {
        this.totals.reservedBlocks++
        if (this.reservedBlocks === 1) {
          this.totals.reservingLedgers++
        }
      }
    }
  }

  release (entry: LedgerEntry): void {
    if (entry.reserved) {
      entry.reserved = false
      this.reservedBlocks--
      if (this.totals != null) {
        this.totals.reservedBlocks--
        if (this.reservedBlocks === 0) {
          this.totals.reservingLedgers--
        }
      }
    }
  }
}
