/**
 * `kitsune proxy`: a libp2p node running the Kitsune proxy service (plus the
 * Bitswap forwarder, and in preload mode the preload endpoint) in front of a
 * pool of downstream IPFS nodes.
 */

import { resolve } from 'node:path'
import { frontDoorConnectionManager, frontDoorMplex, frontDoorMuxerOptions, frontDoorNoiseCrypto, loadKuboIdentity, loadOrCreateKeyFile, proxy } from '@kitsune/proxy'
import { identify } from '@libp2p/identify'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { loadBitswapForwarder } from './bitswap.ts'
import { runDaemon, runParsed } from './command.ts'
import { parseMetricsListen, parseProxyArgs, validateProxyOptions } from './config.ts'
import { DEFAULT_KEY_FILE, DEFAULT_LISTEN, EMBEDDED_API_LISTEN } from './constants.ts'
import { fetchCommand, startEmbeddedDownstreams } from './embedded.ts'
import { CommandError, UsageError } from './errors.ts'
import { startMetricsServer } from './metrics-server.ts'
import { apiBase, identityLines, preloadCommand } from './output.ts'
import { daemonMetrics } from './prometheus.ts'
import { proxyUsage } from './usage.ts'
import { version } from './version.ts'
import type { ProxyOptions, RawProxyOptions } from './config.ts'
import type { EmbeddedDownstreams, EmbeddedOptions } from './embedded.ts'
import type { MetricsServer } from './metrics-server.ts'
import type { OutputStreams, ReadyEvent } from './output.ts'
import type { BitswapForwarder } from '@kitsune/bitswap-forwarder'
import type { ProxyPreload } from '@kitsune/preload'
import type { DownstreamInfo, LoadedIdentity, Proxy, ProxyStatus } from '@kitsune/proxy'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { ServiceFactoryMap } from 'libp2p'

const log = logger('kitsune:cli:proxy')

/**
 * The services of the node `kitsune proxy` runs. The proxy must sit at the
 * `proxy` key: the Bitswap forwarder finds it at `components.proxy`.
 */
export interface ProxyServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  proxy: Proxy
  /** Present unless Bitswap forwarding is off (`--no-bitswap`) */
  bitswapForwarder?: BitswapForwarder
  /**
   * The preload endpoint: present in preload mode (`--preload-listen`, or
   * embedded mode with the Bitswap forwarder). It finds the proxy and the
   * forwarder at `components.proxy` and `components.bitswapForwarder`.
   */
  preload?: ProxyPreload
}

/**
 * Options for {@link startProxy}: the CLI's options, plus what only code can
 * give
 */
export interface StartProxyOptions extends RawProxyOptions {
  /**
   * The identity, instead of `key` / `kuboConfig`
   */
  privateKey?: PrivateKey
  /**
   * Start in-process Helia downstreams holding a sample file. Defaults to
   * `true` when no `downstreams` or `downstreamApis` are given.
   */
  embedded?: boolean | EmbeddedOptions
  /**
   * Called with things an operator should hear about, such as a key
   * readable by others
   */
  onWarning?(message: string): void
}

/**
 * Where the identity came from
 */
export interface ProxyIdentity {
  peerId: string
  /** `key-file`, `kubo-config`, `given` (a `privateKey` option) or `ephemeral` */
  source: 'key-file' | 'kubo-config' | 'given' | 'ephemeral'
  /** The key file or Kubo config path */
  path?: string
  /** The key file did not exist and was created */
  created: boolean
}

/**
 * A running proxy
 */
export interface RunningProxy {
  node: Libp2p<ProxyServices>
  identity: ProxyIdentity
  /** The Prometheus URL, when `metricsListen` was given */
  metricsUrl?: string
  /** The in-process downstreams, in embedded mode */
  embedded?: EmbeddedDownstreams
  /** Whether the Bitswap forwarder runs */
  bitswap: boolean
  /** The preload endpoint's URL (`http://host:port`) in preload mode */
  preloadUrl?: string
  /** The validated options the node was built from */
  options: ProxyOptions
  /** The proxy service's status: upstream peers, bridges, routes, downstreams */
  status(): ProxyStatus
  /** The `ready` event for the node as it is now */
  readyEvent(): ReadyEvent
  /**
   * Stops accepting connections, closes bridges, stops the node (and its
   * preload endpoint), the embedded downstreams and the metrics endpoint
   */
  stop(): Promise<void>
}

async function loadIdentity (options: StartProxyOptions, validated: ProxyOptions, embedded: boolean): Promise<{ privateKey?: PrivateKey, loaded?: LoadedIdentity, source: ProxyIdentity['source'] }> {
  if (options.privateKey != null) {
    return { privateKey: options.privateKey, source: 'given' }
  }
  if (validated.kuboConfig != null) {
    const loaded = await loadKuboIdentity(validated.kuboConfig)
    return { privateKey: loaded.privateKey, loaded, source: 'kubo-config' }
  }
  if (validated.key == null && embedded) {
    // a demo: nothing to take over, and nothing to leave behind on disk
    return { source: 'ephemeral' }
  }
  const loaded = await loadOrCreateKeyFile(validated.key ?? resolve(DEFAULT_KEY_FILE))
  return { privateKey: loaded.privateKey, loaded, source: 'key-file' }
}

