/**
 * `kitsune peer`: a peer behind a NAT. Checks its reachability (AutoNAT with
 * a quorum), reserves on the relays XOR-closest to its peer id when it is
 * not reachable, and with --dial finds the other peer's closest relays the
 * same way, connects through one and upgrades to a direct connection
 * (DCUtR over the punch port). Contacts only its --bootstrap relays and the
 * peers they lead to.
 */

import { createServer } from 'node:net'
import { AddressPolicy, detectPunchSupport, punchPeerServices, punchPeerTransports } from '@kitsune/hole-punch'
import { loadOrCreateKeyFile } from '@kitsune/proxy'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { runDaemon } from './command.ts'
import { CommandError } from './errors.ts'
import { prometheusEndpoint } from './metrics-server.ts'
import { eventPrinter, printMetricsUrl } from './output.ts'
import { allowedDial } from './relay-command.ts'
import type { OutputStreams } from './output.ts'
import type { PeerOptions } from './schema/peer.ts'
import type { ClosestRelays, HolePunchService, Reachability } from '@kitsune/hole-punch'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('kitsune:cli:peer')

/**
 * Forces the punch mode of `kitsune peer` (`fixed-port`): for tests of the
 * fallback on a Node.js that has `net.BoundSocket`. Not part of the CLI
 * contract.
 */
export const PUNCH_MODE_ENV = 'KITSUNE_PUNCH_MODE'

/** How long the whole dial-and-punch may take before `punch-failed`, in ms */
export const PEER_PUNCH_DEADLINE = 60_000

type PeerServices = {
  holePunch: HolePunchService
  reachability: Reachability
  relays: ClosestRelays
  ping: unknown
}

export interface RunningPeer {
  libp2p: Libp2p<PeerServices>
  /** `reuse-port` or `fixed-port` (see `punchTCP()`) */
  mode: 'reuse-port' | 'fixed-port'
  /** The port punches leave from (fixed-port), or undefined (the listen port) */
  punchPort?: number
  /** The Prometheus URL, with `--metrics-listen` */
  metricsUrl?: string
  stop(): Promise<void>
}

/** A TCP port nothing listens on right now (picked by the OS) */
async function freePort (): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '0.0.0.0', port: 0 }, () => {
      const port = (server.address() as { port: number }).port
      server.close(() => { resolve(port) })
    })
  })
}

/**
 * The punch mode: `reuse-port` where this Node.js has SO_REUSEPORT listeners
 * and `net.BoundSocket` (the listener shares the punch port), else
 * `fixed-port` (punches leave from the punch port, which no listener may
 * hold, so the listener takes another port)
 */
export async function choosePunchMode (punchPort: number, env: NodeJS.ProcessEnv = process.env): Promise<{ mode: 'reuse-port' | 'fixed-port', listenPort: number, punchPort?: number }> {
  const support = detectPunchSupport()
  const forced = env[PUNCH_MODE_ENV]
  if (forced != null && forced !== '' && forced !== 'fixed-port' && forced !== 'auto') {
    throw new CommandError(`${PUNCH_MODE_ENV} must be fixed-port or auto, not "${forced}"`)
  }
  if (forced !== 'fixed-port' && support.boundSocket && support.reusePortListen) {
    return { mode: 'reuse-port', listenPort: punchPort }
  }
  return { mode: 'fixed-port', listenPort: 0, punchPort: punchPort === 0 ? await freePort() : punchPort }
}

/**
 * Starts the libp2p node of `kitsune peer` (no network activity beyond
 * listening yet)
 */
