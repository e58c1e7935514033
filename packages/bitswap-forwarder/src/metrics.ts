import type { BitswapForwarderStats } from './index.ts'
import type { WantRouterStats } from './want-router.ts'
import type { HistogramGroup, Metrics } from '@libp2p/interface'

export type Counters = Omit<BitswapForwarderStats, 'upstreamPeers' | 'trackedWants' | 'pendingCids' | 'downstreams' | 'failovers' | 'timeouts' | 'coalescedWants'>

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
    malformedMessages: 0,
    refusedStreams: 0,
    cutOffs: 0
  }
}

/**
 * Where the calculated metrics read their values
 */
export interface MetricSources {
  counters: Counters
  forward(): WantRouterStats
  pendingCids(): number
  trackedWants(): number
  upstreamPeers(): number
  /** Peers with an outbound queue */
  queues(): number
  windows(): number
}

/**
 * Registers the forwarder's `kitsune_bitswap_*` metrics. Counters are
 * calculated from the forwarder's own tallies at scrape time; the per
 * downstream latency histogram is returned for the forwarder to observe.
 */
export function registerMetrics (metrics: Metrics | undefined, sources: MetricSources): HistogramGroup | undefined {
  if (metrics == null) {
    return undefined
  }
  const c = sources.counters
  metrics.registerMetric('kitsune_bitswap_upstream_ledgers', {
    help: 'Upstream peers with a ledger',
    calculate: sources.upstreamPeers
  })
  metrics.registerMetric('kitsune_bitswap_outbound_queues', {
    help: 'Peers with an outbound message queue',
    calculate: sources.queues
  })
  metrics.registerCounterGroup('kitsune_bitswap_wants_total', {
    label: 'direction',
    help: 'Want entries received from upstream peers (in), sent to downstreams (out), joined to a pending one (coalesced), passed from downstreams through preload windows (window), and probe() want-haves (probe)',
    calculate: () => ({ in: c.wantsReceived, out: c.wantsForwarded, coalesced: sources.forward().coalesced, window: c.windowWantsPassed, probe: c.probes })
  })
  metrics.registerCounterGroup('kitsune_bitswap_cancels_total', {
    label: 'direction',
    help: 'CANCEL entries received and sent',
    calculate: () => ({ in: c.cancelsReceived, out: c.cancelsForwarded })
  })
  metrics.registerCounterGroup('kitsune_bitswap_blocks_total', {
    label: 'direction',
    help: 'Blocks received from downstreams (in), sent to upstream peers (out), and passed from upstream peers to downstreams through preload windows (window)',
    calculate: () => ({ in: c.blocksReceived, out: c.blocksSent, bad: c.badBlocks, duplicate: c.duplicateBlocks, unwanted: c.unwantedBlocks, window: c.windowBlocksPassed })
  })
  metrics.registerCounterGroup('kitsune_bitswap_block_bytes_total', {
    label: 'direction',
    help: 'Block bytes received from downstreams (in) and sent to upstream peers (out)',
    calculate: () => ({ in: c.blockBytesReceived, out: c.blockBytesSent })
  })
  metrics.registerCounterGroup('kitsune_bitswap_presences_sent_total', {
    label: 'type',
    help: 'HAVE and DONT_HAVE sent to upstream peers',
    calculate: () => ({ have: c.havesSent, dont_have: c.dontHavesSent })
  })
  metrics.registerCounterGroup('kitsune_bitswap_cache_total', {
    label: 'result',
    help: 'Block cache lookups',
    calculate: () => ({ hit: c.cacheHits, miss: c.cacheMisses })
  })
  metrics.registerCounterGroup('kitsune_bitswap_refused_total', {
    label: 'reason',
    help: 'Input refused, by reason',
    calculate: () => ({
      downstream_want: c.downstreamWantsDropped,
      window_budget: c.windowBlocksRefused,
      tracked_wants: c.refusedWants,
      malformed: c.malformedMessages,
      stream: c.refusedStreams,
      cut_off: c.cutOffs
    })
  })
  metrics.registerCounterGroup('kitsune_bitswap_failovers_total', {
    label: 'reason',
    help: 'Wants moved to another downstream',
    calculate: () => ({ all: sources.forward().failovers, timeout: sources.forward().timeouts })
  })
  metrics.registerMetricGroup('kitsune_bitswap_tracked', {
    label: 'kind',
    help: 'Wants, CIDs and peers tracked now',
    calculate: () => ({ wants: sources.trackedWants(), cids: sources.pendingCids(), upstream_peers: sources.upstreamPeers(), windows: sources.windows() })
  })
  return metrics.registerHistogramGroup('kitsune_bitswap_downstream_block_latency_seconds', {
    label: 'downstream',
    help: 'Time from a want being sent to a downstream to its block arriving',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
  })
}
