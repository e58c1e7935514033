/**
 * `kitsune proxy`: every flag and config key, once
 */

import { frontDoorMuxerOptions } from '@kitsune/proxy'
import * as z from 'zod'
import { BITSWAP_PROTOCOLS, DEFAULT_KEY_FILE, DEFAULT_LISTEN, EMBEDDED_API_LISTEN } from '../constants.ts'
import { checkApiAddress, checkDownstream, checkHttpListen, checkMultiaddr, httpListenUrl } from './addresses.ts'
import { command } from './command.ts'
import { flag, integer, limits, list, ms, string, stringList } from './fields.ts'
import { proxyPreload } from './preload.ts'
import { route, routeObject } from './route.ts'

/**
 * The front door's limits: `frontDoorConnectionManager()`,
 * `frontDoorMuxerOptions()` and `frontDoorMplex()` of `@kitsune/proxy`
 */
export const frontDoor = limits({
  inboundConnectionThreshold: integer({ help: 'new inbound connections per second accepted from one host (libp2p\'s default of 5 refuses a busy NAT)', default: 100 }),
  maxIncomingPendingConnections: integer({ help: 'inbound connections that may be mid-upgrade at once', default: 256 }),
  maxConnections: integer({ help: 'connections held before the least valuable are pruned (downstreams are kept)', default: 2048 }),
  // yamux: a window below its initial 256 KiB cannot be kept, and above 2^32 - 1 it refuses every connection
  maxStreamWindowSize: integer({ help: 'yamux receive window of one stream, in bytes; every route\'s maxBufferedBytes must be at least this', default: 1024 * 1024, min: 256 * 1024, max: 2 ** 32 - 1 }),
  mplexNewStreamsPerSecond: integer({ help: 'new mplex streams one connection may open per second; one more closes it', default: 500 }),
  mplexMaxMessageSize: integer({ help: 'the largest mplex frame a peer may send, in bytes; a larger one closes the connection', default: 1024 * 1024 }),
  mplexMaxUnprocessedBytes: integer({ help: 'undecoded mplex bytes one connection may hold; more close it', default: 4 * 1024 * 1024 })
}, { help: 'the front door\'s limits (frontDoorConnectionManager, frontDoorMuxerOptions and frontDoorMplex of @kitsune/proxy)' })

/**
 * Downstream pool timings (`DownstreamPoolInit` of `@kitsune/proxy`)
 */
export const pool = limits({
  dialTimeout: ms({ help: 'how long a dial to a downstream may take, in ms', default: 10_000 }),
  apiTimeout: ms({ help: 'how long a POST /api/v0/id may take, in ms', default: 10_000 }),
  reconnectInitialDelay: ms({ help: 'first delay before a lost downstream is redialled, in ms; doubled on each failure...', default: 500 }),
  reconnectMaxDelay: ms({ help: '...up to this', default: 30_000 }),
  maxConsecutiveFailures: integer({ help: 'failed stream opens in a row after which a downstream is marked down', default: 3 })
}, { help: 'downstream pool timings (DownstreamPoolInit of @kitsune/proxy)' })

/**
 * The Bitswap forwarder's budgets (`BitswapForwarderInit` of
 * `@kitsune/bitswap-forwarder`)
 */
