/**
 * `kitsune node`: a standalone Helia node with the Kubo-compatible preload
 * endpoint (`POST /api/v0/refs`) and `POST /api/v0/id`. It is a preload node
 * of its own, and a downstream the proxy can be given by its API
 * (`kitsune proxy --downstream-api`). Built from explicit parts (see
 * `helia-node.ts`): it talks only to the peers that connect to it.
 */

import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { withPreload } from '@kitsune/preload'
import { loadOrCreateKeyFile } from '@kitsune/proxy'
import { logger } from '@libp2p/logger'
import { FsBlockstore } from 'blockstore-fs'
import { Registry } from 'prom-client'
import { runDaemon, runParsed } from './command.ts'
import { parseMetricsListen, parseNodeArgs, validateNodeOptions } from './config.ts'
import { DEFAULT_NODE_LISTEN } from './constants.ts'
import { CommandError } from './errors.ts'
import { localHelia } from './helia-node.ts'
import { startMetricsServer } from './metrics-server.ts'
import { apiBase, identityLines } from './output.ts'
import { nodeUsage } from './usage.ts'
import type { NodeOptions, RawNodeOptions } from './config.ts'
import type { PreloadHelia } from './helia-node.ts'
import type { MetricsServer } from './metrics-server.ts'
import type { NodeReadyEvent, OutputStreams } from './output.ts'
import type { LoadedIdentity } from '@kitsune/proxy'
import type { PrivateKey } from '@libp2p/interface'

const log = logger('kitsune:cli:node')

/**
 * Options for {@link startNode}: the CLI's options, plus what only code can
 * give
 */
export interface StartNodeOptions extends RawNodeOptions {
  /** The identity, instead of `key` */
  privateKey?: PrivateKey
  /**
   * Called with things an operator should hear about, such as a key
   * readable by others
   */
  onWarning?(message: string): void
}

/**
 * Where the identity of a `kitsune node` came from
 */
export interface NodeIdentity {
  peerId: string
  /** `key-file`, `given` (a `privateKey` option) or `ephemeral` */
  source: 'key-file' | 'given' | 'ephemeral'
  /** The key file */
  path?: string
  /** The key file did not exist and was created */
  created: boolean
}

/**
 * A running `kitsune node`
 */
export interface RunningNode {
  helia: PreloadHelia
  identity: NodeIdentity
  /** The HTTP API's URL, `http://host:port` */
  api: string
  /** The on-disk blockstore's directory; unset when blocks are in memory */
  blockstore?: string
  /** The Prometheus URL, when `metricsListen` was given */
  metricsUrl?: string
  /** The validated options the node was built from */
  options: NodeOptions
  /** The `ready` event for the node as it is now */
  readyEvent(): NodeReadyEvent
  /** Stops Helia (and with it the API) and the metrics endpoint */
  stop(): Promise<void>
}

/**
 * Opens the on-disk blockstore, creating the directory if missing
 */
async function openBlockstore (dir: string): Promise<FsBlockstore> {
  const path = resolve(dir)
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      return undefined
    }
    throw new CommandError(`cannot use ${path} as the blockstore (${err.code ?? err.message})`, { cause: err })
  })
  if (info != null && !info.isDirectory()) {
    throw new CommandError(`cannot use ${path} as the blockstore (not a directory)`)
  }

  const blockstore = new FsBlockstore(path)
  try {
    await blockstore.open()
  } catch (err: any) {
    throw new CommandError(`cannot use ${path} as the blockstore (${err.code ?? err.message})`, { cause: err })
  }
  return blockstore
}

/**
 * Starts a Helia preload node as `kitsune node` does: TCP and WebSockets,
 * noise, yamux and mplex, identify, ping, Bitswap, the preload endpoint, and
 * optionally an on-disk blockstore and a Prometheus endpoint. Resolves once
 * the node and its API listen.
 *
 * Throws a {@link UsageError} for bad options and a {@link CommandError}
 * (or the proxy's `IdentityError`) for run-time failures.
 */
export async function startNode (options: StartNodeOptions = {}): Promise<RunningNode> {
  const validated = validateNodeOptions(options)
  const warn = options.onWarning ?? ((message: string) => { log(message) })

  let privateKey = options.privateKey
  let loaded: LoadedIdentity | undefined
  let source: NodeIdentity['source'] = privateKey != null ? 'given' : 'ephemeral'
  if (privateKey == null && validated.key != null) {
    loaded = await loadOrCreateKeyFile(validated.key)
    privateKey = loaded.privateKey
    source = 'key-file'
    loaded.warnings.forEach(warn)
  }

  let helia: PreloadHelia | undefined
  let blockstore: FsBlockstore | undefined
  let metricsServer: MetricsServer | undefined

  const stop = async (): Promise<void> => {
    await helia?.stop()
    await blockstore?.close()
    await metricsServer?.close()
  }

  try {
    if (validated.blockstore != null) {
      blockstore = await openBlockstore(validated.blockstore)
    }

    const registry = validated.metricsListen != null ? new Registry() : undefined
    const node = helia = withPreload(localHelia({
      listen: validated.listen.length > 0 ? validated.listen : DEFAULT_NODE_LISTEN,
      webSockets: true,
      blockstore,
      privateKey,
      registry,
      dht: validated.dht
    }), { ...validated.preload, listen: validated.apiListen }) as unknown as PreloadHelia

    try {
      await node.start()
    } catch (err: any) {
      throw new CommandError(`cannot start the node: ${err.message}`, { cause: err })
    }

    if (validated.metricsListen != null && registry != null) {
      metricsServer = await startMetricsServer(parseMetricsListen(validated.metricsListen), registry)
    }
    const metricsUrl = metricsServer?.url
    const api = apiBase(node.preload, 'the API')
    log('node %p listening on %s, API %s', node.libp2p.peerId, node.libp2p.getMultiaddrs().join(', '), api)

    return {
      helia: node,
      identity: {
        peerId: node.libp2p.peerId.toString(),
        source,
        path: loaded?.path,
        created: loaded?.created ?? false
      },
      api,
      blockstore: blockstore?.path,
      metricsUrl,
      options: validated,
      readyEvent: () => ({
        event: 'ready',
        peerId: node.libp2p.peerId.toString(),
        multiaddrs: node.libp2p.getMultiaddrs().map(ma => ma.toString()),
        api,
        metrics: metricsUrl ?? null
      }),
      stop
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

/**
 * Runs `kitsune node` until SIGINT or SIGTERM. Returns the exit code; throws
 * a {@link UsageError} or another error for the caller to report.
 */
export async function runNodeCommand (args: string[], streams?: OutputStreams): Promise<number> {
  return runParsed(await parseNodeArgs(args), nodeUsage, async options => runNode(options, streams), streams)
}

/**
 * Runs a preload node from parsed options until SIGINT or SIGTERM, printing
 * JSON lines or human lines. Returns the exit code.
 */
export async function runNode (options: NodeOptions, streams?: OutputStreams): Promise<number> {
  return runDaemon<RunningNode>({
    command: 'node',
    json: options.json,
    streams,
    log,
    start: async (onWarning) => startNode({ ...options, onWarning }),
    ready: (running, output) => {
      const lines = [
        ...identityLines(running.identity, 'pass --key to keep one'),
        `blockstore   ${running.blockstore ?? 'in memory, lost on exit (pass --blockstore <dir> to keep blocks)'}`
      ]
      lines.forEach(line => { output.info(line) })
      output.emit(running.readyEvent())
    }
  })
}
