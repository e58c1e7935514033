/**
 * `kitsune node`: every flag and config key, once
 */

import * as z from 'zod'
import { DEFAULT_API_LISTEN, DEFAULT_NODE_LISTEN } from '../constants.ts'
import { checkHttpListen, checkMultiaddr, httpListenUrl } from './addresses.ts'
import { command } from './command.ts'
import { flag, string, stringList, stringWithDefault } from './fields.ts'
import { nodePreload } from './preload.ts'

export const nodeCommand = command({
  name: 'node',
  summary: 'run a standalone Helia preload node (POST /api/v0/refs), usable as a proxy downstream',
  description: `Run a standalone Helia node with the Kubo-compatible preload endpoint
(POST /api/v0/refs?arg=<cid>&recursive=true) and POST /api/v0/id. Asked to
preload a CID, it fetches the whole DAG over Bitswap from the peers connected
to it and keeps it. It is a preload node of its own, and a downstream for
'kitsune proxy --downstream-api <its API>'.

It talks only to the peers that connect to it: TCP, WebSockets, noise,
yamux, mplex (as js-ipfs-era peers speak it), identify, ping; no bootstrap,
mDNS or delegated routing, and a DHT only with --dht.`,
  configFile: true,
  group: 'Options',
  configHelp: 'Its "preload" object sets the API\'s limits',
  options: z.object({
    listen: stringList({ value: '<multiaddr>', help: 'libp2p listen addresses; TCP, or WebSockets ending in /ws', default: DEFAULT_NODE_LISTEN }, checkMultiaddr),
    apiListen: stringWithDefault(DEFAULT_API_LISTEN, { value: '<multiaddr|url>', help: 'where the HTTP API listens (port 0 picks one, see the \'ready\' line)' }, httpListenUrl),
    blockstore: string({ value: '<dir>', path: true, help: 'keep blocks on disk in this directory (created if missing)', unset: 'in memory, lost on exit' }),
    key: string({ value: '<path>', path: true, help: 'libp2p protobuf private key file, created (Ed25519, mode 0600) if missing, so the peer id survives restarts', unset: 'a new key each run' }),
    metricsListen: string({ value: '<multiaddr>', help: 'serve Prometheus text at /metrics, e.g. /ip4/127.0.0.1/tcp/9091', unset: 'no metrics' }, checkHttpListen),
    json: flag(false, { help: 'JSON lines on stdout: one \'ready\' line with the peer id, addresses and API URL' }),
    dht: flag(false, { help: 'serve the DHT, as Kubo does: /ipfs/kad/1.0.0 (peers with public addresses) and /ipfs/lan/kad/1.0.0 (private ones); no bootstrap, it learns the peers that connect. A downstream for \'kitsune proxy --route dht\'' }),
    preload: nodePreload
  }),
  examples: [
    'kitsune node --blockstore ./blocks --key node.key',
    `kitsune node --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/tcp/4002/ws \\
  --api-listen /ip4/10.0.1.43/tcp/5001 --blockstore /var/lib/kitsune/blocks \\
  --key /var/lib/kitsune/node.key`,
    'kitsune proxy --downstream-api http://10.0.1.43:5001 --preload-listen /ip4/0.0.0.0/tcp/5001'
  ]
})

/**
 * Everything `kitsune node` needs, after flags and config file are merged
 * and validated
 */
export type NodeOptions = z.output<typeof nodeCommand.options>

/**
 * `kitsune node` options as a caller or a config file may give them, before
 * validation
 */
export type RawNodeOptions = z.input<typeof nodeCommand.options>
