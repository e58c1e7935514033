/**
 * Turns `kitsune` flags and a JSON config file into validated options. Every
 * problem is a {@link UsageError} with a one-line message, so the CLI can
 * exit 2 with a `--help` hint.
 */

import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { apiUrl, builtinStrategies, frontDoorMuxerOptions } from '@kitsune/proxy'
import { multiaddr } from '@multiformats/multiaddr'
import { multiaddrToUri } from '@multiformats/multiaddr-to-uri'
import { CID } from 'multiformats/cid'
import { BITSWAP_PROTOCOLS, DEFAULT_API_LISTEN, DEFAULT_GET_TIMEOUT, DEFAULT_ROUTE_STRATEGY, ROUTE_ALIASES } from './constants.ts'
import { UsageError } from './errors.ts'
import type { PreloadApiInit, WithPreloadInit } from '@kitsune/preload'
import type { FrontDoorLimits, FrontDoorMplexLimits, FrontDoorMuxerLimits, RouteInit } from '@kitsune/proxy'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * One route: protocols bridged to downstreams, the strategy that places
 * them, and optional per-route limits (see `RouteInit` in `@kitsune/proxy`)
 */
export interface RouteOption extends Omit<RouteInit, 'strategy'> {
  /** A built-in strategy name: `sticky`, `least-outstanding` or `hash` */
  strategy: string
}

/**
 * The limits of a front-door node: `frontDoorConnectionManager()`,
 * `frontDoorMuxerOptions()` and `frontDoorMplexOptions()` of `@kitsune/proxy`
 */
export interface FrontDoorOptions extends FrontDoorLimits, FrontDoorMuxerLimits, FrontDoorMplexLimits {}

/**
 * Downstream pool timings (see `DownstreamPoolInit` in `@kitsune/proxy`)
 */
export interface PoolOptions {
  dialTimeout?: number
  apiTimeout?: number
  reconnectInitialDelay?: number
  reconnectMaxDelay?: number
  maxConsecutiveFailures?: number
}

/**
 * The limits of a preload endpoint that a config file may set (see
 * `PreloadApiInit` in `@kitsune/preload`); `listen` comes from
 * `--preload-listen` / `--api-listen`
 */
export type PreloadLimits = Omit<PreloadApiInit, 'listen' | 'codecs'>

/**
 * The `preload` object of a `kitsune proxy` config file: the endpoint's
 * limits, plus how the proxy's preload service picks a downstream and
 * confirms who holds a root (see `ProxyPreloadInit` in `@kitsune/preload`)
 */
export interface ProxyPreloadOptions extends PreloadLimits {
  /** A built-in strategy name: `sticky`, `least-outstanding` or `hash` */
  strategy?: string
  probeTimeout?: number
  maxProbedPeers?: number
}

/**
 * The `preload` object of a `kitsune node` config file: the endpoint's
 * limits, whether fetched roots are pinned, and how many blocks one request
 * fetches at once
 */
export interface NodePreloadOptions extends PreloadLimits {
  pin?: WithPreloadInit['pin']
  fetchConcurrency?: number
}

/**
 * Everything `kitsune proxy` needs, after flags and config file are merged
 * and validated
 */
export interface ProxyOptions {
  /** Identity key file (libp2p protobuf private key), created if missing */
  key?: string
  /** Kubo config file to take `Identity.PrivKey` from */
  kuboConfig?: string
  /** Listen multiaddrs; empty means {@link DEFAULT_LISTEN} */
  listen: string[]
  /** Multiaddrs to announce instead of the listen addresses */
  announce: string[]
  /** Downstream multiaddrs, each ending in `/p2p/<id>` */
  downstreams: string[]
  /** Kubo RPC API addresses of downstreams */
  downstreamApis: string[]
  routes: RouteOption[]
  /** Where to serve Prometheus text (a multiaddr or `http://host:port`) */
  metricsListen?: string
  /** JSON lines on stdout instead of human-readable lines */
  json: boolean
  /** Run the Bitswap forwarder */
  bitswap: boolean
  /** Front-door connection and muxer limits */
  frontDoor: FrontDoorOptions
  /** Downstream pool timings */
  pool: PoolOptions
  /**
   * Where the preload endpoint listens, as `http://host:port`; setting it
   * turns preload mode on (embedded mode turns it on by itself)
   */
  preloadListen?: string
  /** Limits of the preload endpoint */
  preload: ProxyPreloadOptions
}

