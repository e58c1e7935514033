/**
 * @packageDocumentation
 *
 * Bitswap through the Kitsune proxy, message by message.
 *
 * Bitswap cannot be bridged as a plain stream: the answer to a WANT comes
 * back on a new stream that the responder opens. So the forwarder reads
 * Bitswap messages from upstream peers, keeps a ledger of what each one
 * wants, routes every CID to a downstream of the proxy's pool (consistent
 * hashing by default, with fail-over), verifies every block that comes back,
 * and sends blocks, HAVEs and DONT_HAVEs to the upstream peers that asked.
 *
 * - Speaks `/ipfs/bitswap/1.2.0`, `/1.1.0`, `/1.0.0` and `/ipfs/bitswap`,
 * encoding each message in the version the other peer negotiated.
 * - Coalesces: many upstream peers wanting one CID cause one want
 * downstream, and the block goes to all of them.
 * - One-way: wants sent by downstreams are dropped, except inside a preload
 * window ({@link BitswapForwarder.openWindow}). Upstream peers never learn
 * downstream peer ids or addresses.
 * - Bounded: every size, count and time is a named option with a safe
 * default; a peer that breaks a limit is cut off and the rest are served.
 *
 * The node must not also run Helia's Bitswap: a protocol has one handler.
 *
 * @example A proxy that forwards Bitswap to two downstreams
 *
 * ```typescript
 * import { bitswapForwarder } from '@kitsune/bitswap-forwarder'
 * import { frontDoorConnectionManager, loadOrCreateKeyFile, proxy } from '@kitsune/proxy'
 * import { identify } from '@libp2p/identify'
 * import { noise } from '@libp2p/noise'
 * import { ping } from '@libp2p/ping'
 * import { tcp } from '@libp2p/tcp'
 * import { yamux } from '@libp2p/yamux'
 * import { createLibp2p } from 'libp2p'
 *
 * const { privateKey } = await loadOrCreateKeyFile('./preload.key')
 *
 * const node = await createLibp2p({
 *   privateKey,
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/4001'] },
 *   transports: [tcp()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   connectionManager: frontDoorConnectionManager(),
 *   services: {
 *     identify: identify(),
 *     ping: ping(),
 *     proxy: proxy({
 *       downstreams: [
 *         '/ip4/10.0.1.42/tcp/4001/p2p/12D3KooWAbc...',
 *         '/ip4/10.0.1.43/tcp/4001/p2p/12D3KooWDef...'
 *       ]
 *     }),
 *     bitswapForwarder: bitswapForwarder({
 *       cache: true
 *     })
 *   }
 * })
 *
 * console.info(node.services.bitswapForwarder.stats())
 * ```
 */

