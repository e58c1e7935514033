import type { Want } from './codec.ts'
import type { LedgerEntry, PeerLedger } from './peer-ledger.ts'

export interface WantTableInit {
  /** Wants tracked at once, all peers */
  maxTrackedWants: number
  /** Wants the full table could not take, remembered for when room frees, all peers */
  maxWaitingWants: number
  /** The ledgers that compete for the table: every upstream peer's */
  ledgers(): Iterable<PeerLedger>
}

/**
 * What happens to a want that arrives while the table is full
 */
export type Admission =
  /** the peer is under its fair share: `victim` gives way */
  | { verdict: 'evict', victim: { ledger: PeerLedger, entry: LedgerEntry } }
  /** remembered in the peer's `waiting` list, taken in when room frees */
  | { verdict: 'wait' }
  /** nothing can hold it: refused */
  | { verdict: 'refuse' }

/**
 * The global table of tracked wants, shared fairly between upstream peers.
 * While it has room every want is taken. When it is full, a peer holding
 * less than its fair share (the table divided by the peers that want
 * something) is still served: the heaviest peer's oldest want-have gives way.
 * Any other want waits in its peer's ledger, and the waiting wants of the
 * lightest peers are taken in first as room frees. So a handful of peers
 * that fill the table slow themselves down, never a newcomer.
 */
export class WantTable {
  private readonly init: WantTableInit
  /** Wants tracked in all ledgers, upstream and window */
  tracked = 0
  /** Wants waiting in all ledgers */
  waiting = 0
  private readonly waitingLedgers = new Set<PeerLedger>()

  constructor (init: WantTableInit) {
    this.init = init
  }

  get hasRoom (): boolean {
    return this.tracked < this.init.maxTrackedWants
  }

  /**
   * The share of the table each peer that wants something is sure of
   */
  fairShare (requester: PeerLedger): number {
    let peers = 0
    let counted = false
    for (const ledger of this.init.ledgers()) {
      if (ledger.size > 0 || ledger === requester) {
        peers++
        counted ||= ledger === requester
      }
    }
    if (!counted) {
      peers++
    }
    return Math.max(1, Math.floor(this.init.maxTrackedWants / peers))
  }

  /**
   * Decides what happens to a want of `ledger` that finds the table full
   */
  admit (ledger: PeerLedger, want: Want): Admission {
    const share = this.fairShare(ledger)
    if (ledger.size < share) {
      const victim = this.victim(ledger, share)
      if (victim != null) {
        return { verdict: 'evict', victim }
      }
    }
    return this.remember(ledger, want) ? { verdict: 'wait' } : { verdict: 'refuse' }
  }

  /**
   * Remembers a want until room frees; false when the waiting list is full
   */
  remember (ledger: PeerLedger, want: Want): boolean {
    if (ledger.waiting.has(want.key)) {
      ledger.waiting.set(want.key, want)
      return true
    }
    if (this.waiting >= this.init.maxWaitingWants) {
      return false
    }
    ledger.waiting.set(want.key, want)
    this.waiting++
    this.waitingLedgers.add(ledger)
    return true
  }

  /**
   * Forgets a waiting want (cancelled, or left out of a full wantlist)
   */
  forget (ledger: PeerLedger, key: string): boolean {
    if (!ledger.waiting.delete(key)) {
      return false
    }
    this.waiting--
    if (ledger.waiting.size === 0) {
      this.waitingLedgers.delete(ledger)
    }
    return true
  }

  /**
   * Forgets every waiting want of a ledger that is dropped
   */
  forgetAll (ledger: PeerLedger): void {
    this.waiting -= ledger.waiting.size
    ledger.waiting.clear()
    this.waitingLedgers.delete(ledger)
  }

  /**
   * The next waiting want to take in while there is room: the oldest of the
   * peer that tracks the fewest wants
   */
  next (): { ledger: PeerLedger, want: Want } | undefined {
    if (!this.hasRoom) {
      return undefined
    }
    let lightest: PeerLedger | undefined
    for (const ledger of this.waitingLedgers) {
      if (lightest == null || ledger.size < lightest.size) {
        lightest = ledger
      }
    }
    if (lightest == null) {
      return undefined
    }
    const want = lightest.waiting.values().next().value as Want
    this.forget(lightest, want.key)
    return { ledger: lightest, want }
  }

  clear (): void {
    this.tracked = 0
    this.waiting = 0
    this.waitingLedgers.clear()
  }

  /**
   * The oldest want-have (or, if it has none, the oldest want) of the peer
   * that tracks the most wants, when that is more than its share
   */
  private victim (requester: PeerLedger, share: number): { ledger: PeerLedger, entry: LedgerEntry } | undefined {
    let heaviest: PeerLedger | undefined
    for (const ledger of this.init.ledgers()) {
      if (ledger !== requester && ledger.size > share && (heaviest == null || ledger.size > heaviest.size)) {
        heaviest = ledger
      }
    }
    const entry = heaviest?.oldest('have')
    return heaviest == null || entry == null ? undefined : { ledger: heaviest, entry }
  }
}