/**
 * Everything `kitsune node` needs, after flags and config file are merged
 * and validated
 */
export interface NodeOptions {
  /** Listen multiaddrs (TCP or WebSockets); empty means {@link DEFAULT_NODE_LISTEN} */
  listen: string[]
  /** Where the HTTP API listens, as `http://host:port` */
  apiListen: string
  /** Directory of the on-disk blockstore; in memory when unset */
  blockstore?: string
  /** Identity key file, created if missing; a new key each run when unset */
  key?: string
  /** Where to serve Prometheus text (a multiaddr or `http://host:port`) */
  metricsListen?: string
  /** JSON lines on stdout instead of human-readable lines */
  json: boolean
  /** Run DHT servers (`/ipfs/kad/1.0.0` and `/ipfs/lan/kad/1.0.0`) */
  dht: boolean
  /** Limits of the preload endpoint */
  preload: NodePreloadOptions
}

/**
 * What `kitsune get` needs
 */
export interface GetOptions {
  cid: CID
  peer: Multiaddr
  output?: string
  timeout: number
}

/**
 * The result of parsing a command line: either the options, or a request
 * for help
 */
export type Parsed<T> = { help: true } | { help: false, options: T }

const ROUTE_LIMIT_KEYS = ['maxStreamsPerPeer', 'maxStreamsPerDownstream', 'idleTimeout', 'setupTimeout', 'maxSetupAttempts', 'maxBufferedBytes'] as const
const FRONT_DOOR_KEYS = ['inboundConnectionThreshold', 'maxIncomingPendingConnections', 'maxConnections', 'maxStreamWindowSize', 'mplexNewStreamsPerSecond', 'mplexMaxMessageSize', 'mplexMaxUnprocessedBytes'] as const
const POOL_KEYS = ['dialTimeout', 'apiTimeout', 'reconnectInitialDelay', 'reconnectMaxDelay', 'maxConsecutiveFailures'] as const
const PRELOAD_NUMBER_KEYS = ['rateLimit', 'rateLimitInterval', 'maxConcurrentRequests', 'maxConcurrentRequestsPerAddress', 'maxBodySize', 'maxQuerySize', 'maxArgs', 'maxDagBlocks', 'maxDagBytes', 'requestTimeout'] as const satisfies ReadonlyArray<keyof PreloadLimits>
const PROXY_PRELOAD_NUMBER_KEYS = [...PRELOAD_NUMBER_KEYS, 'probeTimeout', 'maxProbedPeers'] as const
const NODE_PRELOAD_NUMBER_KEYS = [...PRELOAD_NUMBER_KEYS, 'fetchConcurrency'] as const

/**
 * The keys a `kitsune proxy` `--config` file may hold. Each flag's key is its
 * name in camelCase; `frontDoor`, `pool` and `preload` exist only in the
 * file.
 */
export const CONFIG_KEYS = ['key', 'kuboConfig', 'listen', 'announce', 'downstream', 'downstreamApi', 'route', 'metricsListen', 'json', 'bitswap', 'frontDoor', 'pool', 'preloadListen', 'preload'] as const

/**
 * The keys a `kitsune node` `--config` file may hold. Each flag's key is its
 * name in camelCase; `preload` exists only in the file.
 */
export const NODE_CONFIG_KEYS = ['listen', 'apiListen', 'blockstore', 'key', 'metricsListen', 'json', 'dht', 'preload'] as const

/**
 * The `preload` keys of a `kitsune proxy` config file
 */
export const PROXY_PRELOAD_KEYS = [...PROXY_PRELOAD_NUMBER_KEYS, 'cors', 'trustedProxies', 'strategy'] as const

/**
 * The `preload` keys of a `kitsune node` config file
 */
export const NODE_PRELOAD_KEYS = [...NODE_PRELOAD_NUMBER_KEYS, 'cors', 'trustedProxies', 'pin'] as const

/**
 * The commands that read a config file
 */
export type ConfigCommand = 'proxy' | 'node'