import { findService } from '@kitsune/proxy'
import { BITSWAP_FORWARDER_CAPABILITY, BITSWAP_FORWARDER_SERVICE } from './constants.ts'
import { BitswapForwarder as BitswapForwarderClass } from './forwarder.ts'
import type { PreloadWindow, PreloadWindowInit } from './preload-window.ts'
import type { BalancingStrategy, Proxy, StrategyFactory } from '@kitsune/proxy'
import type { ComponentLogger, Libp2pEvents, Metrics, PeerId, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { MultihashHasher } from 'multiformats/hashes/interface'

export interface BitswapForwarderInit {
  /**
   * The key of the proxy service in `services`
   *
   * @default 'proxy'
   */
  proxyService?: string
  /**
   * How each CID is placed on downstreams: a built-in strategy name of
   * `@kitsune/proxy` (`hash`, `sticky`, `least-outstanding`), a name
   * registered in `strategies`, or a strategy object. The strategy's order is
   * the fail-over order. Unset, the proxy's content placement
   * (`proxy.placement`, `hash` unless the proxy's `placement` says otherwise)
   * is used: the one the preload endpoint uses too.
   *
   * @default 'hash'
   */
  strategy?: string | BalancingStrategy
  /** Extra strategies that `strategy` can name */
  strategies?: Record<string, StrategyFactory>
  /**
   * Downstreams asked for a CID at the same time; `'all'` asks every healthy
   * downstream at once
   *
   * @default 1
   */
  fanout?: number | 'all'
  /**
   * Largest Bitswap message read or written, in bytes
   *
   * @default 4194304
   */
  maxMessageSize?: number
  /**
   * Largest Bitswap message written to a peer connected over mplex, in
   * bytes; each such message goes on a stream of its own, as js-ipfs sends
   * them. mplex has no flow control, and js-ipfs resets a stream once 4 MiB
   * wait unread on it. A single larger block is still sent, alone.
   *
   * @default 1048576
   */
  maxMessageSizeOverMplex?: number
  /**
   * Largest block forwarded, in bytes
   *
   * @default 2097152
   */
  maxBlockSize?: number
  /**
   * Wants one peer may hold; beyond it the peer is cut off
   *
   * @default 2048
   */
  maxWantlistEntriesPerPeer?: number
  /**
   * Wants tracked across all peers. When it is full, a peer under its fair
   * share (this divided by the peers that want something) is still served:
   * the heaviest peer's oldest want-have gives way; other new wants wait
   * for room
   *
   * @default 65536
   */
  maxTrackedWants?: number
  /**
   * Wants remembered across all peers while the tracked-wants table is
   * full, taken in as room frees (the lightest peers' first); beyond it a
   * new want is refused with DONT_HAVE
   *
   * @default 16384
   */
  maxWaitingWants?: number
  /**
   * Block bytes queued for, or expected by, one peer before its further
   * want-blocks wait
   *
   * @default 67108864
   */
  maxOutstandingBytesPerPeer?: number
  /**
   * The same budget for all peers together; while it is spent, a peer still
   * under its fair share (this divided by the peers holding some) is served
   *
   * @default 268435456
   */
  maxOutstandingBytes?: number
  /**
   * Concurrent inbound Bitswap streams per upstream peer
   *
   * @default 8
   */
  maxInboundStreamsPerPeer?: number
  /**
   * Bytes of incomplete inbound messages buffered across all upstream
   * peers; a stream whose next bytes would pass it is reset
   *
   * @default 67108864
   */
  maxInboundFrameBytes?: number
  /**
   * Bytes of incomplete inbound messages one upstream peer may have
   * buffered across its streams; a stream whose next bytes would pass it is
   * reset
   *
   * @default 8388608
   */
  maxInboundFrameBytesPerPeer?: number
  /**
   * ms within which a message that started arriving from an upstream peer
   * must be complete; the stream is reset otherwise
   *
   * @default 30000
   */
  frameTimeout?: number
  /**
   * Concurrent inbound Bitswap streams per downstream
   *
   * @default 1024
   */
  maxInboundStreamsPerDownstream?: number
  /**
   * Outbound Bitswap streams open at once on one connection (one per peer is
   * used; the rest is headroom for replacing a failed stream)
   *
   * @default 64
   */
  maxOutboundStreams?: number
  /**
   * Wants outstanding on one downstream at once
   *
   * @default 512
   */
  maxWantsPerDownstream?: number
  /**
   * ms of silence from a downstream after which its wants fail over
   *
   * @default 5000
   */
  downstreamTimeout?: number
  /**
   * ms during which a CID no downstream had is answered DONT_HAVE at once
   *
   * @default 5000
   */
  dontHaveTtl?: number
  /**
   * ms after which a want that no downstream can be asked (none is up, or
   * the last one asked went away) is answered DONT_HAVE if its sender asked
   * for that; the want is kept and asked again when a downstream comes up.
   * Long enough for a reconnecting downstream, short enough that clients
   * fail fast instead of waiting out their own timeouts. 0 answers at once.
   *
   * @default 1000
   */
  noDownstreamTimeout?: number
  /**
   * ms after which an idle outbound stream is closed
   *
   * @default 5000
   */
  outboundIdleTimeout?: number
  /**
   * ms a written message may wait for the peer to read it before the stream
   * is reset (and an upstream peer cut off)
   *
   * @default 20000
   */
  sendTimeout?: number
  /**
   * ms that opening an outbound stream may take
   *
   * @default 5000
   */
  openStreamTimeout?: number
  /**
   * ms a peer that broke a limit is refused for
   *
   * @default 60000
   */
  cutOffTime?: number
  /**
   * Cut-off peers remembered at once; beyond it the oldest cut-off ends early
   *
   * @default 10000
   */
  maxCutOffPeers?: number
  /**
   * A block cache consulted before downstreams: `true` for an in-memory LRU
   * of `cacheMaxBytes`, or any blockstore
   *
   * @default false
   */
  cache?: boolean | Blockstore
  /**
   * Byte budget of the in-memory cache
   *
   * @default 67108864
   */
  cacheMaxBytes?: number
  /**
   * Hashers beyond sha2-256, sha2-512 and identity. Blocks are verified by
   * hashing, so CIDs whose hash function has no hasher are refused.
   */
  hashers?: MultihashHasher[]
  /**
   * Default lifetime of a preload window, in ms
   *
   * @default 60000
   */
  windowTimeout?: number
  /**
   * Finished CIDs remembered, to tell a late duplicate block from a corrupt one
   *
   * @default 8192
   */
  recentKeys?: number
  /**
   * Dropped downstream wants remembered per downstream (the newest), so that
   * a preload window opened later passes those it covers: a downstream does
   * not repeat a want it has already sent
   *
   * @default 1024
   */
  droppedWantsPerDownstream?: number
}

export interface BitswapForwarderComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  metrics?: Metrics
  /** The proxy, at its default key (see `proxyService`) */
  proxy?: Proxy
  /** Every configured service is reachable by its key, the proxy among them */
  [service: string]: unknown
}