export async function startPeer (options: PeerOptions, onWarning: (message: string) => void = () => {}): Promise<RunningPeer> {
  const privateKey = options.key != null ? (await loadOrCreateKeyFile(options.key)).privateKey : undefined
  const policy = new AddressPolicy(options.publicCidr)
  // with --public-cidr only public addresses and the --bootstrap ones are
  // dialed, never the loopback/private addresses other peers announce
  const explicit = options.bootstrap.map(a => multiaddr(a))
  const webrtc = options.transports.split(',').includes('webrtc')
  const punch = await choosePunchMode(options.punchPort)
  if (punch.mode === 'fixed-port') {
    onWarning(`punch mode fixed-port (this Node.js has no net.BoundSocket/reusePort listeners, or ${PUNCH_MODE_ENV} forced it): punches leave from port ${punch.punchPort ?? 0}, the listener uses another port`)
  }
  const transports = punchPeerTransports({ publicCidrs: options.publicCidr, tcp: { mode: punch.mode, punchPort: punch.punchPort } })
  if (webrtc) {
    // loaded only when asked for: node-datachannel's threads keep a process alive
    const { webRTCFromRelays } = await import('@kitsune/hole-punch/webrtc')
    transports.splice(1, 0, webRTCFromRelays())
  }
  const prometheus = prometheusEndpoint(options.metricsListen)
  let node: Libp2p<PeerServices>
  try {
    node = await createLibp2p({
      privateKey,
      metrics: prometheus.metrics,
      addresses: { listen: webrtc ? [`/ip4/0.0.0.0/tcp/${punch.listenPort}`, '/webrtc'] : [`/ip4/0.0.0.0/tcp/${punch.listenPort}`] },
      transports,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: async (ma: Multiaddr) => !allowedDial(policy, ma, explicit) },
      services: {
        // with WebRTC, the punch is WebRTC's ICE (DCUtR over TCP stays off)
        ...punchPeerServices({ publicCidrs: options.publicCidr, holePunch: { autoUpgrade: !webrtc } }),
        ping: ping({ runOnLimitedConnection: true })
      }
    }) as unknown as Libp2p<PeerServices>
  } catch (err: any) {
    throw new CommandError(`cannot start the peer: ${err.message}`, { cause: err })
  }
  const served = await prometheus.serve(node)
  return { libp2p: node, mode: punch.mode, punchPort: punch.punchPort, metricsUrl: served.url, stop: served.stop }
}

/**
 * What `kitsune peer` does after start: bootstrap, reachability,
 * reservations, and with --dial the relayed connection and the punch. Every
 * outcome is an event line; errors are `error` lines, never a crash.
 */
