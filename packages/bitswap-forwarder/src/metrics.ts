import { Tally } from './tally.ts'
import type { BitswapForwarderStats } from './index.ts'
import type { WantRouterCount } from './want-router.ts'
import type { HistogramGroup, Metrics } from '@libp2p/interface'

/**
 * What the forwarder counts (each is a field of `BitswapForwarderStats`)
 */
export const COUNTER_NAMES = [
  'wantsReceived', 'cancelsReceived', 'wantsForwarded', 'cancelsForwarded',
  'blocksReceived', 'blockBytesReceived', 'blocksSent', 'blockBytesSent',
  'havesSent', 'dontHavesSent', 'badBlocks', 'duplicateBlocks', 'unwantedBlocks',
  'cacheHits', 'cacheMisses', 'downstreamWantsDropped', 'windowWantsPassed',
  'windowBlocksPassed', 'windowBlocksRefused', 'probes', 'refusedWants',
  'evictedWants', 'malformedMessages', 'invalidEntries', 'refusedStreams',
  'frameBudgetResets', 'frameTimeouts', 'cutOffs'
] as const satisfies ReadonlyArray<keyof BitswapForwarderStats>

export type CounterName = typeof COUNTER_NAMES[number]
export type Counters = Tally<CounterName>

/**
 * Counters of one downstream
 */
export type DownstreamCounters = BitswapForwarderStats['downstreams'][string]

export function createCounters (): Counters {
  return new Tally(COUNTER_NAMES)
}

/**
 * Where the metrics read their values: the tallies whose counts they
 * follow, and the levels that gauges read at scrape time
 */
export interface MetricSources {
  counters: Counters
  forward: Tally<WantRouterCount>
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
 * Registers the forwarder's `kitsune_bitswap_*` metrics. Counters are
 * incremented where the forwarder counts (`Tally.export`); levels are
 * gauges read at scrape time; the per downstream latency histogram is returned for the
 * forwarder to observe.
 */
export function registerMetrics (metrics: Metrics | undefined, sources: MetricSources): HistogramGroup | undefined {
  if (metrics == null) {
    return undefined
  }
  const c = sources.counters
  const forward = sources.forward
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
  c.export(wants, { wantsReceived: 'in', wantsForwarded: 'out', windowWantsPassed: 'window', probes: 'probe' })
  forward.export(wants, { coalesced: 'coalesced' })
  c.export(metrics.registerCounterGroup('kitsune_bitswap_cancels_total', {
    label: 'direction',
    help: 'CANCEL entries received and sent'
  }), { cancelsReceived: 'in', cancelsForwarded: 'out' })
  c.export(metrics.registerCounterGroup('kitsune_bitswap_blocks_total', {
    label: 'direction',
    help: 'Blocks received from downstreams (in), sent to upstream peers (out), and passed from upstream peers to downstreams through preload windows (window)'
  }), { blocksReceived: 'in', blocksSent: 'out', badBlocks: 'bad', duplicateBlocks: 'duplicate', unwantedBlocks: 'unwanted', windowBlocksPassed: 'window' })
  c.export(metrics.registerCounterGroup('kitsune_bitswap_block_bytes_total', {
    label: 'direction',
    help: 'Block bytes received from downstreams (in) and sent to upstream peers (out)'
  }), { blockBytesReceived: 'in', blockBytesSent: 'out' })
  c.export(metrics.registerCounterGroup('kitsune_bitswap_presences_sent_total', {
    label: 'type',
    help: 'HAVE and DONT_HAVE sent to upstream peers'
  }), { havesSent: 'have', dontHavesSent: 'dont_have' })
  c.export(metrics.registerCounterGroup('kitsune_bitswap_cache_total', {
    label: 'result',
    help: 'Block cache lookups'
  }), { cacheHits: 'hit', cacheMisses: 'miss' })
  c.export(metrics.registerCounterGroup('kitsune_bitswap_refused_total', {
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
  c.export(metrics.registerCounterGroup('kitsune_bitswap_evicted_wants_total', {
    label: 'reason',
    help: 'Want-haves of peers over their fair share of the tracked-wants table that gave way to a peer under it (they wait for room)'
  }), { evictedWants: 'fair_share' })
  forward.export(metrics.registerCounterGroup('kitsune_bitswap_failovers_total', {
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