/**
 * Counters since start, for status lines and tests (the same figures are
 * exported as `kitsune_bitswap_*` metrics)
 */
export interface BitswapForwarderStats {
  /** Upstream peers with a ledger */
  upstreamPeers: number
  /** Wants held in all ledgers */
  trackedWants: number
  /** Wants that found the tracked-wants table full and wait for room */
  waitingWants: number
  /** Bytes of upstream peers' incomplete messages buffered now */
  inboundFrameBytes: number
  /** Wants of peers over their fair share that gave way to a peer under it */
  evictedWants: number
  /** CIDs being fetched from downstreams */
  pendingCids: number
  wantsReceived: number
  cancelsReceived: number
  /** Want entries sent to downstreams */
  wantsForwarded: number
  /** CANCEL entries sent to downstreams */
  cancelsForwarded: number
  /** Wants that joined a CID another peer already waited for */
  coalescedWants: number
  /** Verified blocks received from downstreams */
  blocksReceived: number
  blockBytesReceived: number
  /** Blocks sent to upstream peers */
  blocksSent: number
  blockBytesSent: number
  havesSent: number
  dontHavesSent: number
  /** Blocks that answered nothing they were asked for, or were too large */
  badBlocks: number
  /** Late copies of blocks already delivered or cancelled */
  duplicateBlocks: number
  /** Blocks nobody asked for (from downstreams or upstream peers) */
  unwantedBlocks: number
  cacheHits: number
  cacheMisses: number
  /** Want entries from downstreams dropped by the one-way rule */
  downstreamWantsDropped: number
  /** Downstream wants passed to upstream peers inside preload windows */
  windowWantsPassed: number
  /** Blocks from upstream peers passed to downstreams inside preload windows */
  windowBlocksPassed: number
  /** Blocks from upstream peers dropped because a window's budget was spent */
  windowBlocksRefused: number
  /** `probe()` calls */
  probes: number
  /** New wants refused because the tracked-wants table and the waiting list were full */
  refusedWants: number
  /** Wants that failed over to another downstream */
  failovers: number
  timeouts: number
  /** Messages that could not be decoded (their stream was reset) */
  malformedMessages: number
  /**
   * Entries of an upstream peer's messages skipped as unusable (an unknown
   * want type, a CID that does not decode or whose hash cannot be verified,
   * a bad block prefix); the rest of the message is served
   */
  invalidEntries: number
  refusedStreams: number
  /** Inbound streams reset because their incomplete message passed `maxInboundFrameBytes` or `maxInboundFrameBytesPerPeer` */
  frameBudgetResets: number
  /** Inbound streams reset because a message was not complete within `frameTimeout` */
  frameTimeouts: number
  cutOffs: number
  /** Per downstream peer id */
  downstreams: Record<string, { wantsForwarded: number, blocksReceived: number, badBlocks: number }>
}