const PROXY_FLAGS: FlagSpec = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string', short: 'c' },
  key: { type: 'string' },
  'kubo-config': { type: 'string' },
  listen: { type: 'string', multiple: true },
  announce: { type: 'string', multiple: true },
  downstream: { type: 'string', multiple: true },
  'downstream-api': { type: 'string', multiple: true },
  route: { type: 'string', multiple: true },
  'metrics-listen': { type: 'string' },
  json: { type: 'boolean' },
  bitswap: { type: 'boolean' },
  'preload-listen': { type: 'string' }
}

const NODE_FLAGS: FlagSpec = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string', short: 'c' },
  listen: { type: 'string', multiple: true },
  'api-listen': { type: 'string' },
  blockstore: { type: 'string' },
  key: { type: 'string' },
  'metrics-listen': { type: 'string' },
  json: { type: 'boolean' },
  dht: { type: 'boolean' }
}

const GET_FLAGS: FlagSpec = {
  help: { type: 'boolean', short: 'h' },
  peer: { type: 'string', short: 'p' },
  output: { type: 'string', short: 'o' },
  timeout: { type: 'string', short: 't' }
}

type FlagSpec = Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }>

interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

/**
 * Wraps `util.parseArgs`, turning its errors into one-line usage errors
 */
function parse (command: string, args: string[], options: FlagSpec, allowPositionals: boolean): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals, allowNegative: true, strict: true })
    return { values: values as ParsedFlags['values'], positionals }
  } catch (err: any) {
    // keep the first sentence: "Unknown option '--foo'." without node's advice on '--'
    const message = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? oneLine(err.message).replace(/\. .*$/, '') : oneLine(err.message)
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1), command)
  }
}

function oneLine (text: string): string {
  return text.split('\n').map(line => line.trim()).filter(Boolean).join(' ')
}

/**
 * A daemon's command line, parsed, with the `--config` file it names, if
 * any, and where each option came from: `--flag` or `"key" in <file>`
 */
interface DaemonArgs {
  help: false
  values: ParsedFlags['values']
  file: ConfigFile
  source(flag: string, key: string): string
  inFile(key: string): string
}

/**
 * Parses a daemon's flags and reads the config file they name
 */
