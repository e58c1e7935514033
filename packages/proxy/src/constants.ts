/**
 * The protocols of the ready-made DHT route, bridged to downstreams that run
 * a DHT server, as the js-ipfs preload nodes did for browsers that cannot
 * walk the DHT themselves: the public DHT `/ipfs/kad/1.0.0`, and the LAN DHT
 * `/ipfs/lan/kad/1.0.0` that js-ipfs and Kubo peers use with nodes they reach
 * over private addresses (their public DHT ignores such peers).
 */
export const DHT_PROTOCOLS = ['/ipfs/kad/1.0.0', '/ipfs/lan/kad/1.0.0']

/**
 * The balancing strategy a route uses when it names none
 *
 * @default 'sticky'
 */
export const DEFAULT_STRATEGY = 'sticky'

/**
 * Concurrent bridged streams one upstream peer may hold open on one route
 *
 * @default 32
 */
export const MAX_STREAMS_PER_PEER = 32

/**
 * Concurrent bridged streams the proxy opens on one downstream connection for
 * one protocol. Every upstream peer shares that connection, so this is far
 * above libp2p's per-connection default of 64.
 *
 * @default 4096
 */
export const MAX_STREAMS_PER_DOWNSTREAM = 4096

/**
 * A bridged stream on which no byte moves in either direction for this many ms
 * is reset on both sides
 *
 * @default 60000
 */
export const IDLE_TIMEOUT = 60_000

/**
 * How long opening the downstream side of a bridge may take, per attempt
 *
 * @default 10000
 */
export const SETUP_TIMEOUT = 10_000

/**
 * How many downstreams a bridge set-up tries before it gives up
 *
 * @default 3
 */
export const MAX_SETUP_ATTEMPTS = 3

/**
 * Bytes one side of a bridge may hold while it waits for the other side to
 * drain. Data already in flight when a side is paused lands here; above it
 * the stream is reset rather than buffered without bound.
 *
 * @default 4194304
 */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024

/**
 * How long a dial to a downstream may take
 *
 * @default 10000
 */
export const DIAL_TIMEOUT = 10_000

/**
 * First delay before a downstream that went down is dialled again; each
 * failure doubles it, up to `RECONNECT_MAX_DELAY`
 *
 * @default 500
 */
export const RECONNECT_INITIAL_DELAY = 500

/**
 * The cap on the reconnect delay
 *
 * @default 30000
 */
export const RECONNECT_MAX_DELAY = 30_000

/**
 * Consecutive failed stream opens after which a downstream is marked down and
 * its connection closed
 *
 * @default 3
 */
export const MAX_CONSECUTIVE_FAILURES = 3

/**
 * How long a request to a downstream's Kubo RPC API may take
 *
 * @default 10000
 */
export const API_TIMEOUT = 10_000

/**
 * The peer store tag that keeps the connection manager from pruning
 * downstream connections
 */
export const DOWNSTREAM_TAG = 'kitsune-downstream'

/**
 * Front door: new inbound connections per second accepted from one host
 * (libp2p's default of 5 refuses a busy NAT)
 *
 * @default 100
 */
export const INBOUND_CONNECTION_THRESHOLD = 100

/**
 * Front door: inbound connections that may be mid-upgrade at once
 *
 * @default 256
 */
export const MAX_INCOMING_PENDING_CONNECTIONS = 256

/**
 * Front door: connections held before the connection manager prunes the
 * least valuable (downstreams are tagged and kept)
 *
 * @default 2048
 */
export const MAX_CONNECTIONS = 2048

/**
 * Front door: the largest yamux receive window per stream. Pausing a stream
 * only stops window updates, so this is what a paused bridge side can still
 * receive. Per-stream throughput is at most window / RTT (1 MiB at 100 ms is
 * 10 MiB/s).
 *
 * @default 1048576
 */
export const MAX_STREAM_WINDOW = 1024 * 1024

/**
 * Front door: new mplex streams one connection may open per second before
 * the connection is closed. js-ipfs-era Bitswap opens a stream for every
 * message (a 16 MiB fetch opens well over a hundred a second); mplex has no
 * flow control, so past this rate cutting the connection is the only brake.
 * `@libp2p/mplex` defaults to 5, which cuts off every js-ipfs client.
 *
 * @default 500
 */
export const MPLEX_NEW_STREAMS_PER_SECOND = 500

/**
 * Front door: the largest mplex frame a peer may send (larger ones close the
 * connection); js-ipfs splits messages at 1 MiB
 *
 * @default 1048576
 */
export const MPLEX_MAX_MESSAGE_SIZE = 1024 * 1024

/**
 * Front door: bytes of not yet decoded mplex frames held per connection
 * before it is closed
 *
 * @default 4194304
 */
export const MPLEX_MAX_UNPROCESSED_BYTES = 4 * 1024 * 1024