/**
 * A want as it stands in a peer's ledger
 */
export interface LedgerWant {
  cid: string
  wantType: 'block' | 'have'
  priority: number
  sendDontHave: boolean
}

export interface ProbeOptions {
  /**
   * ms to wait for answers
   *
   * @default 5000
   */
  timeout?: number
  signal?: AbortSignal
}

/**
 * The forwarder service, as other services find it on `components` (see
 * {@link findBitswapForwarder}) and as `node.services.bitswapForwarder`
 */
export interface BitswapForwarder {
  /** The protocol ids the forwarder handles */
  readonly protocols: string[]
  /**
   * Opens a preload window: while it is open, the downstream wants it covers
   * are passed to its upstream peers (see {@link PreloadWindowInit})
   */
  openWindow(init: PreloadWindowInit): PreloadWindow
  /** The windows open now */
  windows(): PreloadWindow[]
  /**
   * Asks upstream peers whether they hold a block (a want-have with
   * send-dont-have, cancelled afterwards) and resolves with those that said
   * HAVE or sent the block, once all have answered or `timeout` has passed.
   * Downstreams and peers not connected are not asked.
   */
  probe(cid: CID, peers: PeerId[], options?: ProbeOptions): Promise<PeerId[]>
  /** What an upstream peer wants from the forwarder now */
  ledger(peer: PeerId): LedgerWant[]
  stats(): BitswapForwarderStats
}

/**
 * Creates the Bitswap forwarder service. Add it to `services` next to the
 * proxy service (it finds the proxy by `proxyService`, default `'proxy'`).
 */
export function bitswapForwarder (init: BitswapForwarderInit = {}): (components: BitswapForwarderComponents) => BitswapForwarder {
  return (components) => new BitswapForwarderClass(components, init)
}

/**
 * The Bitswap forwarder among a node's components, at `key` (default
 * `'bitswapForwarder'`), or `undefined` when none is configured there
 */
export function findBitswapForwarder (components: Record<string, unknown>, key: string = BITSWAP_FORWARDER_SERVICE): BitswapForwarder | undefined {
  return findService<BitswapForwarder>(components, key, BITSWAP_FORWARDER_CAPABILITY)
}

export { BITSWAP_100, BITSWAP_110, BITSWAP_120, BITSWAP_FORWARDER_CAPABILITY, BITSWAP_FORWARDER_SERVICE, BITSWAP_LEGACY, BITSWAP_PROTOCOLS } from './constants.ts'
export { LruBlockCache } from './block-cache.ts'
/**
 * The forwarder's options with its defaults applied (what `bitswapForwarder(init)` runs with)
 */
export { validate as bitswapForwarderOptions } from './options.ts'
export type { Options as BitswapForwarderOptions } from './options.ts'
export type { PreloadWindow, PreloadWindowInit, WindowCloseReason } from './preload-window.ts'
export * from './errors.ts'
