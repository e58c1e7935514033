import type { LedgerEntry, PeerLedger } from './peer-ledger.ts'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * The records a want router keeps: one `PendingWant` per CID being fetched,
 * one `Ask` per provider asked for it, one `ProviderState` per provider.
 */

/**
 * - `queued`: waiting for a slot on the provider
 * - `sent`: the want is on its way or registered at the provider
 * - `have`: the provider said HAVE; the block may follow
 * - `dont-have`: the provider said DONT_HAVE
 * - `timed-out`: nothing came back in time; it may still answer
 * - `failed`: the provider sent a bad block in its place
 */
export type AskState = 'queued' | 'sent' | 'have' | 'dont-have' | 'timed-out' | 'failed'

/**
 * One CID asked of one provider
 */
export interface Ask {
  readonly provider: ProviderState
  readonly pending: PendingWant
  state: AskState
  round: number
  sentAt: number
  /** Holds one of the provider's `maxAsksPerProvider` slots */
  slot: boolean
  /** The provider holds the want in its ledger, so a CANCEL is owed */
  registered: boolean
}

/**
 * What a router knows of one provider: its asks, the asks waiting for one
 * of its slots, and when it last said anything
 */
export interface ProviderState {
  readonly peer: PeerId
  readonly key: string
  readonly asks: Map<string, Ask>
  readonly backlog: Set<Ask>
  inflight: number
  lastActivity: number
}

/**
 * A peer's want for the CID, to be answered when the block comes
 */
export interface Wanter {
  ledger: PeerLedger
  entry: LedgerEntry
}

/**
 * One CID being fetched for one or more wanters
 */
export interface PendingWant {
  readonly key: string
  readonly cid: CID
  readonly wanters: Map<string, Wanter>
  readonly asks: Map<string, Ask>
  wantBlock: boolean
  priority: number
  /** The providers to try, in order, this round */
  candidates?: PeerId[]
  next: number
  round: number
  /** When every provider had failed it (DONT_HAVE for all) */
  parkedAt?: number
  /**
   * Since when no provider could be asked (none available, or the ones
   * asked went away); its wanters are told DONT_HAVE when `noProviderTimer`
   * fires
   */
  unreachableSince?: number
  noProviderTimer?: ReturnType<typeof setTimeout>
}

const LIVE: ReadonlySet<AskState> = new Set(['queued', 'sent', 'have'])

/**
 * Whether the ask may still be answered by its provider
 */
export function isLive (ask: Ask): boolean {
  return LIVE.has(ask.state)
}

/**
 * How many of a CID's asks may still be answered
 */
export function liveAsks (pending: PendingWant): number {
  let live = 0
  for (const ask of pending.asks.values()) {
    if (isLive(ask)) {
      live++
    }
  }
  return live
}
