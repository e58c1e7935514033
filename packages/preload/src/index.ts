/**
 * @packageDocumentation
 *
 * The preload node that js-ipfs-era applications call after adding content:
 * the Kubo-compatible `POST /api/v0/refs?arg=<cid>&recursive=true` endpoint,
 * streaming one `{"Ref":"…","Err":""}` line per block reached.
 *
 * Two ways to run it:
 *
 * - **{@link withPreload}**, a Helia mixin: the Helia node itself fetches the
 * DAG into its blockstore through its own Bitswap from the peers it is
 * connected to, and also answers `POST /api/v0/id` like Kubo. A Helia node with
 * it is a valid downstream for `@kitsune/proxy` (see the downstream contract in
 * `docs/architecture.md`).
 * - **{@link proxyPreload}**, a libp2p service beside `@kitsune/proxy` and
 * `@kitsune/bitswap-forwarder`: it finds the upstream peers that hold the
 * content (connected from the caller's address, confirmed with a want-have),
 * opens a preload window in the forwarder so that a downstream's wants for this
 * DAG reach those peers, asks a downstream to fetch and keep the DAG through
 * its own `/api/v0/refs`, and streams the downstream's refs back. The response
 * ends only when the downstream holds the whole DAG.
 *
 * Links are followed for dag-pb, dag-cbor, dag-json and raw, and for any codec
 * passed in `codecs`.
 *
 * @example A Helia node as a preload node
 *
 * ```typescript
 * import { withPreload } from '@kitsune/preload'
 * import { createHelia } from 'helia'
 *
 * const helia = withPreload(await createHelia(), {
 *   listen: '/ip4/127.0.0.1/tcp/5001'
 * })
 * await helia.start()
 *
 * console.info(helia.preload.url) // http://127.0.0.1:5001
 * ```
 *
 * @example The preload endpoint in front of the Kitsune proxy
 *
 * ```typescript
 * import { bitswapForwarder } from '@kitsune/bitswap-forwarder'
 * import { proxyPreload } from '@kitsune/preload'
 * import { frontDoorConnectionManager, loadOrCreateKeyFile, proxy } from '@kitsune/proxy'
 * import { identify } from '@libp2p/identify'
 * import { noise } from '@libp2p/noise'
 * import { ping } from '@libp2p/ping'
 * import { tcp } from '@libp2p/tcp'
 * import { webSockets } from '@libp2p/websockets'
 * import { yamux } from '@libp2p/yamux'
 * import { createLibp2p } from 'libp2p'
 *
 * const { privateKey } = await loadOrCreateKeyFile('./preload.key')
 *
 * const node = await createLibp2p({
 *   privateKey,
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'] },
 *   transports: [tcp(), webSockets()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   connectionManager: frontDoorConnectionManager(),
 *   services: {
 *     identify: identify(),
 *     ping: ping(),
 *     proxy: proxy({
 *       // downstreams for preloading need a Kubo RPC API (Kubo, or Helia with withPreload)
 *       downstreamApis: ['http://10.0.1.43:5001']
 *     }),
 *     bitswapForwarder: bitswapForwarder(),
 *     preload: proxyPreload({
 *       listen: '/ip4/0.0.0.0/tcp/5001'
 *     })
 *   }
 * })
 *
 * console.info(node.services.preload.url)
 * ```
 */

import type { BlockCodec } from 'multiformats/codecs/interface'

/**
 * Options of the HTTP API, in both modes
 */
export interface PreloadApiInit {
  /**
   * Where the HTTP API listens: a multiaddr (`/ip4/127.0.0.1/tcp/5001`) or a
   * URL (`http://127.0.0.1:5001`). Port 0 lets the OS choose; read the bound
   * address from `url` once started.
   *
   * @default '/ip4/127.0.0.1/tcp/5001'
   */
  listen?: string
  /**
   * Origins allowed by CORS: `'*'` (any, as the public preload nodes were), a
   * list of origins, or `false` to send no CORS headers
   *
   * @default '*'
   */
  cors?: '*' | string[] | false
  /**
   * Addresses of reverse proxies whose `X-Forwarded-For` header is believed.
   * From any other address the header is ignored.
   *
   * @default []
   */
  trustedProxies?: string[]
  /**
   * Refs requests one client address may make per `rateLimitInterval`; more
   * are answered 429 (with `Retry-After`). `/api/v0/id` is not limited.
   *
   * @default 60
   */
  rateLimit?: number
  /**
   * The rate limit's window, in ms
   *
   * @default 60000
   */
  rateLimitInterval?: number
  /**
   * Refs requests served at once (in proxy mode: preload windows open at
   * once); more are answered 429
   *
   * @default 32
   */
  maxConcurrentRequests?: number
  /**
   * Refs requests from one client address served at once, so that one
   * caller cannot hold every slot; more wait their turn (see
   * `maxQueuedRequestsPerAddress`)
   *
   * @default 4
   */
  maxConcurrentRequestsPerAddress?: number
  /**
   * Refs requests from one client address that may wait for one of its
   * `maxConcurrentRequestsPerAddress` slots; more are answered 429. js-ipfs
   * preloads every node of a DAG it builds with `dag.put` at once, and never
   * retries a preload, so a burst from one address must wait rather than be
   * refused.
   *
   * @default 64
   */
  maxQueuedRequestsPerAddress?: number
  /**
   * Largest request body read, in bytes; larger is answered 413
   *
   * @default 65536
   */
  maxBodySize?: number
  /**
   * Longest request target (path and query), in bytes; longer is answered 414
   *
   * @default 8192
   */
  maxQuerySize?: number
  /**
   * CIDs (`arg`) one request may name; more is answered 400
   *
   * @default 16
   */
  maxArgs?: number
  /**
   * Blocks one request may reach; beyond it the traversal stops with an error
   * line
   *
   * @default 100000
   */
  maxDagBlocks?: number
  /**
   * Block bytes one request may fetch; beyond it the traversal stops with an
   * error line
   *
   * @default 536870912
   */
  maxDagBytes?: number
  /**
   * ms one refs request may take in all; then it ends with an error line
   *
   * @default 300000
   */
  requestTimeout?: number
  /**
   * ms a client has, from connecting (on a kept-alive connection: from
   * the first byte of the next request), to send a request line and
   * headers; then it is answered 408 and the connection closed.
   * `bodyTimeout` bounds it too.
   *
   * @default 10000
   */
  headersTimeout?: number
  /**
   * ms a client has to send a whole request, headers and body; then it is
   * answered 408 and the connection closed
   *
   * @default 30000
   */
  bodyTimeout?: number
  /**
   * ms an idle kept-alive connection stays open for its next request (the
   * `Keep-Alive: timeout` the answers advertise; Node closes it up to 1 s
   * later)
   *
   * @default 5000
   */
  keepAliveTimeout?: number
  /**
   * Codecs whose links are followed, beyond dag-pb, dag-cbor, dag-json and raw
   *
   * @default []
   */
  codecs?: Array<BlockCodec<any, any>>
}