async function parseDaemonArgs (command: ConfigCommand, args: string[], flags: FlagSpec): Promise<{ help: true } | DaemonArgs> {
  const { values, positionals } = parse(command, args, flags, true)

  if (values.help === true) {
    return { help: true }
  }
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`, command)
  }

  const configPath = values.config as string | undefined
  const file = configPath != null ? await readConfigFile(configPath, command) : {}
  const inFile = (key: string): string => `"${key}" in ${configPath}`
  return {
    help: false,
    values,
    file,
    source: (flag, key) => values[flag] != null ? `--${flag}` : inFile(key),
    inFile
  }
}

/**
 * Parses `kitsune proxy` arguments (without the command name) and the config
 * file they name, flags winning over the file, and validates the result
 */
export async function parseProxyArgs (args: string[]): Promise<Parsed<ProxyOptions>> {
  const parsed = await parseDaemonArgs('proxy', args, PROXY_FLAGS)
  if (parsed.help) {
    return parsed
  }
  const { values, file, source, inFile } = parsed

  const merged: Partial<RawProxyOptions> = {
    key: (values.key as string | undefined) ?? file.key,
    kuboConfig: (values['kubo-config'] as string | undefined) ?? file.kuboConfig,
    listen: (values.listen as string[] | undefined) ?? file.listen,
    announce: (values.announce as string[] | undefined) ?? file.announce,
    downstreams: (values.downstream as string[] | undefined) ?? file.downstream,
    downstreamApis: (values['downstream-api'] as string[] | undefined) ?? file.downstreamApi,
    routes: (values.route as string[] | undefined) ?? file.route,
    metricsListen: (values['metrics-listen'] as string | undefined) ?? file.metricsListen,
    json: (values.json as boolean | undefined) ?? file.json,
    bitswap: (values.bitswap as boolean | undefined) ?? file.bitswap,
    frontDoor: file.frontDoor,
    pool: file.pool,
    preloadListen: (values['preload-listen'] as string | undefined) ?? file.preloadListen,
    preload: file.preload
  }

  return {
    help: false,
    options: validateProxyOptions(merged, {
      key: source('key', 'key'),
      kuboConfig: source('kubo-config', 'kuboConfig'),
      listen: source('listen', 'listen'),
      announce: source('announce', 'announce'),
      downstreams: source('downstream', 'downstream'),
      downstreamApis: source('downstream-api', 'downstreamApi'),
      routes: source('route', 'route'),
      metricsListen: source('metrics-listen', 'metricsListen'),
      bitswap: values.bitswap != null ? '--no-bitswap' : inFile('bitswap'),
      frontDoor: inFile('frontDoor'),
      pool: inFile('pool'),
      preloadListen: source('preload-listen', 'preloadListen'),
      preload: inFile('preload')
    })
  }
}

/**
 * Parses `kitsune node` arguments (without the command name) and the config
 * file they name, flags winning over the file, and validates the result
 */
export async function parseNodeArgs (args: string[]): Promise<Parsed<NodeOptions>> {
  const parsed = await parseDaemonArgs('node', args, NODE_FLAGS)
  if (parsed.help) {
    return parsed
  }
  const { values, file, source, inFile } = parsed

  return {
    help: false,
    options: validateNodeOptions({
      listen: (values.listen as string[] | undefined) ?? file.listen,
      apiListen: (values['api-listen'] as string | undefined) ?? file.apiListen,
      blockstore: (values.blockstore as string | undefined) ?? file.blockstore,
      key: (values.key as string | undefined) ?? file.key,
      metricsListen: (values['metrics-listen'] as string | undefined) ?? file.metricsListen,
      json: (values.json as boolean | undefined) ?? file.json,
      dht: (values.dht as boolean | undefined) ?? file.dht,
      preload: file.preload
    }, {
      listen: source('listen', 'listen'),
      apiListen: source('api-listen', 'apiListen'),
      metricsListen: source('metrics-listen', 'metricsListen'),
      preload: inFile('preload')
    })
  }
}

/**
 * Options as a caller or a config file may give them, before validation
 */
export interface RawProxyOptions {
  key?: string
  kuboConfig?: string
  listen?: string[]
  announce?: string[]
  downstreams?: string[]
  downstreamApis?: string[]
  /** `"<protocol>[=<strategy>]"` strings or route objects */
  routes?: Array<string | Partial<RouteOption>>
  metricsListen?: string
  json?: boolean
  bitswap?: boolean
  frontDoor?: FrontDoorOptions
  pool?: PoolOptions
  /** A multiaddr or `http://host:port`; turns preload mode on */
  preloadListen?: string
  preload?: ProxyPreloadOptions
}

/**
 * `kitsune node` options as a caller or a config file may give them, before
 * validation
 */
export interface RawNodeOptions {
  listen?: string[]
  /** A multiaddr or `http://host:port` */
  apiListen?: string
  blockstore?: string
  key?: string
  metricsListen?: string
  json?: boolean
  dht?: boolean
  preload?: NodePreloadOptions
}

/**
 * A config file after its shape is checked: the keys of
 * {@link CONFIG_KEYS} or {@link NODE_CONFIG_KEYS}
 */
export interface ConfigFile {
  key?: string
  kuboConfig?: string
  listen?: string[]
  announce?: string[]
  downstream?: string[]
  downstreamApi?: string[]
  route?: Array<string | Partial<RouteOption>>
  metricsListen?: string
  json?: boolean
  bitswap?: boolean
  frontDoor?: FrontDoorOptions
  pool?: PoolOptions
  preloadListen?: string
  apiListen?: string
  blockstore?: string
  dht?: boolean
  preload?: ProxyPreloadOptions & NodePreloadOptions
}

/**
 * Reads and shape-checks a JSON config file of `kitsune proxy` (or of
 * `kitsune node`). Relative `key`, `kuboConfig` and `blockstore` paths are
 * resolved against the file's directory.
 */
