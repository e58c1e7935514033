/**
 * A `kitsune proxy` route: `--route <protocol>[=<strategy>]`, or a route
 * object in the config file with the limits of `RouteInit` in
 * `@kitsune/proxy`
 */

import { builtinStrategies } from '@kitsune/proxy'
import * as z from 'zod'
import { DEFAULT_ROUTE_STRATEGY, ROUTE_ALIASES } from '../constants.ts'
import { integer, ms, objectError, optionInfo, parsed } from './fields.ts'

/**
 * A built-in strategy name of `@kitsune/proxy`
 */
export function checkStrategy (strategy: string): string {
  if (builtinStrategies[strategy] == null) {
    throw new Error(`: unknown strategy "${strategy}" (known: ${Object.keys(builtinStrategies).join(', ')})`)
  }
  return strategy
}

/**
 * A strategy name in a config file
 */
export function strategy (help: string, defaultValue: string): z.ZodOptional<z.ZodType<string, string>> {
  const schema = parsed(checkStrategy).optional()
  schema.register(optionInfo, { kind: 'string', help, default: defaultValue })
  return schema
}

const protocols = z.array(z.string({ error: 'must be a protocol id' }), { error: 'must be a non-empty array of protocol ids' })
  .min(1, { error: 'must be a non-empty array of protocol ids' })
protocols.register(optionInfo, { kind: 'list', help: 'protocol ids, or dht', defaultText: '(required)' })

const routeKeys = {
  protocols,
  strategy: z.string({ error: 'must be a strategy name' }).optional().register(optionInfo, { kind: 'string', help: 'sticky, least-outstanding or hash', default: DEFAULT_ROUTE_STRATEGY }),
  maxStreamsPerPeer: integer({ help: 'concurrent streams one upstream peer may have open on the route', default: 32 }),
  maxStreamsPerDownstream: integer({ help: 'concurrent streams the proxy opens on one downstream connection per protocol', default: 4096 }),
  idleTimeout: ms({ help: 'reset a bridge after this many ms without data', default: 60_000 }),
  setupTimeout: ms({ help: 'how long opening the downstream stream may take, per attempt (ms)', default: 10_000 }),
  maxSetupAttempts: integer({ help: 'downstreams tried before the upstream stream is reset', default: 3 }),
  maxBufferedBytes: integer({ help: 'bytes one side of a bridge may buffer while the other drains; at least frontDoor.maxStreamWindowSize', default: 4 * 1024 * 1024 })
}

/**
 * The keys of a route object (`RouteInit` of `@kitsune/proxy`)
 */
export const routeObject = z.strictObject(routeKeys, { error: objectError(routeKeys, 'must be "<protocol>[=<strategy>]" or a route object') })

/**
 * A route object as a config file or a caller gives it
 */
export type RouteObject = z.input<typeof routeObject>

/**
 * One route: protocols bridged to downstreams, the strategy that places
 * them, and optional per-route limits (see `RouteInit` in `@kitsune/proxy`)
 */
export type RouteOption = Omit<z.output<typeof routeObject>, 'strategy'> & {
  /** A built-in strategy name: `sticky`, `least-outstanding` or `hash` */
  strategy: string
}

/**
 * `<protocol>[=<strategy>]`, or a checked route object, as a route with its
 * aliases expanded and its strategy checked
 */
export function toRoute (route: string | z.output<typeof routeObject>): RouteOption {
  let out: RouteOption

  if (typeof route === 'string') {
    const at = route.lastIndexOf('=')
    const protocol = (at === -1 ? route : route.slice(0, at)).trim()
    const strategy = (at === -1 ? DEFAULT_ROUTE_STRATEGY : route.slice(at + 1)).trim()
    out = { protocols: [protocol], strategy }
  } else {
    out = { ...route, protocols: [...route.protocols], strategy: route.strategy ?? DEFAULT_ROUTE_STRATEGY }
  }

  out.protocols = out.protocols.flatMap(protocol => {
    const alias = ROUTE_ALIASES[protocol]
    if (alias != null) {
      return alias
    }
    if (!protocol.startsWith('/') || protocol.length < 2 || /\s/.test(protocol)) {
      throw new Error(`"${protocol}" is not a protocol id (like /my-app/1.0.0) or one of: ${Object.keys(ROUTE_ALIASES).join(', ')}`)
    }
    return [protocol]
  })

  if (builtinStrategies[out.strategy] == null) {
    throw new Error(`"${out.protocols.join(',')}": unknown strategy "${out.strategy}" (known: ${Object.keys(builtinStrategies).join(', ')})`)
  }

  return out
}

/**
 * One `--route` value or route object
 */
export const route = z.union([z.string({ error: 'must be "<protocol>[=<strategy>]" or a route object' }).min(1), routeObject], { error: 'must be "<protocol>[=<strategy>]" or a route object' })
  .transform((value, ctx) => {
    try {
      return toRoute(value)
    } catch (err: any) {
      ctx.issues.push({ code: 'custom', message: err.message, input: value })
      return z.NEVER
    }
  })
