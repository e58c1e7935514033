/**
 * @packageDocumentation
 *
 * The Kitsune proxy router. Run a libp2p node under the private key of a
 * well-known node (a bootstrap or preload node whose `/p2p/<id>` clients have
 * hard-coded), and spread the protocol streams that upstream peers open on it
 * over a pool of downstream IPFS nodes that upstream peers never see.
 *
 * - **Identity takeover**: {@link loadOrCreateKeyFile} and
 * {@link loadKuboIdentity} give the `privateKey` for `createLibp2p`.
 * - **Downstream pool**: downstreams by `/p2p/` multiaddr or by Kubo RPC API
 * address; kept connected, redialled with capped exponential backoff, never
 * handed out while down.
 * - **Content placement**: `proxy.placement` says which downstreams, in
 * order, hold a CID; the Bitswap forwarder and the preload endpoint both
 * place with it, so they agree where a block lives.
 * - **Routes**: lists of protocols whose streams are bridged, both ways and
 * with back-pressure, to a downstream chosen by a balancing strategy
 * (`sticky`, `least-outstanding`, `hash`, or your own).
 *
 * @example A proxy in front of two downstreams
 *
 * ```typescript
 * import { noise } from '@libp2p/noise'
 * import { identify } from '@libp2p/identify'
 * import { ping } from '@libp2p/ping'
 * import { tcp } from '@libp2p/tcp'
 * import { yamux } from '@libp2p/yamux'
 * import { frontDoorConnectionManager, frontDoorMplex, frontDoorMuxerOptions, frontDoorNoiseCrypto, loadOrCreateKeyFile, proxy, DHT_PROTOCOLS } from '@kitsune/proxy'
 * import { createLibp2p } from 'libp2p'
 *
 * const { privateKey } = await loadOrCreateKeyFile('./preload.key')
 *
 * const node = await createLibp2p({
 *   privateKey,
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/4001'] },
 *   transports: [tcp()],
 *   connectionEncrypters: [noise({ crypto: frontDoorNoiseCrypto })],
 *   // js-ipfs and other js-libp2p 0.x clients speak only mplex
 *   streamMuxers: [yamux(frontDoorMuxerOptions()), frontDoorMplex()],
 *   connectionManager: frontDoorConnectionManager(),
 *   services: {
 *     identify: identify(),
 *     ping: ping(),
 *     proxy: proxy({
 *       downstreams: ['/ip4/10.0.1.42/tcp/4001/p2p/12D3KooW...'],
 *       downstreamApis: ['http://10.0.1.43:5001'],
 *       routes: [
 *         { protocols: DHT_PROTOCOLS, strategy: 'least-outstanding' },
 *         { protocols: ['/my-app/1.0.0'] }
 *       ]
 *     })
 *   }
 * })
 *
 * await node.services.proxy.ready()
 * console.info(node.services.proxy.status())
 * ```
 */

import { KitsuneProxy } from './proxy.ts'
import type { DownstreamInfo, DownstreamPool, DownstreamPoolComponents, DownstreamPoolInit } from './downstream-pool.ts'
import type { ContentPlacement } from './placement.ts'
import type { BalancingStrategy, StrategyFactory } from './strategies.ts'
import type { Libp2pEvents, Metrics, TypedEventTarget } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

/**
 * A list of protocols whose streams are bridged to downstreams
 */
export interface RouteInit {
  /** Protocol ids handled by this route */
  protocols: string[]
  /**
   * A built-in strategy name (`sticky`, `least-outstanding`, `hash`), a name
   * registered in {@link ProxyInit.strategies}, or a strategy object
   *
   * @default 'sticky'
   */
  strategy?: string | BalancingStrategy
  /**
   * Concurrent streams one upstream peer may have open on this route; more
   * are reset
   *
   * @default 32
   */
  maxStreamsPerPeer?: number
  /**
   * Concurrent streams the proxy may open on one downstream connection for
   * one of this route's protocols
   *
   * @default 4096
   */
  maxStreamsPerDownstream?: number
  /**
   * Reset a bridge after this many ms with no data in either direction
   *
   * @default 60000
   */
  idleTimeout?: number
  /**
   * How long opening the downstream stream may take, per attempt
   *
   * @default 10000
   */
  setupTimeout?: number
  /**
   * How many downstreams to try before the upstream stream is reset
   *
   * @default 3
   */
  maxSetupAttempts?: number
  /**
   * Bytes one side of a bridge may buffer while the other side drains; a side
   * that receives more is reset. What a paused side can receive is bounded by
   * the muxer's stream window (see `frontDoorMuxerOptions`), so keep this at
   * or above it.
   *
   * @default 4194304
   */
  maxBufferedBytes?: number
}

