import { identity } from 'multiformats/hashes/identity'
import { readBlock } from './block-cache.ts'
import { INITIAL_BLOCK_SIZE_ESTIMATE } from './constants.ts'
import { WantlistTooLargeError } from './errors.ts'
import { PeerLedger, Totals } from './peer-ledger.ts'
import { WantTable } from './want-table.ts'
import type { DecodedMessage, Want } from './codec.ts'
import type { MessageQueue } from './message-queue.ts'
import type { Counters } from './metrics.ts'
import type { Options } from './options.ts'
import type { LedgerEntry, LedgerRole } from './peer-ledger.ts'
import type { PeerState, PeerStates } from './peer-state.ts'
import type { WantRouter } from './want-router.ts'
import type { Logger, PeerId } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'

export interface LedgersInit {
  options: Pick<Options, 'maxWantlistEntriesPerPeer' | 'maxTrackedWants' | 'maxWaitingWants' | 'maxOutstandingBytesPerPeer' | 'maxOutstandingBytes'>
  peers: PeerStates
  counters: Counters
  log: Logger
  cache?: Blockstore
  /** The outbound queue to a peer, if it can be reached */
  queue(peer: PeerId): MessageQueue | undefined
  /** The router for a role's wants: upstream wants go to downstreams, window wants to upstream peers */
  router(role: LedgerRole): WantRouter
}

export type WantlistUpdate = Pick<DecodedMessage, 'full' | 'wants'>

/**
 * The peers' ledgers: takes wantlists into them, routes held wants while the
 * byte budgets allow, and answers wants (block, HAVE, DONT_HAVE). Upstream
 * peers' wants go to the forward router; a downstream's wants that passed a
 * preload window go to the reverse router.
 */
export class Ledgers {
  private readonly init: LedgersInit
  private readonly options: LedgersInit['options']
  private readonly counters: Counters
  private readonly totals = new Totals()
  /** Ledgers to pump in the next microtask */
  private readonly pumpSoon = new Set<PeerLedger>()
  /** Ledgers whose want-blocks wait for the global budget */
  private readonly starved = new Set<PeerLedger>()
  private blockSizeEstimate = INITIAL_BLOCK_SIZE_ESTIMATE
  private readonly table: WantTable
  private admitScheduled = false

  constructor (init: LedgersInit) {
    this.init = init
    this.options = init.options
    this.counters = init.counters
    this.table = new WantTable({
      maxTrackedWants: init.options.maxTrackedWants,
      maxWaitingWants: init.options.maxWaitingWants,
      ledgers: () => this.upstreamLedgers()
    })
  }

  /**
   * Wants tracked in all ledgers
   */
  get trackedWants (): number {
    return this.table.tracked
  }

  /**
   * Wants that found the table full and wait for room
   */
  get waitingWants (): number {
    return this.table.waiting
  }

  /**
   * Shared with the outbound queues, which count the block bytes they hold
   */
  get queuedBytes (): { queuedBytes: number, queuedPeers: number } {
    return this.totals
  }

  /**
   * A block of this size was delivered: budgets assume blocks like it
   */
  observeBlockSize (size: number): void {
    this.blockSizeEstimate = Math.round(this.blockSizeEstimate * 0.9 + size * 0.1)
  }

  /**
   * The peer's ledger for a role, created when missing
   */
  ledgerFor (state: PeerState, role: LedgerRole): PeerLedger {
    const field = role === 'upstream' ? 'ledger' : 'windowLedger'
    let ledger = state[field]
    if (ledger == null) {
      ledger = new PeerLedger(state.peer, role, this.totals)
      state[field] = ledger
    }
    return ledger
  }

