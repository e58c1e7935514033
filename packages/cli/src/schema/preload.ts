/**
 * The config file's `preload` object: the limits of the preload endpoint
 * (`PreloadApiInit` of `@kitsune/preload`), shared by `kitsune proxy` and
 * `kitsune node`, plus what each mode adds. Each range is what the service
 * itself accepts (see `api-server.ts` and `standalone.ts` there), and no
 * timer is longer than Node.js keeps.
 */

import * as z from 'zod'
import { integer, limits, ms, optionalBoolean, optionInfo } from './fields.ts'
import { strategy } from './route.ts'

const cors = z.union([
  z.literal('*'),
  z.literal(false),
  z.array(z.string({ error: 'must be an origin' }).min(1, { error: 'must be an origin' }))
], { error: 'must be "*", false, or a list of origins' })
  .optional()
  .register(optionInfo, { kind: 'value', help: 'origins allowed by CORS: "*" (any), a list of origins, or false for no CORS headers', default: '*' })

const trustedProxies = z.array(z.string({ error: 'must be an address' }).min(1, { error: 'must be an address' }), { error: 'must be a list of addresses' })
  .optional()
  .register(optionInfo, { kind: 'list', help: 'addresses of reverse proxies whose X-Forwarded-For is believed', default: [] })

/**
 * The endpoint's limits, in both modes
 */
export const preloadLimits = {
  cors,
  trustedProxies,
  rateLimit: integer({ help: 'requests one client address may make per rateLimitInterval; more are answered 429', default: 60 }),
  rateLimitInterval: ms({ help: 'the rate limit\'s window, in ms', default: 60_000 }),
  maxConcurrentRequests: integer({ help: 'refs requests (in proxy mode: preload windows) at once; more are answered 429', default: 32 }),
  maxConcurrentRequestsPerAddress: integer({ help: 'refs requests from one client address at once; more wait (maxQueuedRequestsPerAddress)', default: 4 }),
  maxQueuedRequestsPerAddress: integer({ help: 'refs requests from one client address that may wait for a slot (js-ipfs preloads every dag.put node at once and never retries); more are answered 429', default: 64, min: 0 }),
  maxBodySize: integer({ help: 'largest request body read, in bytes (413 beyond); 0 refuses any body', default: 64 * 1024, min: 0 }),
  maxQuerySize: integer({ help: 'longest request target, in bytes (414 beyond)', default: 8 * 1024 }),
  maxArgs: integer({ help: 'CIDs (arg) one request may name (400 beyond)', default: 16 }),
  maxDagBlocks: integer({ help: 'blocks one request may reach; beyond it the response ends with an error line', default: 100_000 }),
  maxDagBytes: integer({ help: 'block bytes one request may fetch; beyond it the response ends with an error line', default: 512 * 1024 * 1024 }),
  requestTimeout: ms({ help: 'ms one request may take in all', default: 300_000 }),
  headersTimeout: ms({ help: 'ms a client has to send the request line and headers (408 beyond); bodyTimeout bounds it too', default: 10_000 }),
  bodyTimeout: ms({ help: 'ms a client has to send a whole request, headers and body (408 beyond)', default: 30_000 }),
  keepAliveTimeout: ms({ help: 'ms an idle kept-alive connection waits for its next request', default: 5_000 })
}

/**
 * `kitsune proxy`'s `preload` object (`ProxyPreloadInit` of `@kitsune/preload`)
 */
export const proxyPreload = limits({
  ...preloadLimits,
  strategy: strategy('how the downstream that fetches a DAG is chosen among the healthy ones with an API: sticky, least-outstanding or hash (of the first root CID)', 'hash'),
  probeTimeout: ms({ help: 'ms to wait for upstream peers\' answers to the want-have that confirms they hold a root', default: 5000 }),
  maxProbedPeers: integer({ help: 'upstream peers asked at once', default: 16 })
}, { help: 'the preload endpoint\'s limits (ProxyPreloadInit of @kitsune/preload); they apply whenever preload mode is on' })

/**
 * `kitsune node`'s `preload` object (`WithPreloadInit` of `@kitsune/preload`)
 */
export const nodePreload = limits({
  ...preloadLimits,
  pin: optionalBoolean({ help: 'pin each completely fetched root (recursively), so that gc() keeps it', default: false }),
  fetchConcurrency: integer({ help: 'blocks one refs request fetches at once', default: 16 })
}, { help: 'the API\'s limits (WithPreloadInit of @kitsune/preload)' })

/**
 * The limits of a preload endpoint that a config file may set (see
 * `PreloadApiInit` in `@kitsune/preload`); `listen` comes from
 * `--preload-listen` / `--api-listen`
 */
export type PreloadLimits = z.output<z.ZodObject<typeof preloadLimits>>

/**
 * The `preload` object of a `kitsune proxy` config file
 */
export type ProxyPreloadOptions = z.output<typeof proxyPreload>

/**
 * The `preload` object of a `kitsune node` config file
 */
export type NodePreloadOptions = z.output<typeof nodePreload>
