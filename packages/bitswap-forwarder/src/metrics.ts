import type { BitswapForwarderStats } from './index.ts'
import type { WantRouterStats } from './want-router.ts'
import type { CounterGroup, HistogramGroup, Metrics } from '@libp2p/interface'

export type Counters = Omit<BitswapForwarderStats, 'upstreamPeers' | 'trackedWants' | 'waitingWants' | 'inboundFrameBytes' | 'pendingCids' | 'downstreams' | 'failovers' | 'timeouts' | 'coalescedWants'>

/**
 * Counters of one downstream
 */
export type DownstreamCounters = BitswapForwarderStats['downstreams'][string]

export function createCounters (): Counters {
  return {
    wantsReceived: 0,
    cancelsReceived: 0,
    wantsForwarded: 0,
    cancelsForwarded: 0,
    blocksReceived: 0,
    blockBytesReceived: 0,
    blocksSent: 0,
    blockBytesSent: 0,
    havesSent: 0,
    dontHavesSent: 0,
    badBlocks: 0,
    duplicateBlocks: 0,
    unwantedBlocks: 0,
    cacheHits: 0,
    cacheMisses: 0,
    downstreamWantsDropped: 0,
    windowWantsPassed: 0,
    windowBlocksPassed: 0,
    windowBlocksRefused: 0,
    probes: 0,
    refusedWants: 0,
    evictedWants: 0,
    frameBudgetResets: 0,
    frameTimeouts: 0,
    malformedMessages: 0,
    invalidEntries: 0,
    refusedStreams: 0,
    cutOffs: 0
  }
}

/**
 * Where the metrics read their values: the tallies that counters follow, and
 * the levels that gauges read at scrape time
 */
export interface MetricSources {
  counters: Counters
  forward(): WantRouterStats
  pendingCids(): number
  trackedWants(): number
  waitingWants(): number
  inboundFrameBytes(): number
  upstreamPeers(): number
  /** Peers with an outbound queue */
  queues(): number
  windows(): number
}

/**
 * Makes a counter group follow some number fields of a tally object: each
 * field becomes an accessor whose every rise (`counters.x++` where the event
 * happens) increments the field's label by as much, at once. A counter must
 * not be registered with `calculate` here: `@libp2p/prometheus-metrics` adds
 * what `calculate` returns to the counter on every scrape, so running totals
 * would be counted again each time.
 */
function follow <T extends object> (tally: T, group: CounterGroup, labels: Partial<Record<keyof T & string, string>>): void {
  const zero: Record<string, number> = {}
  for (const [field, label] of Object.entries(labels) as Array<[keyof T & string, string]>) {
    let value = Number(tally[field])
    zero[label] = 0
    Object.defineProperty(tally, field, {
      enumerable: true,
      configurable: true,
      get: () => value,
      set: (next: number) => {
        if (next > value) {
          group.increment({ [label]: next - value })
        }
        value = next
      }
    })
    if (value > 0) {
      group.increment({ [label]: value })
    }
  }
  // every label is exported from the start, at 0
  group.increment(zero)
}

/**
 * Registers the forwarder's `kitsune_bitswap_*` metrics. Counters are
 * incremented as the forwarder's tallies rise; levels are gauges read at
 * scrape time; the per downstream latency histogram is returned for the
 * forwarder to observe.
 */
export function registerMetrics (metrics: Metrics | undefined, sources: MetricSources): HistogramGroup | undefined {
  if (metrics == null) {
    return undefined
  }
  const c = sources.counters
  const forward = sources.forward()
  metrics.registerMetric('kitsune_bitswap_upstream_ledgers', {
    help: 'Upstream peers with a ledger',
    calculate: sources.upstreamPeers
  })
  metrics.registerMetric('kitsune_bitswap_outbound_queues', {
    help: 'Peers with an outbound message queue',
    calculate: sources.queues
  })
  const wants = metrics.registerCounterGroup('kitsune_bitswap_wants_total', {
    label: 'direction',
    help: 'Want entries received from upstream peers (in), sent to downstreams (out), joined to a pending one (coalesced), passed from downstreams through preload windows (window), and probe() want-haves (probe)'
  })
  follow(c, wants, { wantsReceived: 'in', wantsForwarded: 'out', windowWantsPassed: 'window', probes: 'probe' })
  follow(forward, wants, { coalesced: 'coalesced' })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_cancels_total', {
    label: 'direction',
    help: 'CANCEL entries received and sent'
  }), { cancelsReceived: 'in', cancelsForwarded: 'out' })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_blocks_total', {
    label: 'direction',
    help: 'Blocks received from downstreams (in), sent to upstream peers (out), and passed from upstream peers to downstreams through preload windows (window)'
  }), { blocksReceived: 'in', blocksSent: 'out', badBlocks: 'bad', duplicateBlocks: 'duplicate', unwantedBlocks: 'unwanted', windowBlocksPassed: 'window' })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_block_bytes_total', {
    label: 'direction',
    help: 'Block bytes received from downstreams (in) and sent to upstream peers (out)'
  }), { blockBytesReceived: 'in', blockBytesSent: 'out' })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_presences_sent_total', {
    label: 'type',
    help: 'HAVE and DONT_HAVE sent to upstream peers'
  }), { havesSent: 'have', dontHavesSent: 'dont_have' })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_cache_total', {
    label: 'result',
    help: 'Block cache lookups'
  }), { cacheHits: 'hit', cacheMisses: 'miss' })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_refused_total', {
    label: 'reason',
    help: 'Input refused, by reason'
  }), {
    downstreamWantsDropped: 'downstream_want',
    windowBlocksRefused: 'window_budget',
    refusedWants: 'tracked_wants',
    malformedMessages: 'malformed',
    invalidEntries: 'invalid_entry',
    refusedStreams: 'stream',
    frameBudgetResets: 'frame_budget',
    frameTimeouts: 'frame_timeout',
    cutOffs: 'cut_off'
  })
  follow(c, metrics.registerCounterGroup('kitsune_bitswap_evicted_wants_total', {
    label: 'reason',
    help: 'Want-haves of peers over their fair share of the tracked-wants table that gave way to a peer under it (they wait for room)'
  }), { evictedWants: 'fair_share' })
  follow(forward, metrics.registerCounterGroup('kitsune_bitswap_failovers_total', {
    label: 'reason',
    help: 'Wants moved to another downstream'
  }), { failovers: 'all', timeouts: 'timeout' })
  metrics.registerMetricGroup('kitsune_bitswap_tracked', {
    label: 'kind',
    help: 'Wants, CIDs and peers tracked now',
    calculate: () => ({ wants: sources.trackedWants(), waiting_wants: sources.waitingWants(), inbound_frame_bytes: sources.inboundFrameBytes(), cids: sources.pendingCids(), upstream_peers: sources.upstreamPeers(), windows: sources.windows() })
  })
  return metrics.registerHistogramGroup('kitsune_bitswap_downstream_block_latency_seconds', {
    label: 'downstream',
    help: 'Time from a want being sent to a downstream to its block arriving',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
  })
}
