/**
 * `kitsune relay`: a public node for hole punching — Circuit Relay v2 hop
 * with limits, DHT server, AutoNAT server with a public-address policy,
 * identify, ping and optionally STUN (`relayServerServices` of
 * `@kitsune/hole-punch`). Contacts only its --bootstrap peers and the peers
 * that come to it.
 */

import { AddressPolicy, relayServerServices } from '@kitsune/hole-punch'
import { loadOrCreateKeyFile } from '@kitsune/proxy'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { runDaemon } from './command.ts'
import { CommandError } from './errors.ts'
import { prometheusEndpoint } from './metrics-server.ts'
import { eventPrinter, printMetricsUrl } from './output.ts'
import type { OutputStreams } from './output.ts'
import type { RelayOptions } from './schema/relay.ts'
import type { StunServer } from '@kitsune/hole-punch'
import type { Libp2p, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('kitsune:cli:relay')

/**
 * Whether a dial target is allowed: public under the policy or one of the
 * addresses the user gave (`explicit`); loopback too only when no public
 * range is declared (see `AddressPolicy.allowsDial`)
 */
export function allowedDial (policy: AddressPolicy, ma: Multiaddr, explicit: Multiaddr[] = []): boolean {
  return policy.allowsDial(ma, explicit)
}

/**
 * The relay's transports: TCP always (AutoNAT dial-backs and TCP listen
 * addresses), plus WebSockets when a listen or announce address is `/ws`
 * so browsers can reach the relay
 */
export function relayTransports (listen: string[], announce: string[] = []): Array<(components: any) => Transport> {
  const transports: Array<(components: any) => Transport> = [tcp()]
  if ([...listen, ...announce].some(a => multiaddr(a).getComponents().some(c => c.name === 'ws' || c.name === 'wss'))) {
    transports.push(webSockets())
  }
  return transports
}

export interface RunningRelay {
  libp2p: Libp2p
  stun: string | null
  /** The Prometheus URL, with `--metrics-listen` */
  metricsUrl?: string
  stop(): Promise<void>
}

/**
 * Starts a relay from validated options
 */
export async function startRelay (options: RelayOptions): Promise<RunningRelay> {
  const privateKey = options.key != null ? (await loadOrCreateKeyFile(options.key)).privateKey : undefined
  const policy = new AddressPolicy(options.publicCidr)
  const explicit = [...options.listen, ...(options.announce ?? []), ...options.bootstrap].map(a => multiaddr(a))
  const prometheus = prometheusEndpoint(options.metricsListen)
  let node: Libp2p
  try {
    node = await createLibp2p({
      privateKey,
      metrics: prometheus.metrics,
      addresses: { listen: options.listen, announce: options.announce },
      transports: relayTransports(options.listen, options.announce),
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: async (ma: Multiaddr) => !allowedDial(policy, ma, explicit) },
      connectionManager: { inboundConnectionThreshold: 100, maxConnections: 512 },
      services: {
        ...relayServerServices({ publicCidrs: options.publicCidr, stunListen: options.stunListen }),
        ping: ping({ runOnLimitedConnection: true })
      }
    }) as unknown as Libp2p
  } catch (err: any) {
    throw new CommandError(`cannot start the relay: ${err.message}`, { cause: err })
  }
  for (const b of options.bootstrap) {
    try {
      await node.dial(multiaddr(b), { signal: AbortSignal.timeout(10_000) })
    } catch (err: any) {
      log.error('bootstrap %s unreachable - %e', b, err)
    }
  }
  const served = await prometheus.serve(node)
  const stun = (node.services as any).stun as StunServer | undefined
  return { libp2p: node, stun: stun?.address ?? null, metricsUrl: served.url, stop: served.stop }
}

/**
 * Runs `kitsune relay` until SIGINT or SIGTERM
 */
export async function runRelay (options: RelayOptions, streams?: OutputStreams): Promise<number> {
  return runDaemon<RunningRelay>({
    command: 'relay',
    json: options.json,
    streams,
    log,
    start: async () => startRelay(options),
    ready: (running, output) => {
      const peerId = running.libp2p.peerId.toString()
      const multiaddrs = running.libp2p.getMultiaddrs().map(ma => ma.toString())
      eventPrinter(output, options.json)({
        event: 'ready',
        peerId,
        multiaddrs,
        stun: running.stun
      }, `peer id      ${peerId}\n${multiaddrs.map(m => `listening on ${m}`).join('\n')}\nstun         ${running.stun ?? 'off'}\nready`)
      printMetricsUrl(output, options.json, running.metricsUrl)
    }
  })
}
