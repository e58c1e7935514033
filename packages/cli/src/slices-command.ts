/**
 * `kitsune slices bridge|node|account`: the Ethereum state in verified slices
 * (`@kitsune/slice-sync`). The bridge holds a whole state and feeds the
 * network; a node holds the slices its peer id is responsible for; account
 * prints one account after verifying its proof.
 */

import { readFile } from 'node:fs/promises'
import { getGenesis } from '@ethereumjs/genesis'
import { genesisSource, jsonRpcSource, sliceGossip, sliceSync } from '@kitsune/slice-sync'
import { identify } from '@libp2p/identify'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { runDaemon } from './command.ts'
import { EXIT_FAILURE, EXIT_OK } from './constants.ts'
import { CommandError } from './errors.ts'
import { prometheusEndpoint } from './metrics-server.ts'
import { eventPrinter, printMetricsUrl } from './output.ts'
import type { OutputStreams } from './output.ts'
import type { SlicesAccountOptions, SlicesBridgeOptions, SlicesNodeOptions } from './schema/slices.ts'
import type { GenesisAlloc, SliceSync, SliceSyncInit } from '@kitsune/slice-sync'
import type { Libp2p, Metrics } from '@libp2p/interface'

const log = logger('kitsune:cli:slices')

/** Chain ids of the genesis states `--genesis` knows by name */
export const KNOWN_GENESIS: Record<string, number> = { mainnet: 1, sepolia: 11155111, hoodi: 560048 }

type SliceNode = Libp2p<{ identify: unknown, pubsub: unknown, sliceSync: SliceSync }> & { stop(): Promise<void> }

/** A slice daemon: its node, and its Prometheus endpoint with `--metrics-listen` */
interface SliceDaemon {
  node: SliceNode
  metricsUrl?: string
  stop(): Promise<void>
}

function hex (bytes: Uint8Array): string {
  return '0x' + Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')
}

/**
 * A genesis allocation by name or from a file: a geth genesis (`alloc` of
 * `{ balance, code?, storage?, nonce? }`) or a map of address → balance
 */
export async function loadGenesis (genesis: string): Promise<GenesisAlloc> {
  const id = KNOWN_GENESIS[genesis]
  if (id != null) {
    const alloc = getGenesis(id)
    if (alloc == null) {
      throw new CommandError(`no genesis state for ${genesis}`)
    }
    return alloc as unknown as GenesisAlloc
  }
  let json: any
  try {
    json = JSON.parse(await readFile(genesis, 'utf8'))
  } catch (err: any) {
    throw new CommandError(`cannot read the genesis file ${genesis}: ${err.message}`)
  }
  const alloc = json?.alloc ?? json
  if (alloc == null || typeof alloc !== 'object') {
    throw new CommandError(`${genesis} has no "alloc" object`)
  }
  const out: GenesisAlloc = {}
  for (const [address, value] of Object.entries<any>(alloc)) {
    const key = address.startsWith('0x') ? address.toLowerCase() : `0x${address.toLowerCase()}`
    if (!/^0x[0-9a-f]{40}$/.test(key)) {
      throw new CommandError(`${genesis}: "${address}" is not an address`)
    }
    if (typeof value === 'string') {
      out[key] = value
    } else if (Array.isArray(value)) {
      out[key] = value as any
    } else if (value != null && typeof value === 'object') {
      const balance = value.balance == null ? '0x0' : `0x${BigInt(value.balance).toString(16)}`
      const storage = Object.entries<string>(value.storage ?? {}).map(([slot, v]) => [slot, v] as [string, string])
      out[key] = [balance, value.code, storage, value.nonce == null ? undefined : `0x${BigInt(value.nonce).toString(16)}`]
    } else {
      throw new CommandError(`${genesis}: the entry of ${address} is neither a balance nor an account object`)
    }
  }
  return out
}