export async function readConfigFile (path: string, command: ConfigCommand = 'proxy'): Promise<ConfigFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    throw new UsageError(`cannot read config file ${path} (${err.code ?? err.message})`, command, { cause: err })
  }

  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err: any) {
    throw new UsageError(`config file ${path} is not valid JSON (${oneLine(err.message)})`, command, { cause: err })
  }

  if (json == null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`config file ${path} must hold a JSON object`, command)
  }

  const config = json as Record<string, unknown>
  const known: readonly string[] = command === 'node' ? NODE_CONFIG_KEYS : CONFIG_KEYS

  for (const key of Object.keys(config)) {
    if (!known.includes(key)) {
      throw new UsageError(`unknown key "${key}" in ${path} (known: ${known.join(', ')})`, command)
    }
  }

  return shapeConfig(config, path, command)
}

function shapeConfig (config: Record<string, unknown>, path: string, command: ConfigCommand): ConfigFile {
  const where = (key: string): string => `"${key}" in ${path}`
  const out: ConfigFile = {}
  const base = dirname(resolve(path))

  for (const key of ['key', 'kuboConfig', 'blockstore'] as const) {
    if (config[key] != null) {
      out[key] = resolve(base, stringValue(config[key], where(key), command))
    }
  }
  for (const key of ['metricsListen', 'preloadListen', 'apiListen'] as const) {
    if (config[key] != null) {
      out[key] = stringValue(config[key], where(key), command)
    }
  }
  for (const key of ['listen', 'announce', 'downstream', 'downstreamApi'] as const) {
    if (config[key] != null) {
      out[key] = stringList(config[key], where(key), command)
    }
  }
  for (const key of ['json', 'bitswap', 'dht'] as const) {
    if (config[key] != null) {
      out[key] = booleanValue(config[key], where(key), command)
    }
  }
  if (config.route != null) {
    out.route = routeList(config.route, where('route'))
  }
  if (config.frontDoor != null) {
    out.frontDoor = numberRecord(config.frontDoor, FRONT_DOOR_KEYS, where('frontDoor'))
  }
  if (config.pool != null) {
    out.pool = numberRecord(config.pool, POOL_KEYS, where('pool'))
  }
  if (config.preload != null) {
    out.preload = preloadRecord(config.preload, command, where('preload'))
  }

  return out
}

/**
 * Shape-checks the `preload` object of a config file
 */
function preloadRecord (value: unknown, command: ConfigCommand, where: string): ProxyPreloadOptions & NodePreloadOptions {
  const keys: readonly string[] = command === 'node' ? NODE_PRELOAD_KEYS : PROXY_PRELOAD_KEYS
  const numberKeys: readonly string[] = command === 'node' ? NODE_PRELOAD_NUMBER_KEYS : PROXY_PRELOAD_NUMBER_KEYS
  const record = objectValue(value, where, command)
  const out: Record<string, unknown> = {}

  for (const [key, item] of Object.entries(record)) {
    const at = `${where}.${key}`
    if (!keys.includes(key)) {
      throw new UsageError(`unknown key "${key}" in ${where} (known: ${keys.join(', ')})`, command)
    }
    if (numberKeys.includes(key)) {
      out[key] = positiveInteger(item, at, command)
    } else if (key === 'cors') {
      if (item !== '*' && item !== false && !(Array.isArray(item) && item.length > 0 && item.every(origin => typeof origin === 'string' && origin !== ''))) {
        throw new UsageError(`${at} must be "*", false, or a list of origins`, command)
      }
      out[key] = Array.isArray(item) ? [...item] : item
    } else if (key === 'trustedProxies') {
      if (!Array.isArray(item)) {
        throw new UsageError(`${at} must be a list of addresses`, command)
      }
      out[key] = item.map(address => stringValue(address, at, command))
    } else if (key === 'strategy') {
      const strategy = stringValue(item, at, command)
      if (builtinStrategies[strategy] == null) {
        throw new UsageError(`${at}: unknown strategy "${strategy}" (known: ${Object.keys(builtinStrategies).join(', ')})`, command)
      }
      out[key] = strategy
    } else {
      out[key] = booleanValue(item, at, command)
    }
  }

  return out
}

function routeList (value: unknown, where: string): Array<string | Partial<RouteOption>> {
  const routes = Array.isArray(value) ? value : [value]
  return routes.map((route, i) => {
    if (typeof route === 'string') {
      return route
    }
    if (route == null || typeof route !== 'object' || Array.isArray(route)) {
      throw new UsageError(`${where}[${i}] must be "<protocol>[=<strategy>]" or an object`, 'proxy')
    }
    return route
  })
}