export interface ProxyInit extends DownstreamPoolInit {
  /**
   * Protocols to bridge, and how
   *
   * @default []
   */
  routes?: RouteInit[]
  /**
   * Extra strategies that routes and `placement` can name
   *
   * @default {}
   */
  strategies?: Record<string, StrategyFactory>
  /**
   * How content is placed on downstreams ({@link Proxy.placement}): a
   * strategy name or object, keyed by a CID's multihash. The Bitswap
   * forwarder and the preload endpoint place with it unless they are given
   * a strategy of their own.
   *
   * @default 'hash'
   */
  placement?: string | BalancingStrategy
}

export interface ProxyComponents extends DownstreamPoolComponents {
  registrar: Registrar
  events: TypedEventTarget<Libp2pEvents>
  metrics?: Metrics
}

export interface ProxyStatus {
  upstreamPeers: number
  openBridges: number
  routes: Array<{ protocols: string[], strategy: string }>
  downstreams: DownstreamInfo[]
}

/**
 * The proxy service, as other services find it on `components` (see
 * {@link findProxy}) and as `node.services.proxy`
 */
export interface Proxy {
  /** The downstream pool, shared with services built on the proxy */
  readonly pool: DownstreamPool
  /**
   * Which downstreams, in order, hold a CID: shared by the services that
   * place content (the Bitswap forwarder, the preload endpoint), so they
   * agree where a block lives
   */
  readonly placement: ContentPlacement
  /** Every protocol id the proxy bridges */
  readonly protocols: string[]
  /** Resolves once every configured downstream has been tried */
  ready(): Promise<void>
  status(): ProxyStatus
}

/**
 * Creates the proxy service. Add it to `services` in `createLibp2p`; run the
 * node under the identity clients expect (see {@link loadOrCreateKeyFile}).
 */
export function proxy (init: ProxyInit = {}): (components: ProxyComponents) => Proxy {
  return (components) => new KitsuneProxy(components, init)
}

export { DHT_PROTOCOLS } from './constants.ts'
export type { Downstream, DownstreamInfo, DownstreamPool, DownstreamStatus, DownstreamPoolEvents, DownstreamPoolInit, DownstreamPoolComponents } from './downstream-pool.ts'
export { contentKey, contentPlacement, DEFAULT_PLACEMENT_STRATEGY } from './placement.ts'
export type { ContentPlacement, HealthyDownstreams, PlaceOptions } from './placement.ts'
export { findProxy, findService, PROXY_CAPABILITY, PROXY_SERVICE } from './services.ts'
export { builtinStrategies, hashStrategy, leastOutstandingStrategy, resolveStrategy, stickyStrategy } from './strategies.ts'
export type { BalancingStrategy, HashStrategyInit, RouteRequest, StrategyFactory } from './strategies.ts'
export { bridgeStreams } from './bridge.ts'
export type { BridgeOptions, BridgeResult } from './bridge.ts'
export { frontDoorConnectionManager, frontDoorMplex, frontDoorMplexOptions, frontDoorMuxerOptions } from './front-door.ts'
export type { FrontDoorLimits, FrontDoorMplexLimits, FrontDoorMuxerLimits } from './front-door.ts'
export { frontDoorNoiseCrypto } from './noise-crypto.ts'
export { loadKuboIdentity, loadOrCreateKeyFile } from './identity.ts'
export type { KeyFileType, LoadedIdentity, LoadKeyFileOptions } from './identity.ts'
export { apiUrl, discoverFromApi } from './kubo-api.ts'
export { httpUrl } from './http-url.ts'
export type { KuboIdentity } from './kubo-api.ts'
export * from './errors.ts'