function downstreamSummary (info: DownstreamInfo): { peerId: string | null, status: string, source: string } {
  return { peerId: info.peerId ?? null, status: info.status, source: info.source }
}

/**
 * The services of the proxy node; the Bitswap forwarder joins them when it
 * is wanted and can be loaded, and the preload endpoint in preload mode
 */
async function buildServices (validated: ProxyOptions, embeddedApis: string[], preloadListen?: string): Promise<{ services: ServiceFactoryMap<ProxyServices>, bitswap: boolean }> {
  const services: ServiceFactoryMap<ProxyServices> = {
    identify: identify(),
    ping: ping(),
    proxy: proxy({
      ...validated.pool,
      downstreams: validated.downstreams,
      downstreamApis: [...validated.downstreamApis, ...embeddedApis],
      routes: validated.routes
    })
  }

  if (!validated.bitswap) {
    return { services, bitswap: false }
  }

  const bitswapForwarder = await loadBitswapForwarder()
  services.bitswapForwarder = bitswapForwarder(validated.forwarder)

  if (preloadListen != null) {
    const { proxyPreload } = await import('@kitsune/preload')
    services.preload = proxyPreload({ ...validated.preload, listen: preloadListen })
  }

  return { services, bitswap: true }
}

interface NodeInit {
  privateKey?: PrivateKey
  services: ServiceFactoryMap<ProxyServices>
  registry?: Registry
  /** Whether new inbound connections are still welcome */
  accepting(): boolean
}

/**
 * Creates and starts the libp2p node of the proxy
 */
async function createProxyNode (validated: ProxyOptions, init: NodeInit): Promise<Libp2p<ProxyServices>> {
  try {
    return await createLibp2p<ProxyServices>({
      privateKey: init.privateKey,
      nodeInfo: { name: 'kitsune', version: version() },
      addresses: {
        listen: validated.listen.length > 0 ? validated.listen : DEFAULT_LISTEN,
        announce: validated.announce
      },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise({ crypto: frontDoorNoiseCrypto })],
      // yamux windows bounded so a paused bridge holds little; js-ipfs and
      // older js-libp2p clients only speak mplex, a new stream per message
      streamMuxers: [yamux(frontDoorMuxerOptions(validated.frontDoor)), frontDoorMplex(validated.frontDoor)],
      connectionManager: frontDoorConnectionManager(validated.frontDoor),
      connectionGater: {
        // downstreams usually sit on loopback or a private network, and the
        // proxy must dial them whatever libp2p's default gater says about
        // private addresses (its browser build denies them)
        denyDialMultiaddr: () => false,
        // once stopping, refuse new upstream connections
        denyInboundConnection: () => !init.accepting()
      },
      metrics: init.registry != null ? daemonMetrics(init.registry) : undefined,
      services: init.services
    })
  } catch (err: any) {
    if (['InvalidDownstreamError', 'UnknownStrategyError'].includes(err.name)) {
      throw new UsageError(err.message, 'proxy', { cause: err })
    }
    throw new CommandError(`cannot start the proxy node: ${err.message}`, { cause: err })
  }
}

/**
 * Where the preload endpoint listens, if preload mode is on: asked for, or
 * embedded mode's default (the endpoint needs the Bitswap forwarder)
 */
function preloadListenOf (validated: ProxyOptions, embedded: boolean): string | undefined {
  if (validated.preloadListen != null) {
    return validated.preloadListen
  }
  return embedded && validated.bitswap ? EMBEDDED_API_LISTEN : undefined
}

function preloadWarnings (validated: ProxyOptions, embedded: boolean): string[] {
  if (validated.preloadListen != null && !embedded && validated.downstreamApis.length === 0) {
    return ['preload mode asks downstreams to fetch DAGs through their Kubo RPC API: give them with --downstream-api, or no downstream can preload']
  }
  return []
}

function wantsEmbedded (options: StartProxyOptions, validated: ProxyOptions): boolean {
  if (options.embedded != null) {
    return options.embedded !== false
  }
  return validated.downstreams.length === 0 && validated.downstreamApis.length === 0
}

/**
 * Starts a proxy node as `kitsune proxy` does: TCP and WebSockets, noise,
 * yamux and mplex, identify, ping, the proxy service with front-door
 * connection limits, the Bitswap forwarder, the preload endpoint in preload
 * mode (`preloadListen`, or embedded mode), and optionally a Prometheus
 * endpoint. Resolves once the node listens and every downstream has been
 * tried.
 *
 * Throws a {@link UsageError} for bad options and a {@link CommandError}
 * (or the proxy's `IdentityError`) for run-time failures.
 */
