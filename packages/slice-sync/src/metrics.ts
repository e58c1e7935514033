import type { Counter, CounterGroup, Metrics } from '@libp2p/interface'

/** Request types as metric labels */
export type ServedType = 'account_range' | 'storage_range' | 'byte_codes' | 'account_proof' | 'headers' | 'large_accounts' | 'bad_request'

/** Where data that did not verify came from */
export type RejectReason = 'range' | 'account_proof' | 'delta' | 'header' | 'malformed'

/** What became of a delta */
export type DeltaResult = 'applied' | 'ignored' | 'rejected'

const SERVED: ServedType[] = ['account_range', 'storage_range', 'byte_codes', 'account_proof', 'headers', 'large_accounts', 'bad_request']
const REJECTED: RejectReason[] = ['range', 'account_proof', 'delta', 'header', 'malformed']
const DELTAS: DeltaResult[] = ['applied', 'ignored', 'rejected']

/**
 * Levels the gauges read at scrape time
 */
export interface MetricLevels {
  targetSlices(): number
  heldSlices(): number
  accountsHeld(): number
  /** The newest header's number, -1 without one */
  headNumber(): number
  knownPeers(): number
  badPeers(): number
}

function zeros (labels: string[]): Record<string, number> {
  return Object.fromEntries(labels.map(l => [l, 0]))
}

/**
 * The service's `kitsune_slice_*` metrics, registered on libp2p's
 * `components.metrics` when the node has a metrics implementation (each
 * method is a no-op without one). Counters are incremented at the event;
 * levels are gauges read at scrape time.
 */
export class SliceMetrics {
  /** Ranges (account or storage) fetched and verified, for `stats()` and tests */
  rangesFetched = 0
  private lastSyncSeconds = 0
  private readonly served?: CounterGroup
  private readonly bytes?: CounterGroup
  private readonly ranges?: CounterGroup
  private readonly rejected?: CounterGroup
  private readonly penalised?: Counter
  private readonly deltas?: CounterGroup

  constructor (metrics: Metrics | undefined, levels: MetricLevels) {
    if (metrics == null) {
      return
    }
    metrics.registerMetricGroup('kitsune_slice_slices', {
      label: 'kind',
      help: 'Slices this peer wants (target) and holds complete and verified at its state root (held)',
      calculate: () => ({ target: levels.targetSlices(), held: levels.heldSlices() })
    })
    metrics.registerMetric('kitsune_slice_accounts_held', {
      help: 'Accounts in the held slices',
      calculate: () => levels.accountsHeld()
    })
    metrics.registerMetric('kitsune_slice_head_block', {
      help: 'Number of the newest header followed (-1: none yet)',
      calculate: () => levels.headNumber()
    })
    metrics.registerMetricGroup('kitsune_slice_peers', {
      label: 'state',
      help: 'Peers known from announcements (known) and peers no longer asked after bad data (bad)',
      calculate: () => ({ known: levels.knownPeers(), bad: levels.badPeers() })
    })
    metrics.registerMetric('kitsune_slice_last_sync_seconds', {
      help: 'Duration of the last sync pass that fetched slices, in seconds',
      calculate: () => this.lastSyncSeconds
    })
    this.served = metrics.registerCounterGroup('kitsune_slice_requests_served_total', {
      label: 'type',
      help: 'Protocol requests answered, by type (bad_request: refused as malformed)'
    })
    this.served.increment(zeros(SERVED))
    this.bytes = metrics.registerCounterGroup('kitsune_slice_response_bytes_total', {
      label: 'direction',
      help: 'Bytes of protocol responses sent (served) and received (asked)'
    })
    this.bytes.increment({ sent: 0, received: 0 })
    this.ranges = metrics.registerCounterGroup('kitsune_slice_ranges_fetched_total', {
      label: 'type',
      help: 'Range responses fetched and verified while syncing slices'
    })
    this.ranges.increment({ account: 0, storage: 0 })
    this.rejected = metrics.registerCounterGroup('kitsune_slice_rejected_total', {
      label: 'reason',
      help: 'Data from peers that did not verify, by what it was: range (or code), account_proof, delta, header, malformed (a delta that does not decode)'
    })
    this.rejected.increment(zeros(REJECTED))
    this.penalised = metrics.registerCounter('kitsune_slice_peers_penalised_total', {
      help: 'Penalties given to peers for data that did not verify'
    })
    this.deltas = metrics.registerCounterGroup('kitsune_slice_deltas_total', {
      label: 'result',
      help: 'Deltas checked by the topic validator: applied, ignored (header not linked to the trust anchor), rejected'
    })
    this.deltas.increment(zeros(DELTAS))
  }

  requestServed (type: ServedType, responseBytes: number): void {
    this.served?.increment({ [type]: 1 })
    this.bytes?.increment({ sent: responseBytes })
  }

  responseReceived (bytes: number): void {
    this.bytes?.increment({ received: bytes })
  }

  rangeFetched (type: 'account' | 'storage'): void {
    this.rangesFetched++
    this.ranges?.increment({ [type]: 1 })
  }

  rejectedData (reason: RejectReason): void {
    this.rejected?.increment({ [reason]: 1 })
    this.penalised?.increment()
  }

  delta (result: DeltaResult): void {
    this.deltas?.increment({ [result]: 1 })
  }

  syncPass (ms: number): void {
    this.lastSyncSeconds = ms / 1000
  }
}
