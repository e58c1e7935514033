/**
 * Turns `kitsune` flags and a JSON config file into validated options, for
 * the commands and for code. The options themselves are declared once, in
 * `schema/` (one schema per command); `args.ts` parses and merges, `help.ts`
 * renders `--help`. Every problem is a {@link UsageError} with a one-line
 * message, so the CLI can exit 2 with a `--help` hint.
 */

import { parseCommandArgs, parseCommandArgsSync, readConfigFile as readFile, validateOptions } from './args.ts'
import { UsageError } from './errors.ts'
import { parseMetricsListen as parseListen } from './schema/addresses.ts'
import { fileKeys } from './schema/fields.ts'
import { getCommand } from './schema/get.ts'
import { nodeCommand } from './schema/node.ts'
import { nodePreload, proxyPreload } from './schema/preload.ts'
import { proxyCommand } from './schema/proxy.ts'
import { route as routeSchema } from './schema/route.ts'
import type { Parsed } from './args.ts'
import type { MetricsAddress } from './schema/addresses.ts'
import type { GetOptions } from './schema/get.ts'
import type { NodeOptions, RawNodeOptions } from './schema/node.ts'
import type { ProxyOptions, RawProxyOptions } from './schema/proxy.ts'
import type { RouteObject, RouteOption } from './schema/route.ts'

export type { Parsed } from './args.ts'
export type { MetricsAddress } from './schema/addresses.ts'
export type { GetOptions } from './schema/get.ts'
export type { NodeOptions, RawNodeOptions } from './schema/node.ts'
export type { NodePreloadOptions, PreloadLimits, ProxyPreloadOptions } from './schema/preload.ts'
export type { FrontDoorOptions, PoolOptions, ProxyOptions, RawProxyOptions } from './schema/proxy.ts'
export type { RouteObject, RouteOption } from './schema/route.ts'

/**
 * The commands that read a config file
 */
export type ConfigCommand = 'proxy' | 'node'

/**
 * The keys a `kitsune proxy` `--config` file may hold. Each flag's key is its
 * name in camelCase; `frontDoor`, `pool` and `preload` exist only in the
 * file.
 */
export const CONFIG_KEYS = fileKeys(proxyCommand.options.shape)

/**
 * The keys a `kitsune node` `--config` file may hold. Each flag's key is its
 * name in camelCase; `preload` exists only in the file.
 */
export const NODE_CONFIG_KEYS = fileKeys(nodeCommand.options.shape)

/**
 * The `preload` keys of a `kitsune proxy` config file
 */
export const PROXY_PRELOAD_KEYS = Object.keys(proxyPreload.def.innerType.shape)

/**
 * The `preload` keys of a `kitsune node` config file
 */
export const NODE_PRELOAD_KEYS = Object.keys(nodePreload.def.innerType.shape)

/**
 * A config file, after its values are checked, by config key (as given,
 * with relative paths resolved against the file's directory)
 */
export type ConfigFile = Record<string, unknown>

/**
 * Where each option came from, for error messages
 */
export type OptionSources = Partial<Record<keyof RawProxyOptions, string>>

/**
 * Where each `kitsune node` option came from, for error messages
 */
export type NodeOptionSources = Partial<Record<keyof RawNodeOptions, string>>

/**
 * Parses `kitsune proxy` arguments (without the command name) and the config
 * file they name, flags winning over the file, and validates the result
 */
export async function parseProxyArgs (args: string[]): Promise<Parsed<ProxyOptions>> {
  return parseCommandArgs(proxyCommand, args)
}

/**
 * Parses `kitsune node` arguments (without the command name) and the config
 * file they name, flags winning over the file, and validates the result
 */
export async function parseNodeArgs (args: string[]): Promise<Parsed<NodeOptions>> {
  return parseCommandArgs(nodeCommand, args)
}

/**
 * Parses `kitsune get` arguments (without the command name)
 */
export function parseGetArgs (args: string[]): Parsed<GetOptions> {
  return parseCommandArgsSync(getCommand, args)
}

/**
 * Reads and checks a JSON config file of `kitsune proxy` (or of
 * `kitsune node`). Relative `key`, `kuboConfig` and `blockstore` paths are
 * resolved against the file's directory.
 */
export async function readConfigFile (path: string, command: ConfigCommand = 'proxy'): Promise<ConfigFile> {
  return readFile(command === 'node' ? nodeCommand : proxyCommand, path)
}

/**
 * Validates `kitsune proxy` options, from the command line or from code, and
 * fills in defaults. Throws a {@link UsageError} naming the bad value.
 */
export function validateProxyOptions (raw: RawProxyOptions, sources: OptionSources = {}): ProxyOptions {
  return validateOptions(proxyCommand, raw, sources)
}

/**
 * Validates `kitsune node` options, from the command line or from code, and
 * fills in defaults. Throws a {@link UsageError} naming the bad value.
 */
export function validateNodeOptions (raw: RawNodeOptions, sources: NodeOptionSources = {}): NodeOptions {
  return validateOptions(nodeCommand, raw, sources)
}

/**
 * Parses `<protocol>[=<strategy>]` (or a route object from a config file).
 * `dht` stands for the DHT protocols.
 */
export function parseRoute (route: string | RouteObject, where = '--route'): RouteOption {
  const result = routeSchema.safeParse(route)
  if (!result.success) {
    const issue = result.error.issues[0]
    const path = issue.path.map(segment => `.${String(segment)}`).join('')
    throw new UsageError(`${where}${path}${issue.message.startsWith(':') ? '' : ' '}${issue.message}`, 'proxy')
  }
  return result.data
}

/**
 * Parses `--metrics-listen`: a multiaddr such as `/ip4/127.0.0.1/tcp/9090`
 * (optionally ending in `/http`) or an `http://host:port` URL
 */
export function parseMetricsListen (address: string, where = '--metrics-listen'): MetricsAddress {
  try {
    return parseListen(address, where)
  } catch (err: any) {
    throw new UsageError(err.message, 'proxy')
  }
}
