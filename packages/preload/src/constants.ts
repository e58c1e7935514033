/**
 * Where the HTTP API listens unless `listen` is given (Kubo's API address)
 *
 * @default '/ip4/127.0.0.1/tcp/5001'
 */
export const LISTEN = '/ip4/127.0.0.1/tcp/5001'

/**
 * Origins allowed by CORS: any, as the public preload nodes were
 *
 * @default '*'
 */
export const CORS = '*'

/**
 * Requests one client address may make per `rateLimitInterval`
 *
 * @default 60
 */
export const RATE_LIMIT = 60

/**
 * The rate limit's window, in ms
 *
 * @default 60000
 */
export const RATE_LIMIT_INTERVAL = 60_000

/**
 * Refs requests served at once
 *
 * @default 32
 */
export const MAX_CONCURRENT_REQUESTS = 32

/**
 * Refs requests from one client address served at once
 *
 * @default 4
 */
export const MAX_CONCURRENT_REQUESTS_PER_ADDRESS = 4

/**
 * Refs requests from one client address that may wait for a slot; more are
 * answered 429
 *
 * @default 64
 */
export const MAX_QUEUED_REQUESTS_PER_ADDRESS = 64

/**
 * Largest request body read, in bytes
 *
 * @default 65536
 */
export const MAX_BODY_SIZE = 64 * 1024

/**
 * Longest request target (path and query), in bytes
 *
 * @default 8192
 */
export const MAX_QUERY_SIZE = 8 * 1024

/**
 * CIDs (`arg`) one request may name
 *
 * @default 16
 */
export const MAX_ARGS = 16

/**
 * Blocks one request may reach
 *
 * @default 100000
 */
export const MAX_DAG_BLOCKS = 100_000

/**
 * Block bytes one request may fetch
 *
 * @default 536870912
 */
export const MAX_DAG_BYTES = 512 * 1024 * 1024

/**
 * ms one refs request may take in all
 *
 * @default 300000
 */
export const REQUEST_TIMEOUT = 300_000

/**
 * ms a client has, from connecting (on a kept-alive connection: from the
 * first byte of the next request), to send a request line and headers; then it
 * is answered 408 and the connection closed. Go's servers commonly allow
 * 10 s; Node's own default of 60 s, checked every 30 s, held half a request
 * line 81 s.
 *
 * @default 10000
 */
export const HEADERS_TIMEOUT = 10_000

/**
 * ms a client has to send a whole request, headers and body; then it is
 * answered 408 and the connection closed. Node's own default held a POST
 * whose body never came 300 s.
 *
 * @default 30000
 */
export const BODY_TIMEOUT = 30_000

/**
 * ms an idle kept-alive connection stays open for its next request (Node
 * keeps it up to 1 s longer, so a client that reuses it at the advertised
 * limit does not race the close)
 *
 * @default 5000
 */
export const KEEP_ALIVE_TIMEOUT = 5_000

/**
 * Blocks fetched at once by one refs traversal, and how far ahead of the
 * output it fetches among a node's links. On loopback (2 cores, Helia to Helia) a 16 MiB
 * UnixFS file in 64 blocks of 256 KiB preloads in ~1.6 s with 1, ~0.7 s
 * with 4, ~0.5 s with 16 and ~0.3–0.5 s with 32.
 *
 * @default 16
 */
export const FETCH_CONCURRENCY = 16

/**
 * The `format` Kubo uses when none is given: the link's target CID
 *
 * @default '<dst>'
 */
export const DEFAULT_FORMAT = '<dst>'

/**
 * The `format` that `edges` stands for
 *
 * @default '<src> -> <dst>'
 */
export const EDGES_FORMAT = '<src> -> <dst>'

/**
 * How long `stop()` waits for open requests to end before closing their
 * connections, in ms
 *
 * @default 1000
 */
export const STOP_GRACE = 1_000

/**
 * The prefix of the Kubo RPC API
 *
 * @default '/api/v0/'
 */
export const API_PREFIX = '/api/v0/'

/**
 * go-ipfs-cmds `ErrNormal`: the command failed
 */
export const ERR_NORMAL = 0

/**
 * go-ipfs-cmds `ErrClient`: the client made an invalid request
 */
export const ERR_CLIENT = 1

/**
 * go-ipfs-cmds `ErrRateLimited`
 */
export const ERR_RATE_LIMITED = 3

/**
 * The headers go-ipfs-cmds allows and exposes to browsers
 */
export const EXPOSED_HEADERS = 'X-Stream-Output, X-Chunked-Output, X-Content-Length, X-Stream-Error'

/**
 * Kubo's `ProtocolVersion` in `/api/v0/id`
 *
 * @default 'ipfs/0.1.0'
 */
export const PROTOCOL_VERSION = 'ipfs/0.1.0'

/**
 * The key of the proxy service in `services` (proxy mode)
 *
 * @default 'proxy'
 */
export const PROXY_SERVICE = 'proxy'

/**
 * The key of the Bitswap forwarder service in `services` (proxy mode)
 *
 * @default 'bitswapForwarder'
 */
export const FORWARDER_SERVICE = 'bitswapForwarder'

/**
 * Upstream peers asked at once when confirming who holds a root (proxy mode)
 *
 * @default 16
 */
export const MAX_PROBED_PEERS = 16