/**
 * Counters since start (also exported as `kitsune_preload_*` metrics)
 */
export interface PreloadStats {
  /** Refs requests answered 200 */
  requests: number
  /** Requests answered 4xx, by status */
  rejected: Record<string, number>
  /** Refs requests being served now */
  active: number
  /** Refs requests waiting for one of their address's slots */
  queued: number
  /** Refs lines written */
  refs: number
  /** Requests that ended with an error line */
  failed: number
}

/**
 * The running HTTP API
 */
export interface PreloadApi {
  /** The bound base URL, e.g. `http://127.0.0.1:5001`; unset while stopped */
  readonly url?: URL
  stats(): PreloadStats
}

/**
 * Options of {@link withPreload}
 */
export interface WithPreloadInit extends PreloadApiInit {
  /**
   * Pin each fetched root (recursively) in the Helia node, so that `gc()`
   * keeps it
   *
   * @default false
   */
  pin?: boolean
  /**
   * Blocks one refs request fetches at once, and how far ahead of its output
   * it fetches among a node's links (the output order stays Kubo's)
   *
   * @default 16
   */
  fetchConcurrency?: number
}

/**
 * Options of {@link proxyPreload}
 */
export interface ProxyPreloadInit extends PreloadApiInit {
  /**
   * The key of the proxy service in `services`
   *
   * @default 'proxy'
   */
  proxyService?: string
  /**
   * The key of the Bitswap forwarder service in `services`
   *
   * @default 'bitswapForwarder'
   */
  forwarderService?: string
  /**
   * How the downstream that fetches a DAG is chosen among the healthy
   * downstreams that have a Kubo RPC API: a strategy name of `@kitsune/proxy`
   * or a strategy object, keyed by the first root CID. Unset, the proxy's
   * content placement (`proxy.placement`, `hash` unless the proxy's
   * `placement` says otherwise) is used, the one the Bitswap forwarder uses
   * too: the DAG goes to the downstream the forwarder asks first for its root
   *
   * @default 'hash'
   */
  strategy?: string | import('@kitsune/proxy').BalancingStrategy
  /**
   * ms to wait for upstream peers' answers to the want-have that confirms
   * they hold a root
   *
   * @default 5000
   */
  probeTimeout?: number
  /**
   * Upstream peers asked at once when confirming who holds a root
   *
   * @default 16
   */
  maxProbedPeers?: number
}

/**
 * The preload endpoint of a proxy
 */
export interface ProxyPreload extends PreloadApi {
  /** Preload windows open now */
  windows(): number
}

export { withPreload, HeliaPreloadBackend } from './standalone.ts'
export type { HeliaWithPreload } from './standalone.ts'
export { PreloadApiServer, normaliseAddress } from './api-server.ts'
export type { PreloadBackend, PreloadApiServerComponents, RefLine } from './api-server.ts'
export { parseRefsRequest, parseCidArgument } from './refs-request.ts'
export type { RefsRequest, ParseRefsRequestOptions } from './refs-request.ts'
export { createLinkDecoder, BUILTIN_CODECS } from './links.ts'
export type { CodecLoader, Link, LinkDecoder, LinkDecoderInit } from './links.ts'
export { walkRefs, formatRef } from './walk.ts'
export type { GetBlock, WalkRefsOptions, WalkResult } from './walk.ts'
export * from './errors.ts'
export { proxyPreload } from './proxy-preload.ts'
export type { ProxyPreloadComponents } from './proxy-preload.ts'
