/**
 * Scenarios on top of the lab: real `kitsune relay` / `kitsune peer`
 * processes (and the stock js-libp2p comparison peer) inside namespaces.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { INTERNET_CIDR } from './lab.js'

export const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url))
export const CLI = fileURLToPath(new URL('../../packages/cli/dist/src/bin.js', import.meta.url))
export const STOCK_PEER = fileURLToPath(new URL('../scripts/stock-peer.js', import.meta.url))
export const BENCH_NODE = fileURLToPath(new URL('../scripts/bench-node.js', import.meta.url))

/** Throws unless the CLI has been built */
export function assertBuilt () {
  if (!existsSync(CLI)) {
    throw new Error(`NAT lab: ${CLI} is missing; build first (npx tsc -b packages/cli)`)
  }
}

/**
 * The TCP sockets of a host (`ss -tan`), also the ones in TIME-WAIT: every
 * connection the host made or tried lately, as { state, local, peer }
 */
export function tcpSockets (lab, host) {
  return lab.sockets(host).split('\n').slice(1).map(l => l.trim().split(/\s+/)).filter(c => c.length >= 5)
    .map(c => ({ state: c[0], local: c[3], peer: c[4] }))
}

/** Starts `n` relays on their own hosts, each bootstrapping to the first; resolves with their ready events */
export async function startRelays (lab, n, { prefix = 'r' } = {}) {
  const relays = []
  for (let i = 0; i < n; i++) {
    const host = lab.addPublicHost(`${prefix}${i + 1}`)
    const args = [CLI, 'relay', '--listen', `/ip4/${host.addr}/tcp/4001`, '--stun-listen', `${host.addr}:3478`, '--public-cidr', INTERNET_CIDR, '--json']
    if (relays.length > 0) {
      args.push('--bootstrap', relays[0].ready.multiaddrs[0])
    }
    const proc = lab.spawn(host, NODE, args)
    const ready = await proc.waitFor(e => e.event === 'ready', 20_000, `relay ${host.name} ready`)
    relays.push({ host, proc, ready, peerId: ready.peerId, addr: ready.multiaddrs[0] })
  }
  return relays
}

/** Starts `kitsune peer` in `host` */
export function startPeer (lab, host, relays, { dial, punchPort = 4001, bootstrap, transports } = {}) {
  const args = [CLI, 'peer', '--punch-port', String(punchPort), '--public-cidr', INTERNET_CIDR, '--json']
  if (transports != null) {
    args.push('--transports', transports)
  }
  for (const b of bootstrap ?? relays.map(r => r.addr)) {
    args.push('--bootstrap', b)
  }
  if (dial != null) {
    args.push('--dial', dial)
  }
  return lab.spawn(host, NODE, args)
}

/** Starts the stock js-libp2p comparison peer in `host` */
export function startStockPeer (lab, host, relayAddr, { dial, window = 8000 } = {}) {
  const args = [STOCK_PEER, relayAddr, '--window', String(window)]
  if (dial != null) {
    args.push('--dial', dial)
  }
  return lab.spawn(host, NODE, args)
}

/**
 * One punch attempt between two fresh peers behind `kindA`/`kindB`:
 * B waits with a reservation, A dials B. Resolves with what A reported.
 */
export async function punchOnce (lab, relays, a, b, { stock = false, timeout = 40_000, transports } = {}) {
  const pb = stock ? startStockPeer(lab, b, relays[0].addr) : startPeer(lab, b, relays, { transports })
  try {
    const bReady = await pb.waitFor(e => e.event === 'ready', 20_000, 'B ready')
    await pb.waitFor(e => e.event === 'reservation', 30_000, 'B reservation')
    const pa = stock ? startStockPeer(lab, a, relays[0].addr, { dial: bReady.peerId }) : startPeer(lab, a, relays, { dial: bReady.peerId, transports })
    try {
      const relayed = await pa.waitFor(e => e.event === 'relayed', timeout, 'A relayed')
      const end = await pa.waitFor(e => e.event === 'direct' || e.event === 'punch-failed', timeout, 'A direct or punch-failed')
      const protocol = await pa.waitFor(e => e.event === 'protocol' || e.event === 'error', 15_000, 'A protocol').catch(err => ({ event: 'error', message: err.message }))
      return { a: pa, b: pb, relayed, end, protocol, bPeerId: bReady.peerId, aSockets: tcpSockets(lab, a) }
    } finally {
      await pa.kill()
    }
  } finally {
    await pb.kill()
  }
}