  /**
   * Applies a wantlist to a peer's ledger: full-list replacement, cancels,
   * new wants and want-type upgrades
   */
  apply (ledger: PeerLedger, message: WantlistUpdate): void {
    if (message.full) {
      const keep = new Set(message.wants.filter(want => !want.cancel).map(want => want.key))
      for (const key of [...ledger.entries.keys()]) {
        if (!keep.has(key)) {
          this.remove(ledger, key)
        }
      }
      for (const key of [...ledger.waiting.keys()]) {
        if (!keep.has(key)) {
          this.table.forget(ledger, key)
        }
      }
    }

    for (const want of message.wants) {
      if (want.cancel) {
        if (ledger.role === 'upstream') {
          this.counters.count('cancelsReceived')
        }
        this.remove(ledger, want.key)
        this.table.forget(ledger, want.key)
        continue
      }
      if (ledger.role === 'upstream') {
        this.counters.count('wantsReceived')
      }

      const existing = ledger.entries.get(want.key)
      if (existing != null) {
        this.update(ledger, existing, want)
        continue
      }
      if (ledger.waiting.has(want.key)) {
        this.table.remember(ledger, want)
        continue
      }

      if (ledger.size + ledger.waiting.size >= this.options.maxWantlistEntriesPerPeer) {
        throw new WantlistTooLargeError(`${ledger.peerKey} wants more than ${this.options.maxWantlistEntriesPerPeer} CIDs (maxWantlistEntriesPerPeer)`)
      }

      if (want.cid.multihash.code === identity.code) {
        // the block is inside the CID
        this.deliver(ledger, { ...entryFor(want), state: 'routed' }, want.cid.multihash.digest)
        continue
      }

      if (!this.table.hasRoom && !this.makeRoom(ledger, want)) {
        continue
      }

      ledger.add(entryFor(want))
      this.table.tracked++
    }

    this.pump(ledger)
  }

  /**
   * The table is full: a peer under its fair share takes the place of the
   * heaviest peer's oldest want-have (which waits for room instead); other
   * wants wait, or are refused with DONT_HAVE when nothing can hold them.
   * Returns whether the want may be tracked now.
   */
  private makeRoom (ledger: PeerLedger, want: Want): boolean {
    // a window ledger is a downstream's, passed by a preload window the
    // operator opened: it neither evicts nor waits
    const admission = ledger.role === 'upstream' ? this.table.admit(ledger, want) : { verdict: 'refuse' as const }
    if (admission.verdict === 'evict') {
      const { ledger: heavy, entry } = admission.victim
      this.counters.count('evictedWants')
      this.remove(heavy, entry.key)
      if (!this.table.remember(heavy, wantOf(entry))) {
        this.refuse(heavy, wantOf(entry))
      }
      return true
    }
    if (admission.verdict === 'refuse') {
      this.refuse(ledger, want)
    }
    return false
  }

  private refuse (ledger: PeerLedger, want: Want): void {
    this.counters.count('refusedWants')
    if (want.sendDontHave) {
      this.init.queue(ledger.peer)?.presence(want.key, want.cid, 'dont-have')
      if (ledger.role === 'upstream') {
        this.counters.count('dontHavesSent')
      }
    }
  }

  /**
   * Room freed in the table: waiting wants are taken in, the lightest
   * peers' first
   */
  private admitWaiting (): void {
    if (this.admitScheduled || this.table.waiting === 0) {
      return
    }
    this.admitScheduled = true
    queueMicrotask(() => {
      this.admitScheduled = false
      const touched = new Set<PeerLedger>()
      for (let next = this.table.next(); next != null; next = this.table.next()) {
        if (!this.isCurrent(next.ledger)) {
          continue
        }
        next.ledger.add(entryFor(next.want))
        this.table.tracked++
        touched.add(next.ledger)
      }
      for (const ledger of touched) {
        this.pump(ledger)
      }
    })
  }

  private * upstreamLedgers (): Generator<PeerLedger> {
    for (const state of this.init.peers.values()) {
      if (state.ledger != null) {
        yield state.ledger
      }
    }
  }

  private update (ledger: PeerLedger, entry: LedgerEntry, want: Want): void {
    entry.priority = want.priority
    entry.sendDontHave = want.sendDontHave
    if (want.wantType === 'block' && entry.wantType === 'have') {
      entry.wantType = 'block'
      if (entry.state === 'routed') {
        ledger.reserve(entry)
        this.init.router(ledger.role).want(ledger, entry)
      }
      return
    }
    if (entry.state === 'routed' && entry.toldDontHave) {
      // asked again after DONT_HAVE: the router asks downstreams again once
      // the earlier answer is older than dontHaveTtl
      entry.toldDontHave = false
      this.init.router(ledger.role).want(ledger, entry)
    }
  }

