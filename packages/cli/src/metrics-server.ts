import { createServer } from 'node:http'
import { logger } from '@libp2p/logger'
import { Registry } from 'prom-client'
import { parseMetricsListen } from './config.ts'
import { METRICS_PATH } from './constants.ts'
import { CommandError } from './errors.ts'
import { daemonMetrics } from './prometheus.ts'
import type { MetricsAddress } from './config.ts'
import type { ComponentLogger, Metrics } from '@libp2p/interface'

const log = logger('kitsune:cli:metrics')

/**
 * A running Prometheus endpoint
 */
export interface MetricsServer {
  /** The URL Prometheus scrapes, e.g. `http://127.0.0.1:9090/metrics` */
  url: string
  close(): Promise<void>
}

/**
 * Serves a prom-client registry as Prometheus text at `/metrics`. libp2p's
 * Prometheus metrics (and the `kitsune_*` metrics services register through
 * them) land in that registry.
 */
export async function startMetricsServer (address: MetricsAddress, registry: Registry): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`Not found; metrics are at ${METRICS_PATH}\n`)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    registry.metrics().then(text => {
      res.writeHead(200, { 'content-type': registry.contentType })
      res.end(req.method === 'HEAD' ? undefined : text)
    }, (err: Error) => {
      log.error('could not collect metrics - %e', err)
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new CommandError(`cannot serve metrics on ${address.host}:${address.port} (${err.code ?? err.message})`, { cause: err }))
    })
    server.listen(address.port, address.host, () => { resolve() })
  })

  const bound = server.address()
  const port = typeof bound === 'object' && bound != null ? bound.port : address.port
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  const url = `http://${host}:${port}${METRICS_PATH}`
  log('serving metrics at %s', url)

  return {
    url,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

/**
 * `--metrics-listen` for a libp2p daemon: the `metrics` to give
 * `createLibp2p`, and the endpoint that serves them once the node is up
 */
export interface PrometheusEndpoint {
  /** For `createLibp2p({ metrics })`; undefined without an address */
  metrics?(components: { logger: ComponentLogger }): Metrics
  /**
   * Serves `/metrics` for a started node: resolves to its URL (undefined
   * without an address) and a `stop` that stops the node, then the
   * endpoint. Stops the node when the endpoint cannot listen.
   */
  serve(node: { stop(): void | Promise<void> }): Promise<{ url?: string, stop(): Promise<void> }>
}

/**
 * A Prometheus endpoint for a daemon started with `--metrics-listen
 * <address>` (nothing at all without it)
 */
export function prometheusEndpoint (metricsListen?: string): PrometheusEndpoint {
  if (metricsListen == null) {
    return { serve: async (node) => ({ stop: async () => { await node.stop() } }) }
  }
  const registry = new Registry()
  return {
    metrics: daemonMetrics(registry),
    serve: async (node) => {
      let server: MetricsServer
      try {
        server = await startMetricsServer(parseMetricsListen(metricsListen), registry)
      } catch (err) {
        await node.stop()
        throw err
      }
      return {
        url: server.url,
        stop: async () => {
          await node.stop()
          await server.close()
        }
      }
    }
  }
}