function stringValue (value: unknown, where: string, command: ConfigCommand = 'proxy'): string {
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`${where} must be a non-empty string`, command)
  }
  return value
}

function stringList (value: unknown, where: string, command: ConfigCommand = 'proxy'): string[] {
  const list = Array.isArray(value) ? value : [value]
  return list.map(item => stringValue(item, where, command))
}

function booleanValue (value: unknown, where: string, command: ConfigCommand = 'proxy'): boolean {
  if (typeof value !== 'boolean') {
    throw new UsageError(`${where} must be true or false`, command)
  }
  return value
}

function positiveInteger (value: unknown, where: string, command: ConfigCommand = 'proxy'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`${where} must be a positive integer`, command)
  }
  return value
}

function objectValue (value: unknown, where: string, command: ConfigCommand = 'proxy'): Record<string, unknown> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${where} must be an object`, command)
  }
  return value as Record<string, unknown>
}

function numberRecord <K extends string> (value: unknown, keys: readonly K[], where: string): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {}
  for (const [key, item] of Object.entries(objectValue(value, where))) {
    if (!(keys as readonly string[]).includes(key)) {
      throw new UsageError(`unknown key "${key}" in ${where} (known: ${keys.join(', ')})`, 'proxy')
    }
    out[key as K] = positiveInteger(item, `${where}.${key}`)
  }
  return out
}

/**
 * Where each option came from, for error messages
 */
export type OptionSources = Partial<Record<keyof RawProxyOptions, string>>

/**
 * Validates options, from the command line or from code, and fills in
 * defaults. Throws a {@link UsageError} naming the bad value.
 */
export function validateProxyOptions (raw: RawProxyOptions, sources: OptionSources = {}): ProxyOptions {
  const from = (key: keyof RawProxyOptions): string => sources[key] ?? key

  if (raw.key != null && raw.kuboConfig != null) {
    throw new UsageError(`${from('key')} and ${from('kuboConfig')} both name an identity; give one`, 'proxy')
  }

  const listen = (raw.listen ?? []).map(address => checkMultiaddr(address, from('listen')).toString())
  const announce = (raw.announce ?? []).map(address => checkMultiaddr(address, from('announce')).toString())

  const downstreams = (raw.downstreams ?? []).map(address => {
    const ma = checkMultiaddr(address, from('downstreams'))
    if (ma.getComponents().at(-1)?.name !== 'p2p') {
      throw new UsageError(`${from('downstreams')} "${address}" must end in /p2p/<peer id>`, 'proxy')
    }
    return ma.toString()
  })

  const downstreamApis = (raw.downstreamApis ?? []).map(address => {
    try {
      apiUrl(address)
    } catch (err: any) {
      throw new UsageError(`${from('downstreamApis')} ${oneLine(err.message)}`, 'proxy')
    }
    return address
  })

  const bitswap = raw.bitswap ?? true
  const routes = (raw.routes ?? []).map(route => parseRoute(route, from('routes')))
  const seen = new Set<string>()
  for (const route of routes) {
    for (const protocol of route.protocols) {
      if (seen.has(protocol)) {
        throw new UsageError(`${from('routes')} names ${protocol} twice; a protocol can have one route`, 'proxy')
      }
      seen.add(protocol)
      if (bitswap && BITSWAP_PROTOCOLS.includes(protocol)) {
        throw new UsageError(`${from('routes')} ${protocol}: Bitswap cannot be bridged as a stream and is handled by the Bitswap forwarder; drop the route, or pass --no-bitswap`, 'proxy')
      }
    }
  }

  // a paused bridge may hold one receive window per stream
  const window = frontDoorMuxerOptions(raw.frontDoor).streamOptions.maxStreamWindowSize
  for (const route of routes) {
    if (route.maxBufferedBytes != null && route.maxBufferedBytes < window) {
      throw new UsageError(`${from('routes')} ${route.protocols.join(',')}: maxBufferedBytes (${route.maxBufferedBytes}) must be at least the stream window (${window}, frontDoor.maxStreamWindowSize)`, 'proxy')
    }
  }

  let metricsListen: string | undefined
  if (raw.metricsListen != null) {
    parseMetricsListen(raw.metricsListen, from('metricsListen'))
    metricsListen = raw.metricsListen
  }

  const preloadListen = validatePreloadListen(raw.preloadListen, bitswap, from)

  return {
    key: raw.key,
    kuboConfig: raw.kuboConfig,
    listen,
    announce,
    downstreams,
    downstreamApis,
    routes,
    metricsListen,
    json: raw.json ?? false,
    bitswap,
    frontDoor: { ...raw.frontDoor },
    pool: { ...raw.pool },
    preloadListen,
    preload: { ...raw.preload }
  }
}

/**
 * `--preload-listen` as the `http://host:port` URL the preload endpoint is
 * given; the endpoint needs the Bitswap forwarder
 */