  /**
   * The peer no longer wants the CID; the router cancels it downstream if no
   * one else wants it
   */
  remove (ledger: PeerLedger, key: string): void {
    const entry = ledger.remove(key)
    if (entry == null) {
      return
    }
    this.table.tracked--
    this.admitWaiting()
    if (entry.state === 'routed') {
      this.init.router(ledger.role).cancel(ledger, key)
    }
    this.released(ledger)
  }

  /**
   * Drops a peer's ledger for a role, cancelling every want in it
   */
  drop (state: PeerState, role: LedgerRole): void {
    const field = role === 'upstream' ? 'ledger' : 'windowLedger'
    const ledger = state[field]
    if (ledger == null) {
      return
    }
    state[field] = undefined
    this.starved.delete(ledger)
    this.table.forgetAll(ledger)
    for (const key of [...ledger.entries.keys()]) {
      this.remove(ledger, key)
    }
  }

  /**
   * Answers a want: the block for a want-block, HAVE for a want-have. The
   * want leaves the ledger, as in Boxo and Helia.
   */
  deliver (ledger: PeerLedger, entry: LedgerEntry, data: Uint8Array | undefined): void {
    const queue = this.init.queue(ledger.peer)
    if (entry.wantType === 'block' && data != null) {
      queue?.block(entry.key, entry.cid, data)
    } else {
      queue?.presence(entry.key, entry.cid, 'have')
      if (ledger.role === 'upstream') {
        this.counters.count('havesSent')
      }
    }
    if (ledger.entries.get(entry.key) === entry) {
      ledger.remove(entry.key)
      this.table.tracked--
      this.admitWaiting()
    }
    this.released(ledger)
  }

  /**
   * No downstream has the block: DONT_HAVE if the peer asked for it. The
   * want stays in the ledger (a block that turns up later is still sent)
   * but stops counting against the peer's byte budget.
   */
  exhausted (ledger: PeerLedger, entry: LedgerEntry): void {
    ledger.release(entry)
    if (entry.sendDontHave && !entry.toldDontHave) {
      entry.toldDontHave = true
      this.init.queue(ledger.peer)?.presence(entry.key, entry.cid, 'dont-have')
      if (ledger.role === 'upstream') {
        this.counters.count('dontHavesSent')
      }
    }
    this.released(ledger)
  }

  /**
   * Budget was freed: the ledger, and every ledger waiting on the global
   * budget, may route more
   */
  released (ledger?: PeerLedger): void {
    if (ledger != null) {
      this.schedulePump(ledger)
    }
    if (this.starved.size > 0) {
      const starved = [...this.starved]
      this.starved.clear()
      for (const l of starved) {
        this.schedulePump(l)
      }
    }
  }

  clear (): void {
    this.pumpSoon.clear()
    this.starved.clear()
    this.table.clear()
  }

  /**
   * Whether the peer may have another want-block routed: the bytes queued
   * for it plus the expected size of its unanswered want-blocks stay under
   * `maxOutstandingBytesPerPeer`, and the same sums over all peers stay
   * under `maxOutstandingBytes` — except for a peer still under its fair
   * share of it, so that a few slow peers cannot starve everyone else (the
   * global figure may then be passed by at most the sum of those shares,
   * that is, once more). A peer that ran out waits until half of
   * its budget is free, so its wants go downstream in batches (stock Helia
   * answers each batch on a new stream, which starts with a small flow
   * control window: one block at a time would crawl). While its queue is
   * under the limit, a peer with nothing in flight may always have one
   * want-block routed, so a block larger than the budget still gets through.
   */
  private hasBudget (ledger: PeerLedger): 'ok' | 'peer' | 'global' {
    const estimate = this.blockSizeEstimate
    const perPeer = ledger.throttled ? this.options.maxOutstandingBytesPerPeer / 2 : this.options.maxOutstandingBytesPerPeer
    const queued = this.init.peers.get(ledger.peer)?.queue?.queuedBytes ?? 0
    if (queued >= perPeer) {
      return 'peer'
    }
    if (ledger.reservedBlocks > 0 && queued + (ledger.reservedBlocks + 1) * estimate > perPeer) {
      return 'peer'
    }
    const total = this.totals
    const max = this.options.maxOutstandingBytes
    const globalSpent = total.queuedBytes >= max ||
      (total.reservedBlocks > 0 && total.queuedBytes + (total.reservedBlocks + 1) * estimate > max)
    if (globalSpent && queued + (ledger.reservedBlocks + 1) * estimate > this.fairShareOfBytes()) {
      return 'global'
    }
    return 'ok'
  }