async function startSliceNode (listen: string[], init: SliceSyncInit, metrics?: (components: any) => Metrics): Promise<SliceNode> {
  try {
    return await createLibp2p({
      metrics,
      addresses: { listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // peers announce their addresses; any of them may be dialled
      connectionGater: { denyDialMultiaddr: () => false },
      services: {
        identify: identify(),
        pubsub: sliceGossip({ loopback: listen.every(l => l.startsWith('/ip4/127.')) }),
        sliceSync: sliceSync(init)
      }
    }) as unknown as SliceNode
  } catch (err: any) {
    throw new CommandError(`cannot start the node: ${err.message}`, { cause: err })
  }
}

/**
 * Starts a slice node and, with `--metrics-listen`, its Prometheus endpoint
 */
async function startSliceDaemon (listen: string[], init: SliceSyncInit, metricsListen?: string): Promise<SliceDaemon> {
  const prometheus = prometheusEndpoint(metricsListen)
  const node = await startSliceNode(listen, init, prometheus.metrics)
  const served = await prometheus.serve(node)
  return { node, metricsUrl: served.url, stop: served.stop }
}

/**
 * Runs `kitsune slices bridge` until SIGINT or SIGTERM
 */
export async function runSlicesBridge (options: SlicesBridgeOptions, streams?: OutputStreams): Promise<number> {
  const alloc = await loadGenesis(options.genesis as string)
  // with --rpc: the genesis state, then the client's heads (changed accounts
  // from its traces, values checked against eth_getProof)
  const source = options.rpc == null ? genesisSource(alloc) : jsonRpcSource({ url: options.rpc, genesis: alloc })
  return runDaemon<SliceDaemon>({
    command: 'slices bridge',
    json: options.json,
    streams,
    log,
    start: async () => startSliceDaemon(options.listen, { source }, options.metricsListen),
    ready: ({ node, metricsUrl }, output) => {
      const s = node.services.sliceSync
      const multiaddrs = node.getMultiaddrs().map(String)
      eventPrinter(output, options.json)({
        event: 'ready',
        peerId: node.peerId.toString(),
        multiaddrs,
        stateRoot: hex(s.stateRoot as Uint8Array),
        accounts: s.progress().accounts
      }, `peer id      ${node.peerId.toString()}\n${multiaddrs.map(m => `listening on ${m}`).join('\n')}\nstate root   ${hex(s.stateRoot as Uint8Array)} (${s.progress().accounts} accounts)\nready`)
      printMetricsUrl(output, options.json, metricsUrl)
    },
    started: ({ node }, output) => {
      const emit = eventPrinter(output, options.json)
      node.services.sliceSync.addEventListener('block', (evt) => {
        emit({ event: 'block', number: Number(evt.detail.number), hash: evt.detail.hash, stateRoot: evt.detail.stateRoot }, `block        ${evt.detail.number} ${evt.detail.hash} state root ${evt.detail.stateRoot}`)
      })
      node.services.sliceSync.addEventListener('source:error', (evt) => {
        emit({ event: 'warning', message: `state source: ${evt.detail.message}` }, `warning: state source: ${evt.detail.message}`)
      })
    }
  })
}

/**
 * Runs `kitsune slices node` until SIGINT or SIGTERM
 */
export async function runSlicesNode (options: SlicesNodeOptions, streams?: OutputStreams): Promise<number> {
  return runDaemon<SliceDaemon>({
    command: 'slices node',
    json: options.json,
    streams,
    log,
    start: async () => startSliceDaemon(options.listen, { trustedRoot: options.trustedRoot as string, radius: options.radius }, options.metricsListen),
    ready: ({ node, metricsUrl }, output) => {
      const multiaddrs = node.getMultiaddrs().map(String)
      eventPrinter(output, options.json)({
        event: 'ready',
        peerId: node.peerId.toString(),
        multiaddrs,
        stateRoot: options.trustedRoot
      }, `peer id      ${node.peerId.toString()}\n${multiaddrs.map(m => `listening on ${m}`).join('\n')}\ntrusted root ${options.trustedRoot as string}\nready`)
      printMetricsUrl(output, options.json, metricsUrl)
    },
    started: ({ node }, output) => {
      const emit = eventPrinter(output, options.json)
      const s = node.services.sliceSync
      s.addEventListener('synced', (evt) => {
        emit({ event: 'synced', slices: s.heldSlices(), accounts: evt.detail.accounts, stateRoot: evt.detail.stateRoot }, `synced       slices ${s.heldSlices().join(',')} (${evt.detail.accounts} accounts) at ${evt.detail.stateRoot as string}`)
      })
      s.addEventListener('block', (evt) => {
        emit({ event: 'block', number: Number(evt.detail.number), hash: evt.detail.hash, stateRoot: evt.detail.stateRoot }, `block        ${evt.detail.number} ${evt.detail.hash} state root ${evt.detail.stateRoot}`)
      })
      s.addEventListener('peer:penalised', (evt) => {
        emit({ event: 'warning', message: `penalised ${evt.detail.peer.toString()}: ${evt.detail.reason}` }, `warning: penalised ${evt.detail.peer.toString()}: ${evt.detail.reason}`)
      })
      void Promise.all(options.bootstrap.map(async b => {
        try {
          await node.dial(multiaddr(b), { signal: AbortSignal.timeout(10_000) })
        } catch (err: any) {
          emit({ event: 'warning', message: `bootstrap ${b} unreachable: ${err.message}` }, `warning: bootstrap ${b} unreachable: ${err.message}`)
        }
      }))
    }
  })
}

/**
 * Runs `kitsune slices account`: prints the verified account, or exits 1
 * with the reason
 */
export async function runSlicesAccount (options: SlicesAccountOptions, streams: OutputStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const node = await startSliceNode(['/ip4/127.0.0.1/tcp/0'], { replication: 0, maxSlices: 0 })
  try {
    const s = node.services.sliceSync
    let root = options.root
    const errors: string[] = []
    for (const address of options.peer) {
      try {
        const connection = await node.dial(multiaddr(address), { signal: AbortSignal.timeout(10_000) })
        root ??= hex(await s.peerStateRoot(connection.remotePeer))
      } catch (err: any) {
        errors.push(`${address}: ${err.message}`)
      }
    }
    if (root == null) {
      throw new CommandError(`no peer could be reached (${errors.join('; ')})`)
    }
    const account = await s.getAccount(options.address as string, { root, signal: AbortSignal.timeout(30_000) })
    if (account == null) {
      throw new CommandError(`${options.address as string} does not exist at ${root} (its absence is proven)`)
    }
    const line = {
      address: options.address,
      nonce: Number(account.nonce),
      balance: account.balance.toString(),
      storageRoot: hex(account.storageRoot),
      codeHash: hex(account.codeHash),
      stateRoot: account.stateRoot
    }
    streams.stdout.write(options.json ? JSON.stringify(line) + '\n' : Object.entries(line).map(([k, v]) => `${k.padEnd(12)} ${String(v)}`).join('\n') + '\n')
    return EXIT_OK
  } catch (err: any) {
    streams.stderr.write(`kitsune slices account: ${err.message}\n`)
    return EXIT_FAILURE
  } finally {
    await node.stop()
  }
}