export const forwarder = limits({
  maxWantlistEntriesPerPeer: integer({ help: 'wants one peer may hold; one more resets its stream and cuts it off for cutOffTime', default: 2048 }),
  maxTrackedWants: integer({ help: 'wants tracked for all peers; when full, a peer under its fair share still gets in (the heaviest peer\'s oldest want-have waits), others wait', default: 65_536 }),
  maxWaitingWants: integer({ help: 'wants waiting for room in the table, all peers; more are refused with DONT_HAVE', default: 16_384, min: 0 }),
  maxOutstandingBytesPerPeer: integer({ help: 'block bytes queued for or expected by one peer before its want-blocks wait', default: 64 * 1024 * 1024 }),
  maxOutstandingBytes: integer({ help: 'the same for all peers; while spent, peers under their fair share are still served', default: 256 * 1024 * 1024 }),
  maxInboundStreamsPerPeer: integer({ help: 'inbound Bitswap streams one peer may hold open; more are reset', default: 8 }),
  maxInboundFrameBytes: integer({ help: 'bytes of incomplete inbound messages buffered, all peers; a stream that would pass it is reset', default: 64 * 1024 * 1024 }),
  maxInboundFrameBytesPerPeer: integer({ help: 'the same for one peer', default: 8 * 1024 * 1024 }),
  frameTimeout: ms({ help: 'ms a message that started arriving may take to complete; its stream is reset after', default: 30_000 }),
  noDownstreamTimeout: ms({ help: 'ms a send-dont-have want waits for a downstream to come up before DONT_HAVE', default: 1_000, min: 0 }),
  sendTimeout: ms({ help: 'ms a peer may leave a message unread before it is cut off', default: 20_000 }),
  cutOffTime: ms({ help: 'ms a peer that broke a limit is refused', default: 60_000, min: 0 })
}, { help: 'the Bitswap forwarder\'s budgets (BitswapForwarderInit of @kitsune/bitswap-forwarder)' })

