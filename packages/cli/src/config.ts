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
import { BITSWAP_PROTOCOLS, DEFAULT_GET_TIMEOUT, DEFAULT_ROUTE_STRATEGY, ROUTE_ALIASES } from './constants.ts'
import { UsageError } from './errors.ts'
import type { FrontDoorLimits, FrontDoorMuxerLimits, RouteInit } from '@kitsune/proxy'
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
 * The limits of a front-door node: `frontDoorConnectionManager()` and
 * `frontDoorMuxerOptions()` of `@kitsune/proxy`
 */
export interface FrontDoorOptions extends FrontDoorLimits, FrontDoorMuxerLimits {}

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
const FRONT_DOOR_KEYS = ['inboundConnectionThreshold', 'maxIncomingPendingConnections', 'maxConnections', 'maxStreamWindowSize'] as const
const POOL_KEYS = ['dialTimeout', 'apiTimeout', 'reconnectInitialDelay', 'reconnectMaxDelay', 'maxConsecutiveFailures'] as const

/**
 * The keys a `--config` file may hold. Each flag's key is its name in
 * camelCase; `frontDoor` and `pool` exist only in the file.
 */
export const CONFIG_KEYS = ['key', 'kuboConfig', 'listen', 'announce', 'downstream', 'downstreamApi', 'route', 'metricsListen', 'json', 'bitswap', 'frontDoor', 'pool'] as const

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
  bitswap: { type: 'boolean' }
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
 * Parses `kitsune proxy` arguments (without the command name) and the config
 * file they name, flags winning over the file, and validates the result
 */
export async function parseProxyArgs (args: string[]): Promise<Parsed<ProxyOptions>> {
  const { values, positionals } = parse('proxy', args, PROXY_FLAGS, true)

  if (values.help === true) {
    return { help: true }
  }
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`, 'proxy')
  }

  const configPath = values.config as string | undefined
  const file = configPath != null ? await readConfigFile(configPath) : {}
  const source = (flag: string, key: string): string => values[flag] != null ? `--${flag}` : `"${key}" in ${configPath}`

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
    pool: file.pool
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
      frontDoor: `"frontDoor" in ${configPath}`,
      pool: `"pool" in ${configPath}`
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
}

interface ConfigFile {
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
}

/**
 * Reads and shape-checks a JSON config file. Relative `key` and `kuboConfig`
 * paths are resolved against the file's directory.
 */
export async function readConfigFile (path: string): Promise<ConfigFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    throw new UsageError(`cannot read config file ${path} (${err.code ?? err.message})`, 'proxy', { cause: err })
  }

  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err: any) {
    throw new UsageError(`config file ${path} is not valid JSON (${oneLine(err.message)})`, 'proxy', { cause: err })
  }

  if (json == null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`config file ${path} must hold a JSON object`, 'proxy')
  }

  const config = json as Record<string, unknown>

  for (const key of Object.keys(config)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new UsageError(`unknown key "${key}" in ${path} (known: ${CONFIG_KEYS.join(', ')})`, 'proxy')
    }
  }

  return shapeConfig(config, path)
}

function shapeConfig (config: Record<string, unknown>, path: string): ConfigFile {
  const where = (key: string): string => `"${key}" in ${path}`
  const out: ConfigFile = {}
  const base = dirname(resolve(path))

  for (const key of ['key', 'kuboConfig'] as const) {
    if (config[key] != null) {
      out[key] = resolve(base, stringValue(config[key], where(key)))
    }
  }
  if (config.metricsListen != null) {
    out.metricsListen = stringValue(config.metricsListen, where('metricsListen'))
  }
  for (const key of ['listen', 'announce', 'downstream', 'downstreamApi'] as const) {
    if (config[key] != null) {
      out[key] = stringList(config[key], where(key))
    }
  }
  for (const key of ['json', 'bitswap'] as const) {
    if (config[key] != null) {
      if (typeof config[key] !== 'boolean') {
        throw new UsageError(`${where(key)} must be true or false`, 'proxy')
      }
      out[key] = config[key]
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

function stringValue (value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`${where} must be a non-empty string`, 'proxy')
  }
  return value
}

function stringList (value: unknown, where: string): string[] {
  const list = Array.isArray(value) ? value : [value]
  return list.map(item => stringValue(item, where))
}

function positiveInteger (value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`${where} must be a positive integer`, 'proxy')
  }
  return value
}

function numberRecord <K extends string> (value: unknown, keys: readonly K[], where: string): Partial<Record<K, number>> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${where} must be an object`, 'proxy')
  }
  const out: Partial<Record<K, number>> = {}
  for (const [key, item] of Object.entries(value)) {
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
    pool: { ...raw.pool }
  }
}

function checkMultiaddr (address: string, where: string): Multiaddr {
  try {
    const ma = multiaddr(address)
    if (address.trim() === '' || ma.getComponents().length === 0) {
      throw new Error('empty address')
    }
    return ma
  } catch (err: any) {
    throw new UsageError(`${where} "${address}" is not a valid multiaddr (${oneLine(err.message)})`, 'proxy')
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
  let url: URL
  try {
    url = new URL(address.startsWith('/') ? multiaddrToUri(address) : address)
  } catch (err: any) {
    throw new UsageError(`${where} "${address}" is not a multiaddr or URL (${oneLine(err.message)})`, 'proxy')
  }
  if (url.protocol !== 'http:' || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new UsageError(`${where} "${address}" must be a TCP address such as /ip4/127.0.0.1/tcp/9090 or http://127.0.0.1:9090`, 'proxy')
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) }
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