export async function drivePeer (running: RunningPeer, options: PeerOptions, emit: (event: Record<string, unknown>, human: string) => void, signal: AbortSignal): Promise<void> {
  const node = running.libp2p
  const { holePunch, reachability, relays } = node.services

  holePunch.addEventListener('punch:success', evt => {
    const d = evt.detail
    emit({ event: 'direct', peer: d.peer.toString(), transport: d.transport, remoteAddr: d.remoteAddr.toString(), ms: d.ms }, `direct       ${d.peer.toString()} via ${d.remoteAddr.toString()} (${d.transport}) after ${d.ms} ms`)
    emit({ event: 'punch-attempt', peer: d.peer.toString(), attempt: d.attempt, role: d.role }, `             attempt ${d.attempt} (${d.role})`)
  })
  holePunch.addEventListener('punch:failed', evt => {
    const d = evt.detail
    if (d.role === 'initiator') {
      emit({ event: 'punch-failed', peer: d.peer.toString(), reason: d.reason }, `punch failed ${d.peer.toString()}: ${d.reason}`)
    }
  })
  relays.addEventListener('relay:reserved', evt => {
    emit({ event: 'reservation', relay: evt.detail.relay.toString(), addr: evt.detail.addr.toString() }, `reservation  ${evt.detail.addr.toString()}`)
  })
  relays.addEventListener('relay:lost', evt => {
    emit({ event: 'reservation-lost', relay: evt.detail.relay.toString(), reason: evt.detail.reason }, `lost relay   ${evt.detail.relay.toString()} (${evt.detail.reason})`)
  })
  node.addEventListener('connection:open', evt => {
    const c = evt.detail
    if (c.limits != null && c.direction === 'inbound') {
      emit({ event: 'relayed', peer: c.remotePeer.toString() }, `relayed      ${c.remotePeer.toString()} (inbound)`)
    }
  })

  const webrtc = options.transports.split(',').includes('webrtc')

  // bootstrap: connect to the relays we were given
  let connected = 0
  await Promise.all(options.bootstrap.map(async b => {
    try {
      await node.dial(multiaddr(b), { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
      connected++
    } catch (err: any) {
      emit({ event: 'warning', message: `bootstrap ${b} unreachable: ${err.message}` }, `warning: bootstrap ${b} unreachable: ${err.message}`)
    }
  }))
  if (connected === 0) {
    throw new CommandError('no bootstrap relay could be reached')
  }
  await waitForIdentified(node as unknown as Libp2p, signal)

  const verdict = await reachability.check({ signal })
  emit({ event: 'reachability', status: verdict.status }, `reachability ${verdict.status} (${verdict.evidence.map(e => e.status).join(', ') || 'no evidence'})`)
  if (verdict.status !== 'reachable') {
    try {
      await relays.reserve({ signal })
    } catch (err: any) {
      emit({ event: 'error', message: err.message }, `error: ${err.message}`)
    }
  }

  if (options.dial == null) {
    return
  }
  const target = peerIdFromString(options.dial)
  const relayed = await dialThroughRelays(node, target, signal)
  emit({ event: 'relayed', peer: target.toString() }, `relayed      ${target.toString()} via ${relayed.remoteAddr.toString()}`)
  if (webrtc) {
    // WebRTC private-to-private: signalling over the relayed connection, ICE
    // with the relays' STUN responders as the only ICE servers
    const start = relayed.timeline.open
    const relayAddr = relayed.remoteAddr.toString().split('/p2p-circuit')[0]
    try {
      const conn = await node.dial(multiaddr(`${relayAddr}/p2p-circuit/webrtc/p2p/${target.toString()}`), { signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
      emit({ event: 'direct', peer: target.toString(), transport: 'webrtc', remoteAddr: conn.remoteAddr.toString(), ms: Date.now() - start }, `direct       ${target.toString()} (webrtc) after ${Date.now() - start} ms`)
    } catch (err: any) {
      emit({ event: 'punch-failed', peer: target.toString(), reason: `webrtc: ${err.message}` }, `punch failed ${target.toString()}: webrtc: ${err.message}`)
    }
    await pingOver(node, target, emit, signal, c => c.remoteAddr.toString().includes('/webrtc'))
    return
  }

  const outcome = await new Promise<'direct' | 'failed'>(resolve => {
    const timer = setTimeout(() => { done('failed', 'no direct connection before the deadline') }, PEER_PUNCH_DEADLINE)
    const onOpen = (evt: CustomEvent<Connection>): void => {
      if (evt.detail.remotePeer.equals(target) && evt.detail.limits == null) {
        setImmediate(() => { done('direct') })
      }
    }
    const onFailedRemote = (): void => {
      if (relayed.status !== 'open') {
        done('failed', 'the relayed connection closed without a direct one')
      }
    }
    // the responder side learns the end of the punch from the initiator's stream
    const onPunchFailed = (evt: CustomEvent<{ peer: PeerId, reason: string }>): void => {
      if (evt.detail.peer.equals(target)) {
        done('failed', evt.detail.reason)
      }
    }
    let settled = false
    relayed.addEventListener('close', onFailedRemote)
    const done = (what: 'direct' | 'failed', reason?: string): void => {
      if (settled) {
        return
      }
      settled = true
      clearTimeout(timer)
      node.removeEventListener('connection:open', onOpen)
      relayed.removeEventListener('close', onFailedRemote)
      holePunch.removeEventListener('punch:failed', onPunchFailed)
      if (what === 'failed' && reason != null && node.getConnections(target).every(c => c.limits != null)) {
        emit({ event: 'punch-failed', peer: target.toString(), reason }, `punch failed ${target.toString()}: ${reason}`)
      }
      resolve(what)
    }
    node.addEventListener('connection:open', onOpen)
    signal.addEventListener('abort', () => { done('failed') }, { once: true })
    holePunch.addEventListener('punch:failed', onPunchFailed)
  })
  log('outcome %s', outcome)
  await pingOver(node, target, emit, signal, c => c.limits == null)
}

/**
 * Runs a ping stream over the preferred open connection to `target` (else
 * any open one) and reports which connection carried it
 */
async function pingOver (node: Libp2p<PeerServices>, target: PeerId, emit: (event: Record<string, unknown>, human: string) => void, signal: AbortSignal, prefer: (c: Connection) => boolean): Promise<void> {
  try {
    const conn = node.getConnections(target).find(c => prefer(c) && c.status === 'open') ?? node.getConnections(target).find(c => c.status === 'open')
    if (conn != null) {
      const stream = await conn.newStream('/ipfs/ping/1.0.0', { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]), runOnLimitedConnection: true })
      const start = Date.now()
      const payload = crypto.getRandomValues(new Uint8Array(32))
      stream.send(payload)
      const got = await new Promise<number>((resolve, reject) => {
        let n = 0
        stream.addEventListener('message', e => {
          n += e.data.byteLength
          if (n >= 32) { resolve(n) }
        })
        stream.addEventListener('close', () => { reject(new Error('ping stream closed')) })
      })
      await stream.close().catch(() => {})
      emit({ event: 'protocol', peer: target.toString(), protocol: '/ipfs/ping/1.0.0', remoteAddr: conn.remoteAddr.toString(), bytes: got, ms: Date.now() - start }, `ping         ${target.toString()} over ${conn.remoteAddr.toString()}`)
    }
  } catch (err: any) {
    emit({ event: 'error', message: `ping after the punch failed: ${err.message}` }, `error: ping failed: ${err.message}`)
  }
}

async function waitForIdentified (node: Libp2p, signal: AbortSignal): Promise<void> {
  const pending = node.getConnections().filter(c => c.limits == null)
  await Promise.all(pending.map(async c => {
    const peer = await node.peerStore.get(c.remotePeer).catch(() => undefined)
    if ((peer?.protocols.length ?? 0) > 0) {
      return
    }
    await new Promise<void>(resolve => {
      const t = setTimeout(resolve, 5_000)
      const on = (evt: CustomEvent<{ peerId: PeerId }>): void => {
        if (evt.detail.peerId.equals(c.remotePeer)) {
          clearTimeout(t)
          node.removeEventListener('peer:identify', on as any)
          resolve()
        }
      }
      node.addEventListener('peer:identify', on as any)
      signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
    })
  }))
}

async function dialThroughRelays (node: Libp2p<PeerServices>, target: PeerId, signal: AbortSignal): Promise<Connection> {
  const candidates = await node.services.relays.findRelays(target, { signal })
  const errors: string[] = []
  for (const c of candidates) {
    const circuit = multiaddr(`${c.addrs[0].toString()}/p2p/${c.peer.toString()}/p2p-circuit/p2p/${target.toString()}`)
    try {
      return await node.dial(circuit, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
    } catch (err: any) {
      errors.push(`${c.peer.toString()}: ${err.message}`)
    }
  }
  throw new CommandError(`no relay of ${target.toString()} connected us (${candidates.length} candidates${errors.length > 0 ? `: ${errors.join('; ')}` : ''})`)
}

/**
 * Runs `kitsune peer` until SIGINT or SIGTERM
 */
export async function runPeer (options: PeerOptions, streams?: OutputStreams): Promise<number> {
  const controller = new AbortController()
  return runDaemon<RunningPeer>({
    command: 'peer',
    json: options.json,
    streams,
    log,
    start: async (onWarning) => startPeer(options, onWarning),
    ready: (running, output) => {
      eventPrinter(output, options.json)({ event: 'ready', peerId: running.libp2p.peerId.toString() }, `peer id      ${running.libp2p.peerId.toString()}\nready`)
      printMetricsUrl(output, options.json, running.metricsUrl)
    },
    started: (running, output) => {
      const emit = eventPrinter(output, options.json)
      const stop = running.stop
      running.stop = async () => {
        controller.abort()
        await stop()
      }
      drivePeer(running, options, emit, controller.signal).catch(err => {
        if (!controller.signal.aborted) {
          emit({ event: 'error', message: err.message }, `error: ${err.message}`)
        }
      })
    }
  })
}
