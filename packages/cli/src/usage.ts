import { DEFAULT_API_LISTEN, DEFAULT_GET_TIMEOUT, DEFAULT_KEY_FILE, DEFAULT_LISTEN, DEFAULT_NODE_LISTEN, EMBEDDED_API_LISTEN } from './constants.ts'

/**
 * `kitsune --help`
 */
export function mainUsage (): string {
  return `Usage: kitsune <command> [options]

Run Kitsune's libp2p services.

Commands:
  proxy          run the proxy router in front of downstream IPFS nodes
                 (with no downstream option: a self-contained demo)
  node           run a standalone Helia preload node (POST /api/v0/refs),
                 usable as a proxy downstream
  get <cid>      fetch a UnixFS file from one peer, e.g. through a proxy
  help [command] show help for a command

Options:
  -h, --help     show help
  -v, --version  show the version

Run 'kitsune <command> --help' for a command's options.
Logs: DEBUG=kitsune:* (add ,libp2p:* for libp2p's own).
`
}

/**
 * `kitsune proxy --help`
 */
export function proxyUsage (): string {
  return `Usage: kitsune proxy [options]

Run a libp2p node (TCP, WebSockets, noise, yamux, mplex, identify, ping) that
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
printed.

Identity:
  --key <path>                     libp2p protobuf private key file (as from
                                   'ipfs key export'); created (Ed25519, mode
                                   0600) if missing. Default: ${DEFAULT_KEY_FILE}, or an
                                   ephemeral key in embedded mode
  --kubo-config <path>             take Identity.PrivKey from a Kubo config file

Network:
  --listen <multiaddr>             repeatable. Default: ${DEFAULT_LISTEN.join(' and ')}
  --announce <multiaddr>           repeatable; announce these instead of the
                                   listen addresses

Downstreams:
  --downstream <multiaddr>         repeatable; must end in /p2p/<peer id>
  --downstream-api <multiaddr|url> repeatable; Kubo RPC API of a downstream, its
                                   peer id and addresses are learned from it
  --route <protocol>[=<strategy>]  repeatable; bridge a protocol's streams.
                                   Strategies: sticky (default),
                                   least-outstanding, hash. 'dht' stands for
                                   /ipfs/kad/1.0.0 and /ipfs/lan/kad/1.0.0
  --no-bitswap                     do not forward Bitswap (no preload either)

Preload:
  --preload-listen <multiaddr|url> serve the preload endpoint here, e.g.
                                   /ip4/0.0.0.0/tcp/5001 or http://0.0.0.0:5001;
                                   turns preload mode on. Limits (rateLimit,
                                   maxConcurrentRequests, maxDagBytes, ...) go
                                   in the config file's "preload" object

Output:
  --metrics-listen <multiaddr>     serve Prometheus text at /metrics, e.g.
                                   /ip4/127.0.0.1/tcp/9090
  --json                           JSON lines on stdout: one 'ready' line, then
                                   one line per event

  -c, --config <path>              read options from a JSON file; flags win
  -h, --help                       show this help

Examples:
  kitsune proxy
  kitsune proxy --key preload.key --listen /ip4/0.0.0.0/tcp/4001 \\
    --listen /ip4/0.0.0.0/tcp/4002/ws \\
    --downstream /ip4/10.0.1.42/tcp/4001/p2p/12D3KooW... \\
    --downstream-api http://10.0.1.43:5001 --route dht=hash
  kitsune proxy --key preload.key --listen /ip4/0.0.0.0/tcp/4002/ws \\
    --downstream-api http://10.0.1.43:5001 --preload-listen /ip4/0.0.0.0/tcp/5001
`
}

/**
 * `kitsune node --help`
 */
export function nodeUsage (): string {
  return `Usage: kitsune node [options]

Run a standalone Helia node with the Kubo-compatible preload endpoint
(POST /api/v0/refs?arg=<cid>&recursive=true) and POST /api/v0/id. Asked to
preload a CID, it fetches the whole DAG over Bitswap from the peers connected
to it and keeps it. It is a preload node of its own, and a downstream for
'kitsune proxy --downstream-api <its API>'.

It talks only to the peers that connect to it: TCP, WebSockets, noise,
yamux, mplex (as js-ipfs-era peers speak it), identify, ping; no bootstrap,
mDNS or delegated routing, and a DHT only with --dht.

Options:
  --listen <multiaddr>          repeatable; TCP, or WebSockets ending in /ws.
                                Default: ${DEFAULT_NODE_LISTEN.join(' and ')}
  --api-listen <multiaddr|url>  where the HTTP API listens.
                                Default: ${DEFAULT_API_LISTEN}
  --blockstore <dir>            keep blocks on disk in this directory (created
                                if missing). Default: in memory, lost on exit
  --key <path>                  libp2p protobuf private key file, created
                                (Ed25519, mode 0600) if missing, so the peer id
                                survives restarts. Default: a new key each run
  --metrics-listen <multiaddr>  serve Prometheus text at /metrics, e.g.
                                /ip4/127.0.0.1/tcp/9091
  --json                        JSON lines on stdout: one 'ready' line with the
                                peer id, addresses and API URL
  --dht                         serve the DHT, as Kubo does: /ipfs/kad/1.0.0
                                (peers with public addresses) and
                                /ipfs/lan/kad/1.0.0 (private ones); no
                                bootstrap, it learns the peers that connect.
                                A downstream for 'kitsune proxy --route dht'

  -c, --config <path>           read options from a JSON file; flags win.
                                Its "preload" object sets the API's limits
  -h, --help                    show this help

Examples:
  kitsune node --blockstore ./blocks --key node.key
  kitsune node --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/tcp/4002/ws \\
    --api-listen /ip4/10.0.1.43/tcp/5001 --blockstore /var/lib/kitsune/blocks \\
    --key /var/lib/kitsune/node.key
  kitsune proxy --downstream-api http://10.0.1.43:5001 --preload-listen /ip4/0.0.0.0/tcp/5001
`
}

/**
 * `kitsune get --help`
 */
export function getUsage (): string {
  return `Usage: kitsune get <cid> --peer <multiaddr> [options]

Fetch a UnixFS file over Bitswap from one peer only (a proxy, or any IPFS
node) with a throw-away Helia client, and write it to stdout or a file.

Options:
  -p, --peer <multiaddr>   the peer to fetch from (required)
  -o, --output <file>      write the file here instead of stdout
  -t, --timeout <ms>       give up after this long. Default: ${DEFAULT_GET_TIMEOUT}
  -h, --help               show this help

Example:
  kitsune get bafkreih... --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
`
}

/**
 * The usage text of a command, or the main usage
 */
export function usageFor (command?: string): string {
  switch (command) {
    case 'proxy': return proxyUsage()
    case 'node': return nodeUsage()
    case 'get': return getUsage()
    default: return mainUsage()
  }
}