function validatePreloadListen (address: string | undefined, bitswap: boolean, from: (key: keyof RawProxyOptions) => string): string | undefined {
  if (address == null) {
    return undefined
  }
  const url = httpListenUrl(address, from('preloadListen'), 'proxy')
  if (!bitswap) {
    throw new UsageError(`${from('preloadListen')} needs the Bitswap forwarder, which ${from('bitswap')} turns off`, 'proxy')
  }
  return url
}

/**
 * Where each `kitsune node` option came from, for error messages
 */
export type NodeOptionSources = Partial<Record<keyof RawNodeOptions, string>>

/**
 * Validates `kitsune node` options, from the command line or from code, and
 * fills in defaults. Throws a {@link UsageError} naming the bad value.
 */
export function validateNodeOptions (raw: RawNodeOptions, sources: NodeOptionSources = {}): NodeOptions {
  const from = (key: keyof RawNodeOptions): string => sources[key] ?? key

  const listen = (raw.listen ?? []).map(address => checkMultiaddr(address, from('listen'), 'node').toString())
  const apiListen = httpListenUrl(raw.apiListen ?? DEFAULT_API_LISTEN, from('apiListen'), 'node')
  if (raw.metricsListen != null) {
    parseHttpListen(raw.metricsListen, from('metricsListen'), 'node')
  }

  return {
    listen,
    apiListen,
    blockstore: raw.blockstore,
    key: raw.key,
    metricsListen: raw.metricsListen,
    json: raw.json ?? false,
    dht: raw.dht ?? false,
    preload: { ...raw.preload }
  }
}

function checkMultiaddr (address: string, where: string, command: ConfigCommand = 'proxy'): Multiaddr {
  try {
    const ma = multiaddr(address)
    if (address.trim() === '' || ma.getComponents().length === 0) {
      throw new Error('empty address')
    }
    return ma
  } catch (err: any) {
    throw new UsageError(`${where} "${address}" is not a valid multiaddr (${oneLine(err.message)})`, command)
  }
}

/**
 * Parses `<protocol>[=<strategy>]` (or a route object from a config file).
 * `dht` stands for the DHT protocols.
 */