export const proxyCommand = command({
  name: 'proxy',
  summary: 'run the proxy router in front of downstream IPFS nodes (with no downstream option: a self-contained demo)',
  description: `Run a libp2p node (TCP, WebSockets, noise, yamux, mplex, identify, ping) that
keeps a well-known identity and spreads its upstream peers' work over a pool
of downstream IPFS nodes. Bitswap is forwarded message by message; other
protocols are bridged stream by stream with --route.

With --preload-listen, also serves the Kubo-compatible preload endpoint
(POST /api/v0/refs?arg=<cid>&recursive=true, as js-ipfs-era apps call it):
the DAG is pulled from the caller's connected peers onto a downstream, and a
200 means a downstream holds it. Preloading needs downstreams given by their
Kubo RPC API (--downstream-api): Kubo, or 'kitsune node'.

With no --downstream or --downstream-api, runs in embedded mode: two
in-process Helia nodes holding a sample file, each with a preload API on
127.0.0.1, become the downstreams (given by their APIs), preload mode is on
(on ${EMBEDDED_API_LISTEN} unless --preload-listen says otherwise), and the
commands that fetch the file through the proxy and preload a CID are
printed.`,
  configFile: true,
  options: z.object({
    key: string({ group: 'Identity', value: '<path>', path: true, help: 'libp2p protobuf private key file (as from \'ipfs key export\'); created (Ed25519, mode 0600) if missing', defaultText: `${DEFAULT_KEY_FILE} with downstreams; an ephemeral key in embedded mode` }),
    kuboConfig: string({ group: 'Identity', value: '<path>', path: true, help: 'take Identity.PrivKey from a Kubo config file; not with --key' }),
    listen: stringList({ group: 'Network', value: '<multiaddr>', help: 'listen addresses, TCP or WebSockets', default: DEFAULT_LISTEN }, checkMultiaddr),
    announce: stringList({ group: 'Network', value: '<multiaddr>', help: 'announce these instead of the listen addresses', unset: 'announce the listen addresses' }, checkMultiaddr),
    downstreams: stringList({ group: 'Downstreams', key: 'downstream', value: '<multiaddr>', help: 'a downstream node; must end in /p2p/<peer id>' }, checkDownstream),
    downstreamApis: stringList({ group: 'Downstreams', key: 'downstreamApi', value: '<multiaddr|url>', help: 'Kubo RPC API of a downstream; its peer id and addresses are learned from it' }, checkApiAddress),
    routes: list(route, { group: 'Downstreams', key: 'route', value: '<protocol>[=<strategy>]', help: 'bridge a protocol\'s streams. Strategies: sticky (default), least-outstanding, hash. \'dht\' stands for /ipfs/kad/1.0.0 and /ipfs/lan/kad/1.0.0. In the file, a route may also be a route object (below)' }, 'must be a route or a list of routes'),
    bitswap: flag(true, { group: 'Downstreams', help: 'do not forward Bitswap (no preload either)' }),
    preloadListen: string({ group: 'Preload', value: '<multiaddr|url>', help: 'serve the preload endpoint here, e.g. /ip4/0.0.0.0/tcp/5001 or http://0.0.0.0:5001; turns preload mode on. Its limits go in the config file\'s "preload" object', unset: `preload mode off; on ${EMBEDDED_API_LISTEN} in embedded mode` }, httpListenUrl),
    metricsListen: string({ group: 'Output', value: '<multiaddr>', help: 'serve Prometheus text at /metrics, e.g. /ip4/127.0.0.1/tcp/9090', unset: 'no metrics' }, checkHttpListen),
    json: flag(false, { group: 'Output', help: 'JSON lines on stdout: one \'ready\' line, then one line per event' }),
    frontDoor,
    pool,
    forwarder,
    preload: proxyPreload
  }),
  fileObjects: [{ title: 'A route object, in "route" (positive integers unless noted)', shape: routeObject.shape }],
  examples: [
    'kitsune proxy',
    `kitsune proxy --key preload.key --listen /ip4/0.0.0.0/tcp/4001 \\
  --listen /ip4/0.0.0.0/tcp/4002/ws \\
  --downstream /ip4/10.0.1.42/tcp/4001/p2p/12D3KooW... \\
  --downstream-api http://10.0.1.43:5001 --route dht=hash`,
    `kitsune proxy --key preload.key --listen /ip4/0.0.0.0/tcp/4002/ws \\
  --downstream-api http://10.0.1.43:5001 --preload-listen /ip4/0.0.0.0/tcp/5001`
  ],
  check (options, from) {
    if (options.key != null && options.kuboConfig != null) {
      throw new Error(`${from('key')} and ${from('kuboConfig')} both name an identity; give one`)
    }

    const seen = new Set<string>()
    for (const { protocols } of options.routes) {
      for (const protocol of protocols) {
        if (seen.has(protocol)) {
          throw new Error(`${from('routes')} names ${protocol} twice; a protocol can have one route`)
        }
        seen.add(protocol)
        if (options.bitswap && BITSWAP_PROTOCOLS.includes(protocol)) {
          throw new Error(`${from('routes')} ${protocol}: Bitswap cannot be bridged as a stream and is handled by the Bitswap forwarder; drop the route, or pass --no-bitswap`)
        }
      }
    }

    // a paused bridge may hold one receive window per stream
    const window = frontDoorMuxerOptions(options.frontDoor).streamOptions.maxStreamWindowSize
    for (const route of options.routes) {
      if (route.maxBufferedBytes != null && route.maxBufferedBytes < window) {
        throw new Error(`${from('routes')} ${route.protocols.join(',')}: maxBufferedBytes (${route.maxBufferedBytes}) must be at least the stream window (${window}, frontDoor.maxStreamWindowSize)`)
      }
    }

    if (options.preloadListen != null && !options.bitswap) {
      throw new Error(`${from('preloadListen')} needs the Bitswap forwarder, which ${from('bitswap')} turns off`)
    }
  }
})

/**
 * Everything `kitsune proxy` needs, after flags and config file are merged
 * and validated
 */
export type ProxyOptions = z.output<typeof proxyCommand.options>

/**
 * `kitsune proxy` options as a caller or a config file may give them, before
 * validation
 */
export type RawProxyOptions = z.input<typeof proxyCommand.options>

/**
 * The limits of a front-door node
 */
export type FrontDoorOptions = z.output<typeof frontDoor>

/**
 * Downstream pool timings
 */
export type PoolOptions = z.output<typeof pool>