export async function startProxy (options: StartProxyOptions = {}): Promise<RunningProxy> {
  const validated = validateProxyOptions(options)
  const warn = options.onWarning ?? ((message: string) => { log(message) })
  const embeddedMode = wantsEmbedded(options, validated)

  const identity = await loadIdentity(options, validated, embeddedMode)
  for (const warning of [...identity.loaded?.warnings ?? [], ...preloadWarnings(validated, embeddedMode)]) {
    warn(warning)
  }

  let embedded: EmbeddedDownstreams | undefined
  let metricsServer: MetricsServer | undefined
  let node: Libp2p<ProxyServices> | undefined
  let accepting = true

  const stop = async (): Promise<void> => {
    accepting = false
    await node?.stop()
    await embedded?.stop()
    await metricsServer?.close()
  }

  try {
    if (embeddedMode) {
      embedded = await startEmbeddedDownstreams(typeof options.embedded === 'object' ? options.embedded : {})
    }

    // embedded downstreams are given by their APIs: preloading needs their /api/v0/refs
    const { services, bitswap } = await buildServices(validated, embedded?.apis ?? [], preloadListenOf(validated, embeddedMode))
    const registry = validated.metricsListen != null ? new Registry() : undefined
    const running = node = await createProxyNode(validated, {
      privateKey: identity.privateKey,
      services,
      registry,
      accepting: () => accepting
    })

    if (validated.metricsListen != null && registry != null) {
      metricsServer = await startMetricsServer(parseMetricsListen(validated.metricsListen), registry)
    }
    const metricsUrl = metricsServer?.url
    const preloadUrl = running.services.preload != null ? apiBase(running.services.preload, 'the preload endpoint') : undefined

    await running.services.proxy.ready()

    return {
      node: running,
      identity: {
        peerId: running.peerId.toString(),
        source: identity.source,
        path: identity.loaded?.path,
        created: identity.loaded?.created ?? false
      },
      metricsUrl,
      embedded,
      bitswap,
      preloadUrl,
      options: validated,
      status: () => running.services.proxy.status(),
      readyEvent: () => ({
        event: 'ready',
        peerId: running.peerId.toString(),
        multiaddrs: running.getMultiaddrs().map(ma => ma.toString()),
        downstreams: running.services.proxy.status().downstreams.map(downstreamSummary),
        metrics: metricsUrl ?? null,
        preload: preloadUrl ?? null
      }),
      stop
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

function describeRoutes (running: RunningProxy): string[] {
  const routes = running.status().routes
  const lines = routes.length === 0
    ? ['routes       none (add with --route <protocol>[=<strategy>])']
    : routes.map(route => `route        ${route.protocols.join(', ')} -> ${route.strategy}`)
  lines.push(`bitswap      ${running.bitswap ? 'forwarded to downstreams' : 'off'}`)
  return lines
}

/**
 * Runs `kitsune proxy` until SIGINT or SIGTERM. Returns the exit code; throws
 * a {@link UsageError} or another error for the caller to report.
 */
export async function runProxyCommand (args: string[], streams?: OutputStreams): Promise<number> {
  return runParsed(await parseProxyArgs(args), proxyUsage, async options => runProxy(options, streams), streams)
}

/**
 * Runs a proxy from parsed options until SIGINT or SIGTERM, printing JSON
 * lines or human lines. Returns the exit code.
 */
export async function runProxy (options: ProxyOptions, streams?: OutputStreams): Promise<number> {
  return runDaemon<RunningProxy>({
    command: 'proxy',
    json: options.json,
    streams,
    log,
    start: async (onWarning) => startProxy({ ...options, onWarning }),
    ready: (running, output) => {
      const lines = [...identityLines(running.identity, 'embedded mode; pass --key to keep one'), ...describeRoutes(running)]
      lines.forEach(line => { output.info(line) })
      output.emit(running.readyEvent())
    },
    started: (running, output) => {
      const pool = running.node.services.proxy.pool
      for (const type of ['downstream:up', 'downstream:down', 'downstream:draining'] as const) {
        pool.addEventListener(type, (evt) => {
          output.emit({ event: type, ...downstreamSummary(evt.detail), error: evt.detail.lastError })
        })
      }

      if (running.embedded != null) {
        const addresses = running.node.getMultiaddrs().map(ma => ma.toString())
        const peer = addresses.find(address => !address.includes('/ws')) ?? addresses[0]
        const cid = running.embedded.cid.toString()
        output.emit({
          event: 'embedded',
          cid,
          size: running.embedded.content.byteLength,
          peer,
          command: fetchCommand(cid, peer),
          preload: running.preloadUrl ?? null,
          preloadCommand: running.preloadUrl != null ? preloadCommand(running.preloadUrl) : null
        })
      }
    }
  })
}
