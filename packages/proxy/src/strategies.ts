import { createHash } from 'node:crypto'
import { PeerMap } from '@libp2p/peer-collections'
import { UnknownStrategyError } from './errors.ts'
import type { Downstream } from './downstream-pool.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * What a strategy is asked to place: one unit of work, a bridged stream or
 * a piece of content (see `ContentPlacement`)
 */
export interface RouteRequest {
  /**
   * The upstream peer the work comes from; unset when content is placed for
   * no peer (a preload asked over HTTP)
   */
  upstream?: PeerId
  /** The protocol of a bridged stream; unset when content is placed */
  protocol?: string
  /**
   * What the work is about, for strategies that place by content. A bridged
   * stream uses the upstream peer id; content uses its multihash
   * (`contentKey`).
   */
  key: string
}

/**
 * Places work on downstreams. A strategy is given the healthy downstreams and
 * returns them in the order they should be tried: the first is the choice,
 * the rest are the fail-over order. Returning fewer limits fail-over.
 *
 * @example A strategy that always prefers the downstream with the lowest RTT
 *
 * ```typescript
 * import type { BalancingStrategy } from '@kitsune/proxy'
 *
 * const fastest: BalancingStrategy = {
 *   name: 'fastest',
 *   select: (request, downstreams) =>
 *     [...downstreams].sort((a, b) => (a.rtt ?? Infinity) - (b.rtt ?? Infinity))
 * }
 * ```
 */
export interface BalancingStrategy {
  readonly name: string
  select(request: RouteRequest, downstreams: readonly Downstream[]): Downstream[]
  /** Called when an upstream peer has gone, so per-peer state can be dropped */
  forget?(upstream: PeerId): void
}

function byLoad (a: Downstream, b: Downstream): number {
  return a.openStreams - b.openStreams
}

/**
 * Fewest open streams first
 */
export function leastOutstandingStrategy (): BalancingStrategy {
  return {
    name: 'least-outstanding',
    select: (_request, downstreams) => [...downstreams].sort(byLoad)
  }
}

/**
 * Each upstream peer is pinned, on first contact, to the healthy downstream
 * with the fewest pinned peers (then the fewest open streams), and stays there
 * while that downstream is healthy. The original Kitsune's behaviour. Work
 * from no peer gets the same order and pins nothing.
 */
export function stickyStrategy (): BalancingStrategy {
  const pins = new PeerMap<string>()
  const pinnedCount = new Map<string, number>()

  const unpin = (upstream: PeerId): void => {
    const pinned = pins.get(upstream)
    if (pinned != null) {
      pins.delete(upstream)
      pinnedCount.set(pinned, (pinnedCount.get(pinned) ?? 1) - 1)
    }
  }

  return {
    name: 'sticky',
    select (request, downstreams) {
      const ordered = [...downstreams].sort((a, b) =>
        (pinnedCount.get(a.peerId.toString()) ?? 0) - (pinnedCount.get(b.peerId.toString()) ?? 0) || byLoad(a, b))
      if (request.upstream == null) {
        return ordered
      }

      const pinned = pins.get(request.upstream)
      const current = downstreams.find(d => d.peerId.toString() === pinned)
      if (current != null) {
        return [current, ...ordered.filter(d => d !== current)]
      }

      const choice = ordered[0]
      if (choice != null) {
        unpin(request.upstream)
        const id = choice.peerId.toString()
        pins.set(request.upstream, id)
        pinnedCount.set(id, (pinnedCount.get(id) ?? 0) + 1)
      }
      return ordered
    },
    forget: unpin
  }
}

export interface HashStrategyInit {
  /**
   * Derives the hashed key from a request
   *
   * @default (request) => request.key
   */
  key?(request: RouteRequest): string
}

/**
 * Rendezvous (highest-random-weight) hashing: every downstream gets a score
 * from hash(key, downstream) and the highest wins. The same key lands on the
 * same downstream while the pool is stable, and when one of N downstreams
 * leaves only the keys it held (about 1/N) move. Written here because it is
 * a dozen lines and needs no ring to keep in sync with the pool.
 */
export function hashStrategy (init: HashStrategyInit = {}): BalancingStrategy {
  const keyOf = init.key ?? ((request: RouteRequest) => request.key)

  return {
    name: 'hash',
    select (request, downstreams) {
      const key = keyOf(request)
      return downstreams
        .map(downstream => ({ downstream, score: rendezvousScore(key, downstream.peerId.toString()) }))
        .sort((a, b) => compareDescending(a.score, b.score))
        .map(({ downstream }) => downstream)
    }
  }
}

function compareDescending (a: bigint, b: bigint): number {
  if (a === b) {
    return 0
  }
  return a > b ? -1 : 1
}

function rendezvousScore (key: string, node: string): bigint {
  return createHash('sha256').update(key).update('\0').update(node).digest().readBigUInt64BE(0)
}

export type StrategyFactory = () => BalancingStrategy

/**
 * The strategies every route can name
 */
export const builtinStrategies: Readonly<Record<string, StrategyFactory>> = {
  sticky: stickyStrategy,
  'least-outstanding': leastOutstandingStrategy,
  hash: hashStrategy
}

/**
 * Turns a route's strategy option into a strategy. Each route gets its own
 * instance, so per-peer state such as sticky pins is per route.
 */
export function resolveStrategy (strategy: string | BalancingStrategy, extra: Record<string, StrategyFactory> = {}): BalancingStrategy {
  if (typeof strategy !== 'string') {
    return strategy
  }

  const factory = extra[strategy] ?? builtinStrategies[strategy]
  if (factory == null) {
    throw new UnknownStrategyError(`Unknown balancing strategy "${strategy}"; known: ${[...Object.keys(builtinStrategies), ...Object.keys(extra)].join(', ')}`)
  }
  return factory()
}
