import { LRUCache } from 'lru-cache'
import { samePrefix } from './codec.ts'
import { isLive, liveAsks } from './pending-want.ts'
import { Tally } from './tally.ts'
import type { BlockPrefix, PresenceKind } from './codec.ts'
import type { MessageQueue } from './message-queue.ts'
import type { LedgerEntry, PeerLedger } from './peer-ledger.ts'
import type { Ask, AskState, PendingWant, ProviderState } from './pending-want.ts'
import type { Logger, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface WantRouterInit {
  /** For logs: `forward` (upstream wants to downstreams) or `reverse` (preload windows) */
  name: string
  /** Providers asked at the same time for one CID */
  fanout: number
  /** ms without any answer from a provider after which its asks fail over */
  timeout: number
  /** Asks outstanding on one provider; more wait in its backlog */
  maxAsksPerProvider: number
  /** ms during which a CID every provider lacked is answered DONT_HAVE at once */
  dontHaveTtl: number
  /**
   * ms after which a CID that no provider can be asked (none available, or
   * those asked went away) is given up as if every provider lacked it; 0 at
   * once
   */
  noProviderTimeout: number
  /** How many finished CIDs to remember to tell late duplicates from corrupt blocks */
  recentKeys: number
  log: Logger
  /** The providers for a CID, in the order to try them */
  select(key: string, cid: CID, wanter: PeerLedger): PeerId[]
  /** Whether a provider can take a want now */
  isAvailable(peer: PeerId): boolean
  /** The outbound queue to a provider, if it can be reached */
  queue(peer: PeerId): MessageQueue | undefined
  /** A wanter's want is answered with the block (or HAVE for want-have) */
  deliver(ledger: PeerLedger, entry: LedgerEntry, data: Uint8Array | undefined): void
  /** No provider has the block; the want stays open */
  exhausted(ledger: PeerLedger, entry: LedgerEntry): void
  onBlockLatency?(provider: PeerId, seconds: number): void
  /** A provider let asks time out (called once per provider per sweep) */
  onTimeout?(provider: PeerId): void
}

/**
 * What a router counts:
 * - `coalesced`: wants that joined a CID already being fetched
 * - `asks`: wants placed on providers (first asks and fail-overs)
 * - `failovers`: asks that moved on to another provider
 * - `timeouts`: asks that timed out
 * - `exhausted`: CIDs every provider lacked
 */
export const WANT_ROUTER_COUNTS = ['coalesced', 'asks', 'failovers', 'timeouts', 'exhausted'] as const
export type WantRouterCount = typeof WANT_ROUTER_COUNTS[number]

/**
 * Routes each CID's wants to providers, one CID at a time: coalesces wanters
 * of the same CID onto one set of asks, fails over on DONT_HAVE, timeout,
 * disconnect or a bad block, answers every wanter when the block arrives, and
 * sends CANCEL to every provider that was asked once the CID is done or no
 * longer wanted. It never looks at streams: answers in Bitswap come back on
 * streams the responder opens, so everything is matched by CID.
 */
export class WantRouter {
  private readonly init: WantRouterInit
  private readonly pending = new Map<string, PendingWant>()
  private readonly providers = new Map<string, ProviderState>()
  /** CIDs finished recently, to tell a late duplicate block from a corrupt one */
  private readonly recent: LRUCache<string, true>
  private sweepTimer?: ReturnType<typeof setInterval>
  readonly tally = new Tally(WANT_ROUTER_COUNTS)

  constructor (init: WantRouterInit) {
    this.init = init
    this.recent = new LRUCache({ max: init.recentKeys })
  }

  get size (): number {
    return this.pending.size
  }

  /**
   * Whether a CID is being fetched
   */
  has (key: string): boolean {
    return this.pending.has(key)
  }

  /**
   * A ledger entry wants its CID (new, upgraded, or repeated)
   */
  want (ledger: PeerLedger, entry: LedgerEntry): void {
    let pending = this.pending.get(entry.key)

    if (pending == null) {
      pending = {
        key: entry.key,
        cid: entry.cid,
        wanters: new Map([[ledger.peerKey, { ledger, entry }]]),
        asks: new Map(),
        wantBlock: entry.wantType === 'block',
        priority: entry.priority,
        next: 0,
        round: 0
      }
      this.pending.set(entry.key, pending)
      this.dispatch(pending)
      return
    }

    if (!pending.wanters.has(ledger.peerKey)) {
      this.tally.count('coalesced')
    }
    pending.wanters.set(ledger.peerKey, { ledger, entry })
    pending.priority = Math.max(pending.priority, entry.priority)

    if (entry.wantType === 'block' && !pending.wantBlock) {
      this.upgrade(pending)
    }

    if (pending.parkedAt != null) {
      if (Date.now() - pending.parkedAt >= this.init.dontHaveTtl) {
        this.retry(pending)
      } else {
        this.init.exhausted(ledger, entry)
      }
    }
  }

  /**
   * A wanter no longer wants a CID. The last wanter's cancel reaches every
   * provider that was asked.
   */
  cancel (ledger: PeerLedger, key: string): void {
    const pending = this.pending.get(key)
    if (pending == null || !pending.wanters.delete(ledger.peerKey)) {
      return
    }
    if (pending.wanters.size === 0) {
      this.finish(pending)
    }
  }

  /**
   * A provider sent a block whose data hashes to `key`. Returns `delivered`
   * when it answered a pending want, `duplicate` when the CID was done or
   * cancelled recently, `unwanted` otherwise.
   */
  receivedBlock (from: PeerId, key: string, data: Uint8Array): 'delivered' | 'duplicate' | 'unwanted' {
    const fromKey = from.toString()
    const provider = this.providers.get(fromKey)
    const now = Date.now()
    if (provider != null) {
      provider.lastActivity = now
    }

    const pending = this.pending.get(key)
    if (pending == null) {
      return this.recent.has(key) ? 'duplicate' : 'unwanted'
    }

    const ask = pending.asks.get(fromKey)
    if (ask != null && ask.state !== 'queued') {
      this.init.onBlockLatency?.(from, (now - ask.sentAt) / 1000)
    }

    for (const { ledger, entry } of pending.wanters.values()) {
      this.init.deliver(ledger, entry, data)
    }
    pending.wanters.clear()
    this.finish(pending)
    return 'delivered'
  }

  /**
   * A provider said HAVE or DONT_HAVE for a CID. Returns false when nothing
   * was asked of it for that CID.
   */
  receivedPresence (from: PeerId, key: string, type: PresenceKind): boolean {
    const fromKey = from.toString()
    const provider = this.providers.get(fromKey)
    if (provider != null) {
      provider.lastActivity = Date.now()
    }

    const pending = this.pending.get(key)
    const ask = pending?.asks.get(fromKey)
    if (pending == null || ask == null) {
      return false
    }

    if (type === 'have') {
      ask.state = 'have'
      for (const [peerKey, { ledger, entry }] of pending.wanters) {
        if (entry.wantType === 'have') {
          pending.wanters.delete(peerKey)
          this.init.deliver(ledger, entry, undefined)
        }
      }
      if (pending.wanters.size === 0) {
        this.finish(pending)
      }
      return true
    }

    if (ask.state === 'dont-have') {
      return true
    }
    ask.state = 'dont-have'
    this.releaseSlot(ask)
    this.tally.count('failovers')
    this.dispatch(pending)
    return true
  }

  /**
   * A provider sent a block that answers nothing. It is taken to be a
   * corrupt copy of one of the CIDs asked of that provider with the same
   * prefix: each of those is asked of the next provider (the ask stays
   * registered, so a good copy is still accepted). Returns how many CIDs
   * were failed over.
   */
  badBlock (from: PeerId, prefix: BlockPrefix): number {
    const provider = this.providers.get(from.toString())
    if (provider == null) {
      return 0
    }
    provider.lastActivity = Date.now()

    const affected: Ask[] = []
    for (const ask of provider.asks.values()) {
      if ((ask.state === 'sent' || ask.state === 'have') && samePrefix(prefix, ask.pending.cid)) {
        affected.push(ask)
      }
    }
    for (const ask of affected) {
      ask.state = 'failed'
      this.releaseSlot(ask)
      this.tally.count('failovers')
      this.dispatch(ask.pending)
    }
    return affected.length
  }

  /**
   * A message of any kind arrived from a provider: it is alive
   */
  touch (from: PeerId): void {
    const provider = this.providers.get(from.toString())
    if (provider != null) {
      provider.lastActivity = Date.now()
    }
  }

  /**
   * A provider went away (disconnected, marked down, or its queue failed):
   * everything asked of it moves on
   */
  providerGone (peerKey: string): void {
    const provider = this.providers.get(peerKey)
    if (provider == null) {
      return
    }
    this.providers.delete(peerKey)

    const affected: PendingWant[] = []
    for (const ask of provider.asks.values()) {
      ask.pending.asks.delete(peerKey)
      affected.push(ask.pending)
    }
    provider.asks.clear()
    provider.backlog.clear()

    for (const pending of affected) {
      if (this.pending.get(pending.key) === pending && pending.parkedAt == null) {
        this.tally.count('failovers')
        this.dispatch(pending)
      }
    }
  }

  /**
   * Providers were added: CIDs nobody had are asked again
   */
  providersChanged (): void {
    for (const pending of [...this.pending.values()]) {
      if (pending.parkedAt != null || pending.noProviderTimer != null) {
        this.retry(pending)
      }
    }
  }

  stop (): void {
    clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
    for (const pending of this.pending.values()) {
      this.reachable(pending)
    }
    this.pending.clear()
    this.providers.clear()
    this.recent.clear()
  }

  private upgrade (pending: PendingWant): void {
    pending.wantBlock = true
    for (const ask of pending.asks.values()) {
      if (ask.state === 'sent' || ask.state === 'have') {
        this.init.queue(ask.provider.peer)?.want(pending.key, pending.cid, { wantType: 'block', priority: pending.priority, sendDontHave: true })
      }
    }
  }

  private retry (pending: PendingWant): void {
    pending.parkedAt = undefined
    pending.round++
    pending.candidates = undefined
    this.dispatch(pending)
  }

  private dispatch (pending: PendingWant): void {
    if (pending.candidates == null) {
      const first = pending.wanters.values().next().value
      pending.candidates = first == null ? [] : this.init.select(pending.key, pending.cid, first.ledger)
      pending.next = 0
    }

    while (liveAsks(pending) < this.init.fanout && pending.next < pending.candidates.length) {
      const peer = pending.candidates[pending.next++]
      if (!this.init.isAvailable(peer)) {
        continue
      }
      const existing = pending.asks.get(peer.toString())
      if (existing != null && existing.round === pending.round) {
        continue
      }
      if (existing != null && isLive(existing)) {
        existing.round = pending.round
        continue
      }
      this.ask(pending, peer, existing)
    }

    if (liveAsks(pending) === 0) {
      this.park(pending)
    }
  }

  private ask (pending: PendingWant, peer: PeerId, existing?: Ask): void {
    const provider = this.provider(peer)
    const ask: Ask = existing ?? {
      provider,
      pending,
      state: 'queued',
      round: pending.round,
      sentAt: 0,
      slot: false,
      registered: false
    }
    ask.state = 'queued'
    ask.round = pending.round
    this.reachable(pending)
    pending.asks.set(provider.key, ask)
    provider.asks.set(pending.key, ask)
    this.tally.count('asks')

    if (provider.inflight < this.init.maxAsksPerProvider) {
      this.send(ask)
    } else {
      provider.backlog.add(ask)
    }
  }

  private send (ask: Ask): void {
    const { provider, pending } = ask
    const queue = this.init.queue(provider.peer)
    if (queue == null) {
      ask.state = 'failed'
      return
    }
    provider.inflight++
    ask.slot = true
    ask.state = 'sent'
    ask.sentAt = Date.now()
    // a provider that answered this CID before is told to forget it first,
    // so that it answers again (stock Helia answers a want only once)
    queue.want(pending.key, pending.cid, {
      wantType: pending.wantBlock ? 'block' : 'have',
      priority: pending.priority,
      sendDontHave: true
    }, ask.registered)
    ask.registered = true
    this.armSweep()
  }

  private releaseSlot (ask: Ask): void {
    const provider = ask.provider
    provider.backlog.delete(ask)
    if (!ask.slot) {
      return
    }
    ask.slot = false
    provider.inflight--

    while (provider.inflight < this.init.maxAsksPerProvider && provider.backlog.size > 0) {
      const next = provider.backlog.values().next().value as Ask
      provider.backlog.delete(next)
      if (next.state !== 'queued') {
        continue
      }
      this.send(next)
      if ((next.state as AskState) === 'failed') {
        this.dispatch(next.pending)
      }
    }
  }

  private park (pending: PendingWant): void {
    if (pending.parkedAt != null) {
      return
    }
    // no provider was asked this round: none can be reached now, which is
    // not the same as every provider lacking the block. Give one the time to
    // come up before the wanters are told DONT_HAVE.
    if (this.init.noProviderTimeout > 0 && !this.askedThisRound(pending)) {
      pending.unreachableSince ??= Date.now()
      if (pending.noProviderTimer == null) {
        const wait = Math.max(0, pending.unreachableSince + this.init.noProviderTimeout - Date.now())
        pending.noProviderTimer = setTimeout(() => {
          pending.noProviderTimer = undefined
          if (this.pending.get(pending.key) === pending && liveAsks(pending) === 0) {
            this.init.log('%s: no provider for %c for %d ms', this.init.name, pending.cid, this.init.noProviderTimeout)
            this.reachable(pending)
            this.parkNow(pending)
          }
        }, wait)
        pending.noProviderTimer.unref?.()
      }
      return
    }
    this.reachable(pending)
    this.parkNow(pending)
  }

  /**
   * Whether a provider was asked for the CID in its current round (and has
   * not gone away since)
   */
  private askedThisRound (pending: PendingWant): boolean {
    for (const ask of pending.asks.values()) {
      if (ask.round === pending.round) {
        return true
      }
    }
    return false
  }

  /**
   * A provider can be asked (or the CID is done): no DONT_HAVE is owed for
   * want of providers
   */
  private reachable (pending: PendingWant): void {
    clearTimeout(pending.noProviderTimer)
    pending.noProviderTimer = undefined
    pending.unreachableSince = undefined
  }

  private parkNow (pending: PendingWant): void {
    pending.parkedAt = Date.now()
    this.tally.count('exhausted')
    for (const { ledger, entry } of pending.wanters.values()) {
      this.init.exhausted(ledger, entry)
    }
  }

  /**
   * The CID is done (answered, or no longer wanted): every provider that
   * holds the want is told to cancel it
   */
  private finish (pending: PendingWant): void {
    if (this.pending.get(pending.key) !== pending) {
      return
    }
    this.pending.delete(pending.key)
    this.reachable(pending)

    for (const ask of pending.asks.values()) {
      ask.state = 'dont-have'
      this.releaseSlot(ask)
      ask.provider.asks.delete(pending.key)
      if (ask.registered) {
        this.init.queue(ask.provider.peer)?.cancel(pending.key, pending.cid)
      }
    }
    pending.asks.clear()

    this.recent.set(pending.key, true)
  }

  private provider (peer: PeerId): ProviderState {
    const key = peer.toString()
    let provider = this.providers.get(key)
    if (provider == null) {
      provider = { peer, key, asks: new Map(), backlog: new Set(), inflight: 0, lastActivity: 0 }
      this.providers.set(key, provider)
    }
    return provider
  }

  private armSweep (): void {
    if (this.sweepTimer != null) {
      return
    }
    this.sweepTimer = setInterval(() => { this.sweep() }, Math.max(20, Math.min(1000, this.init.timeout / 4)))
    this.sweepTimer.unref?.()
  }

  private sweep (): void {
    const now = Date.now()
    const expired: Ask[] = []
    let inflight = 0

    for (const provider of this.providers.values()) {
      inflight += provider.inflight
      if (provider.inflight === 0 || now - provider.lastActivity <= this.init.timeout) {
        continue
      }
      for (const ask of provider.asks.values()) {
        if ((ask.state === 'sent' || ask.state === 'have') && now - ask.sentAt > this.init.timeout) {
          expired.push(ask)
        }
      }
    }

    const silent = new Set<ProviderState>()
    for (const ask of expired) {
      if (ask.state !== 'sent' && ask.state !== 'have') {
        continue
      }
      this.init.log('%s: %c timed out on %p', this.init.name, ask.pending.cid, ask.provider.peer)
      ask.state = 'timed-out'
      this.releaseSlot(ask)
      this.tally.count('timeouts')
      this.tally.count('failovers')
      silent.add(ask.provider)
      if (this.pending.get(ask.pending.key) === ask.pending) {
        this.dispatch(ask.pending)
      }
    }
    for (const provider of silent) {
      this.init.onTimeout?.(provider.peer)
    }

    if (inflight === 0) {
      clearInterval(this.sweepTimer)
      this.sweepTimer = undefined
    }
  }
}