export function parseRoute (route: string | Partial<RouteOption>, where = '--route'): RouteOption {
  let out: RouteOption

  if (typeof route === 'string') {
    const at = route.lastIndexOf('=')
    const protocol = (at === -1 ? route : route.slice(0, at)).trim()
    const strategy = (at === -1 ? DEFAULT_ROUTE_STRATEGY : route.slice(at + 1)).trim()
    out = { protocols: [protocol], strategy }
  } else {
    const protocols = route.protocols
    if (!Array.isArray(protocols) || protocols.length === 0 || protocols.some(p => typeof p !== 'string')) {
      throw new UsageError(`${where}: a route object needs "protocols", a non-empty array of protocol ids`, 'proxy')
    }
    for (const key of Object.keys(route)) {
      if (key !== 'protocols' && key !== 'strategy' && !(ROUTE_LIMIT_KEYS as readonly string[]).includes(key)) {
        throw new UsageError(`${where}: unknown route key "${key}" (known: protocols, strategy, ${ROUTE_LIMIT_KEYS.join(', ')})`, 'proxy')
      }
    }
    if (route.strategy != null && typeof route.strategy !== 'string') {
      throw new UsageError(`${where}: a route's "strategy" must be a strategy name`, 'proxy')
    }
    out = { protocols: [...protocols], strategy: route.strategy ?? DEFAULT_ROUTE_STRATEGY }
    for (const key of ROUTE_LIMIT_KEYS) {
      if (route[key] != null) {
        out[key] = positiveInteger(route[key], `${where}: route "${key}"`)
      }
    }
  }

  out.protocols = out.protocols.flatMap(protocol => {
    const alias = ROUTE_ALIASES[protocol]
    if (alias != null) {
      return alias
    }
    if (!protocol.startsWith('/') || protocol.length < 2 || /\s/.test(protocol)) {
      throw new UsageError(`${where} "${protocol}" is not a protocol id (like /my-app/1.0.0) or one of: ${Object.keys(ROUTE_ALIASES).join(', ')}`, 'proxy')
    }
    return [protocol]
  })

  if (builtinStrategies[out.strategy] == null) {
    throw new UsageError(`${where} "${out.protocols.join(',')}": unknown strategy "${out.strategy}" (known: ${Object.keys(builtinStrategies).join(', ')})`, 'proxy')
  }

  return out
}

/**
 * Where the metrics endpoint listens
 */
export interface MetricsAddress {
  host: string
  port: number
}

/**
 * Parses `--metrics-listen`: a multiaddr such as `/ip4/127.0.0.1/tcp/9090`
 * (optionally ending in `/http`) or an `http://host:port` URL
 */
export function parseMetricsListen (address: string, where = '--metrics-listen'): MetricsAddress {
  return parseHttpListen(address, where, 'proxy')
}

/**
 * Parses where an HTTP server listens (`--metrics-listen`,
 * `--preload-listen`, `--api-listen`): a TCP multiaddr, optionally ending in
 * `/http`, or an `http://host:port` URL
 */
function parseHttpListen (address: string, where: string, command: ConfigCommand): MetricsAddress {
  let url: URL
  try {
    url = new URL(address.startsWith('/') ? multiaddrToUri(address) : address)
  } catch (err: any) {
    throw new UsageError(`${where} "${address}" is not a multiaddr or URL (${oneLine(err.message)})`, command)
  }
  if (url.protocol !== 'http:' || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new UsageError(`${where} "${address}" must be a TCP address such as /ip4/127.0.0.1/tcp/<port> or http://127.0.0.1:<port>`, command)
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) }
}

/**
 * {@link parseHttpListen}, as the `http://host:port` URL the preload
 * endpoint is given
 */
function httpListenUrl (address: string, where: string, command: ConfigCommand): string {
  const { host, port } = parseHttpListen(address, where, command)
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Parses `kitsune get` arguments (without the command name)
 */
export function parseGetArgs (args: string[]): Parsed<GetOptions> {
  const { values, positionals } = parse('get', args, GET_FLAGS, true)

  if (values.help === true) {
    return { help: true }
  }
  if (positionals.length === 0) {
    throw new UsageError('missing <cid>', 'get')
  }
  if (positionals.length > 1) {
    throw new UsageError(`unexpected argument "${positionals[1]}"`, 'get')
  }

  let cid: CID
  try {
    cid = CID.parse(positionals[0])
  } catch (err: any) {
    throw new UsageError(`"${positionals[0]}" is not a CID (${oneLine(err.message)})`, 'get')
  }

  const peerText = values.peer as string | undefined
  if (peerText == null) {
    throw new UsageError('missing --peer <multiaddr>', 'get')
  }
  let peer: Multiaddr
  try {
    peer = multiaddr(peerText)
  } catch (err: any) {
    throw new UsageError(`--peer "${peerText}" is not a valid multiaddr (${oneLine(err.message)})`, 'get')
  }

  let timeout = DEFAULT_GET_TIMEOUT
  if (values.timeout != null) {
    timeout = Number(values.timeout)
    if (!/^\d+$/.test(String(values.timeout)) || !Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new UsageError(`--timeout "${String(values.timeout)}" must be a positive number of milliseconds`, 'get')
    }
  }

  return {
    help: false,
    options: {
      cid,
      peer,
      output: values.output as string | undefined,
      timeout
    }
  }
}
