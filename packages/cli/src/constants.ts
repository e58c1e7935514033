import { DHT_PROTOCOLS } from '@kitsune/proxy'

/**
 * Where `kitsune proxy` listens when no `--listen` is given: TCP and
 * WebSockets on the loopback interface, on ports the OS picks. Nothing is
 * reachable from other machines until the operator says so.
 *
 * @default ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']
 */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

/**
 * Where `kitsune node` listens for libp2p connections when no `--listen` is
 * given: TCP on the loopback interface, on a port the OS picks
 *
 * @default ['/ip4/127.0.0.1/tcp/0']
 */
export const DEFAULT_NODE_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/**
 * Where `kitsune node` serves its HTTP API (`/api/v0/refs`, `/api/v0/id`)
 * when no `--api-listen` is given: Kubo's API port, on the loopback
 * interface
 *
 * @default '/ip4/127.0.0.1/tcp/5001'
 */
export const DEFAULT_API_LISTEN = '/ip4/127.0.0.1/tcp/5001'

/**
 * Where the preload endpoints of embedded mode listen: the proxy's (unless
 * `--preload-listen` says otherwise) and each in-process downstream's API,
 * on the loopback interface, on ports the OS picks
 *
 * @default '/ip4/127.0.0.1/tcp/0'
 */
export const EMBEDDED_API_LISTEN = '/ip4/127.0.0.1/tcp/0'

/**
 * The key file `kitsune proxy` uses when downstreams are configured and
 * neither `--key` nor `--kubo-config` is given. A front door needs a stable
 * peer id, so the key is created on first run and reused afterwards
 * (relative to the working directory). Embedded mode uses an ephemeral key
 * instead unless `--key` is given.
 *
 * @default './kitsune.key'
 */
export const DEFAULT_KEY_FILE = './kitsune.key'

/**
 * The balancing strategy of a `--route` that names none
 *
 * @default 'sticky'
 */
export const DEFAULT_ROUTE_STRATEGY = 'sticky'

/**
 * Route aliases accepted by `--route` in place of a protocol id
 */
export const ROUTE_ALIASES: Readonly<Record<string, string[]>> = {
  dht: DHT_PROTOCOLS
}

/**
 * Protocol ids the Bitswap forwarder handles; a `--route` may not claim them
 * while the forwarder runs
 */
export const BITSWAP_PROTOCOLS = ['/ipfs/bitswap', '/ipfs/bitswap/1.0.0', '/ipfs/bitswap/1.1.0', '/ipfs/bitswap/1.2.0']

/**
 * The HTTP path Prometheus text is served at
 *
 * @default '/metrics'
 */
export const METRICS_PATH = '/metrics'

/**
 * How long `kitsune get` waits for the whole file before giving up, in ms
 *
 * @default 60000
 */
export const DEFAULT_GET_TIMEOUT = 60_000

/**
 * How long a graceful shutdown may take before the process exits anyway, in
 * ms
 *
 * @default 10000
 */
export const SHUTDOWN_TIMEOUT = 10_000

/**
 * How many in-process Helia downstreams embedded mode starts
 *
 * @default 2
 */
export const EMBEDDED_DOWNSTREAMS = 2

/**
 * Exit code: success, including a clean shutdown on SIGINT/SIGTERM
 */
export const EXIT_OK = 0

/**
 * Exit code: a runtime failure (unreadable key, cannot listen, fetch failed)
 */
export const EXIT_FAILURE = 1

/**
 * Exit code: bad flags or a bad config file
 */
export const EXIT_USAGE = 2
