import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { resolveStrategy } from './strategies.ts'
import type { Downstream } from './downstream-pool.ts'
import type { BalancingStrategy, StrategyFactory } from './strategies.ts'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * The strategy that places content when nothing else is configured:
 * rendezvous hashing of the multihash, so the same block lands on the same
 * downstream while the pool is stable
 */
export const DEFAULT_PLACEMENT_STRATEGY = 'hash'

/**
 * The key content is placed by: its multihash. Two CIDs that differ only in
 * version or codec name the same bytes, so they are placed together.
 */
export function contentKey (cid: CID): string {
  return uint8ArrayToString(cid.multihash.bytes, 'base64')
}

export interface PlaceOptions {
  /**
   * The upstream peer the content is placed for, for strategies that place
   * by peer (`sticky`); unset when no peer asked (a preload over HTTP)
   */
  upstream?: PeerId
  /**
   * Choose among these downstreams only (e.g. those with a Kubo RPC API);
   * by default the pool's healthy downstreams. With `hash`, the order among
   * a subset is the order among all of them with the others left out.
   */
  among?: readonly Downstream[]
}

/**
 * Content placement: which downstreams, in order, hold a CID. The first is
 * where the content should live and is asked first; the rest are the
 * fail-over order.
 *
 * The Bitswap forwarder asks downstreams for a block in this order, and the
 * preload endpoint has the first of them that has a Kubo RPC API fetch a
 * DAG; both use the proxy's placement (`proxy.placement`) unless they are
 * given a strategy of their own, so a preloaded DAG lands where the
 * forwarder looks for it first.
 *
 * @example The downstream a block is fetched from first
 *
 * ```typescript
 * import { CID } from 'multiformats/cid'
 * import type { Proxy } from '@kitsune/proxy'
 *
 * export function home (proxy: Proxy, cid: CID): string | undefined {
 *   return proxy.placement.place(cid)[0]?.peerId.toString()
 * }
 * ```
 */
export interface ContentPlacement {
  /** The name of the strategy that places */
  readonly name: string
  /** The healthy downstreams for `cid`, first choice first */
  place(cid: CID, options?: PlaceOptions): Downstream[]
  /** An upstream peer has gone: drop what the strategy keeps for it */
  forget(upstream: PeerId): void
}

/**
 * Where the healthy downstreams come from
 */
export interface HealthyDownstreams {
  healthy(): Downstream[]
}

/**
 * A content placement over a pool, by a strategy name (built-in or in
 * `strategies`) or a strategy object, keyed by {@link contentKey}
 */
export function contentPlacement (pool: HealthyDownstreams, strategy: string | BalancingStrategy = DEFAULT_PLACEMENT_STRATEGY, strategies?: Record<string, StrategyFactory>): ContentPlacement {
  const resolved = resolveStrategy(strategy, strategies)
  return {
    name: resolved.name,
    place (cid, options = {}) {
      return resolved.select({ upstream: options.upstream, key: contentKey(cid) }, options.among ?? pool.healthy())
    },
    forget (upstream) {
      resolved.forget?.(upstream)
    }
  }
}
