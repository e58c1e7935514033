import { DEFAULT_GET_TIMEOUT, DEFAULT_KEY_FILE, DEFAULT_LISTEN } from './constants.ts'

/**
 * `kitsune --help`
 */
export function mainUsage (): string {
  return `Usage: kitsune <command> [options]

Run Kitsune's libp2p services.

Commands:
  proxy          run the proxy router in front of downstream IPFS nodes
                 (with no downstream option: a self-contained demo)
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

With no --downstream or --downstream-api, runs in embedded mode: two
in-process Helia nodes holding a sample file become the downstreams, and the
command that fetches it through the proxy is printed.

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
                                   /ipfs/kad/1.0.0
  --no-bitswap                     do not forward Bitswap

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
    case 'get': return getUsage()
    default: return mainUsage()
  }
}