  /**
   * The part of `maxOutstandingBytes` each peer is sure of while the global
   * budget is spent: the budget divided by the peers holding some of it
   * (counted from both sides, queued bytes and unanswered want-blocks, so
   * never too few) and one more, the peer asking
   */
  private fairShareOfBytes (): number {
    return this.options.maxOutstandingBytes / (this.totals.queuedPeers + this.totals.reservingLedgers + 1)
  }

  /**
   * Routes held wants in order while the budgets allow (want-haves need no
   * budget and are never held back)
   */
  private pump (ledger: PeerLedger): void {
    let budget = true
    for (const key of ledger.held) {
      const entry = ledger.entries.get(key)
      if (entry == null) {
        ledger.held.delete(key)
        continue
      }
      if (entry.wantType === 'block') {
        if (!budget) {
          continue
        }
        const verdict = this.hasBudget(ledger)
        if (verdict !== 'ok') {
          budget = false
          ledger.throttled = verdict === 'peer'
          if (verdict === 'global') {
            this.starved.add(ledger)
          }
          continue
        }
        ledger.throttled = false
      }
      ledger.held.delete(key)
      entry.state = 'routed'
      ledger.reserve(entry)
      this.route(ledger, entry)
    }
  }

  private schedulePump (ledger: PeerLedger): void {
    if (ledger.held.size === 0) {
      return
    }
    if (this.pumpSoon.size === 0) {
      queueMicrotask(() => {
        const ledgers = [...this.pumpSoon]
        this.pumpSoon.clear()
        for (const l of ledgers) {
          if (this.isCurrent(l)) {
            this.pump(l)
          }
        }
      })
    }
    this.pumpSoon.add(ledger)
  }

  /**
   * Whether the ledger is still its peer's (not dropped since)
   */
  private isCurrent (ledger: PeerLedger): boolean {
    const state = this.init.peers.get(ledger.peer)
    return (ledger.role === 'upstream' ? state?.ledger : state?.windowLedger) === ledger
  }

  /**
   * Hands a want to its router, or answers it from the cache
   */
  private route (ledger: PeerLedger, entry: LedgerEntry): void {
    const router = this.init.router(ledger.role)
    const cache = this.init.cache
    if (cache == null || ledger.role !== 'upstream') {
      router.want(ledger, entry)
      return
    }

    readBlock(cache, entry.cid)
      .catch(err => {
        this.init.log.error('cache lookup for %c failed - %e', entry.cid, err)
        return undefined
      })
      .then(data => {
        if (ledger.entries.get(entry.key) !== entry || !this.isCurrent(ledger)) {
          return
        }
        if (data != null) {
          this.counters.count('cacheHits')
          this.deliver(ledger, entry, data)
        } else {
          this.counters.count('cacheMisses')
          router.want(ledger, entry)
        }
      })
      .catch(err => {
        this.init.log.error('routing %c failed - %e', entry.cid, err)
      })
  }
}

function wantOf (entry: LedgerEntry): Want {
  return { key: entry.key, cid: entry.cid, wantType: entry.wantType, priority: entry.priority, sendDontHave: entry.sendDontHave, cancel: false }
}

function entryFor (want: Want): LedgerEntry {
  return {
    key: want.key,
    cid: want.cid,
    wantType: want.wantType,
    priority: want.priority,
    sendDontHave: want.sendDontHave,
    state: 'held',
    reserved: false,
    toldDontHave: false
  }
}
