/**
 * `kitsune slices bridge|node|account`: the Ethereum state in verified
 * slices (`@kitsune/slice-sync`) — every flag, once
 */

import * as z from 'zod'
import { checkHttpListen, checkMultiaddr } from './addresses.ts'
import { command } from './command.ts'
import { flag, integerFlag, string, stringList, value } from './fields.ts'

/** The default listen address of the slice commands */
export const DEFAULT_SLICES_LISTEN = ['/ip4/0.0.0.0/tcp/0']

/** A 32-byte hex value such as a state root */
export function checkRoot (text: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(text)) {
    throw new Error(`"${text}" is not a 32-byte hex value (0x and 64 hex digits)`)
  }
  return text.toLowerCase()
}

/** A 20-byte hex address */
export function checkAddress (text: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) {
    throw new Error(`"${text}" is not an address (0x and 40 hex digits)`)
  }
  return text.toLowerCase()
}

/** mainnet, hoodi, sepolia, or a path to a genesis JSON file */
export function checkGenesis (text: string): string {
  if (text.trim() === '') {
    throw new Error('--genesis needs mainnet, hoodi, sepolia or a file')
  }
  return text
}

/** An http(s) URL */
export function checkRpcUrl (text: string): string {
  try {
    const url = new URL(text)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error('not http(s)')
    }
    return url.toString()
  } catch {
    throw new Error(`"${text}" is not an http(s) URL`)
  }
}

export const slicesBridgeCommand = command({
  name: 'slices bridge',
  summary: 'hold the whole Ethereum state and feed slice-sync peers',
  description: `Load a state (a known network's genesis or a genesis file), serve every
slice of it over /kitsune/slice-sync/1.0.0 and publish headers and deltas
over gossipsub. Peers verify everything it sends against their trusted root.`,
  configFile: false,
  group: 'Options',
  options: z.object({
    genesis: string({ value: '<name|file>', file: false, help: 'mainnet, hoodi, sepolia, or a genesis JSON file (geth "alloc" or address → balance)', defaultText: '(required)' }, checkGenesis),
    rpc: string({ value: '<url>', file: false, help: 'an execution client\'s JSON-RPC endpoint: follow its heads on top of the --genesis state and publish deltas', unset: 'the genesis state only' }, checkRpcUrl),
    listen: stringList({ value: '<multiaddr>', file: false, help: 'libp2p listen addresses', default: DEFAULT_SLICES_LISTEN }, checkMultiaddr),
    metricsListen: string({ value: '<multiaddr>', file: false, help: 'serve Prometheus text at /metrics (libp2p\'s and kitsune_slice_*), e.g. /ip4/127.0.0.1/tcp/9094', unset: 'no metrics' }, checkHttpListen),
    json: flag(false, { file: false, help: 'JSON lines on stdout: ready, then events' })
  }),
  check (options, from) {
    if (options.genesis == null) {
      throw new Error(`${from('genesis')} is required`)
    }
  },
  examples: [
    'kitsune slices bridge --genesis mainnet --listen /ip4/0.0.0.0/tcp/4001 --json'
  ]
})

export const slicesNodeCommand = command({
  name: 'slices node',
  summary: 'hold and serve a share of the Ethereum state, verified against a trusted root',
  description: `Join slice-sync peers through --bootstrap, take the slices this peer id is
responsible for (XOR distance within --radius, plus under-held ones), fetch
them with range proofs checked against --trusted-root, serve them, and follow
blocks through verified deltas.`,
  configFile: false,
  group: 'Options',
  options: z.object({
    bootstrap: stringList({ value: '<multiaddr>', file: false, help: 'peers to start from, /p2p/ included', defaultText: '(required)' }, checkMultiaddr),
    trustedRoot: string({ value: '<0x…>', file: false, help: 'the state root to trust', defaultText: '(required)' }, checkRoot),
    radius: integerFlag(3, { value: '<n>', file: false, help: 'serve the slices within this XOR distance of the peer id (radius + 1 slices)', min: 0, max: 65535 }),
    listen: stringList({ value: '<multiaddr>', file: false, help: 'libp2p listen addresses', default: DEFAULT_SLICES_LISTEN }, checkMultiaddr),
    metricsListen: string({ value: '<multiaddr>', file: false, help: 'serve Prometheus text at /metrics (libp2p\'s and kitsune_slice_*), e.g. /ip4/127.0.0.1/tcp/9095', unset: 'no metrics' }, checkHttpListen),
    json: flag(false, { file: false, help: 'JSON lines on stdout: ready, synced, then one block line per applied block' })
  }),
  check (options, from) {
    if (options.bootstrap.length === 0) {
      throw new Error(`${from('bootstrap')} is required`)
    }
    if (options.trustedRoot == null) {
      throw new Error(`${from('trustedRoot')} is required`)
    }
  },
  examples: [
    'kitsune slices node --bootstrap /ip4/10.0.1.42/tcp/4001/p2p/12D3KooW... --trusted-root 0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544 --json'
  ]
})

export const slicesAccountCommand = command({
  name: 'slices account',
  summary: 'print one account, verified with its Merkle proof',
  description: `Ask slice-sync peers for an account with its proof, verify the proof
against --root (or, without it, against the state root the first peer
follows), and print the account. Exits 1 with the reason when no peer gives
a proof that verifies.`,
  configFile: false,
  group: 'Options',
  options: z.object({
    address: value({ positional: true, file: false, value: '<0xaddress>', help: 'the account\'s address', defaultText: '(required)' }, checkAddress),
    peer: stringList({ value: '<multiaddr>', file: false, help: 'peers to ask, /p2p/ included', defaultText: '(required)' }, checkMultiaddr),
    root: string({ value: '<0x…>', file: false, help: 'the state root to verify against', unset: 'the first peer\'s current state root' }, checkRoot),
    json: flag(false, { file: false, help: 'print the account as one JSON object' })
  }),
  check (options, from) {
    if (options.peer.length === 0) {
      throw new Error(`${from('peer')} is required`)
    }
  },
  examples: [
    'kitsune slices account 0x000d836201318ec6899a67540690382780743280 --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... --json'
  ]
})

export type SlicesBridgeOptions = z.output<typeof slicesBridgeCommand.options>
export type SlicesNodeOptions = z.output<typeof slicesNodeCommand.options>
export type SlicesAccountOptions = z.output<typeof slicesAccountCommand.options>
