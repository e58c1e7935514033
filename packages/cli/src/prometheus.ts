/**
 * The Prometheus metrics of the daemons: libp2p's `prometheusMetrics`,
 * made to pass `promtool check metrics`. Kitsune's own `kitsune_*` metrics
 * follow Prometheus' naming rules at the source; two upstream habits do not,
 * and are corrected here, in the running process, without patching any
 * library.
 *
 * libp2p's transports and connection manager register gauges whose names
 * end in `_total` (`libp2p_tcp_inbound_connections_total`,
 * `libp2p_protocol_streams_total`, ...), a suffix reserved for counters:
 * they are exported without it (`libp2p_tcp_inbound_connections`), and in
 * the plural where that would leave a histogram's suffix
 * (`libp2p_kad_dht_routing_table_kad_bucket_total` →
 * `libp2p_kad_dht_routing_table_kad_buckets`).
 *
 * libp2p's adaptive timeouts (the connection monitor's pings, kad-dht's
 * message times) register gauge groups in milliseconds
 * (`libp2p_connection_monitor_ping_time_milliseconds`): Prometheus wants
 * base units, so they are exported in seconds
 * (`libp2p_connection_monitor_ping_time_seconds`; a `…Variance` key in
 * seconds squared).
 *
 * prom-client's default metrics include the gauges
 * `nodejs_active_handles_total`, `nodejs_active_requests_total` and
 * `nodejs_active_resources_total`, the sums of the labelled
 * `nodejs_active_handles`, `nodejs_active_requests` and
 * `nodejs_active_resources` that are kept: they are dropped (a query can
 * `sum()` the labelled ones).
 */

import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { ComponentLogger, Metrics } from '@libp2p/interface'
import type { Registry } from 'prom-client'

/**
 * prom-client default metrics that are gauges named like counters and only
 * repeat the sum of a labelled gauge that is kept
 */
export const DROPPED_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/** Suffixes Prometheus reserves for histograms and summaries */
const RESERVED_SUFFIXES = ['_bucket', '_count', '_sum']

/**
 * The name a gauge is exported under: without a `_total` suffix, which
 * Prometheus reserves for counters; a name left ending in a histogram's
 * suffix takes a plural (`…_kad_bucket_total` → `…_kad_buckets`)
 */
export function gaugeName (name: string): string {
  if (!name.endsWith('_total')) {
    return name
  }
  const stripped = name.slice(0, -'_total'.length)
  return RESERVED_SUFFIXES.some(suffix => stripped.endsWith(suffix)) ? `${stripped}s` : stripped
}

const MILLISECONDS = '_milliseconds'

/**
 * A value in milliseconds (or, for a variance, milliseconds squared) in
 * seconds (seconds squared)
 */
function toSeconds (value: number, key?: string): number {
  return key != null && /variance/i.test(key) ? value / 1e6 : value / 1000
}

function groupToSeconds (values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, toSeconds(value, key)]))
}

/**
 * A gauge (or gauge group) registered in milliseconds, registered in
 * seconds instead: its name says `_seconds`, and every value given to
 * `update` or returned by `calculate` is converted
 */
function registerInSeconds (register: (name: string, options?: any) => any, name: string, options: any, group: boolean): any {
  const convert = group ? groupToSeconds : (value: number) => toSeconds(value)
  const calculate = options?.calculate
  const metric = register(name.replace(MILLISECONDS, '_seconds'), calculate == null
    ? options
    : { ...options, calculate: async () => convert(await calculate()) })
  if (metric == null || calculate != null) {
    return metric
  }
  return new Proxy(metric, {
    get (target, property) {
      const value = Reflect.get(target, property, target)
      if (property === 'update' && typeof value === 'function') {
        return (values: any) => value.call(target, convert(values))
      }
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/**
 * libp2p's `prometheusMetrics({ registry })`, with gauges named without
 * `_total`, gauges in milliseconds exported in seconds, and the
 * {@link DROPPED_METRICS} removed from the registry
 */
export function daemonMetrics (registry: Registry): (components: { logger: ComponentLogger }) => Metrics {
  const factory = prometheusMetrics({ registry })

  return (components) => {
    const metrics = factory(components)
    // prom-client's default metrics are registered when the factory runs
    for (const name of DROPPED_METRICS) {
      registry.removeSingleMetric(name)
    }

    return new Proxy(metrics, {
      get (target, property) {
        const value = Reflect.get(target, property, target)
        if (typeof value !== 'function') {
          return value
        }
        if (property === 'registerMetric' || property === 'registerMetricGroup') {
          const register = (name: string, options?: any): any => value.call(target, name, options)
          return (name: string, options?: any) => {
            const renamed = gaugeName(name)
            return renamed.includes(MILLISECONDS)
              ? registerInSeconds(register, renamed, options, property === 'registerMetricGroup')
              : register(renamed, options)
          }
        }
        return value.bind(target)
      }
    })
  }
}
