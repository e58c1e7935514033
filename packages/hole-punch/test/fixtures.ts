import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { holePunch, punchTCP, reachability } from '../src/index.ts'
import type { HolePunchInit, HolePunchService, PunchTCPInit } from '../src/index.ts'
import type { Libp2p } from '@libp2p/interface'

export const LOOPBACK_CIDRS = ['127.0.0.0/8']

const base = {
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false },
  connectionManager: { inboundConnectionThreshold: 1000 }
}

/** A relay on loopback: stock TCP, Circuit Relay v2 hop, identify */
export async function relayNode (reservations: Record<string, unknown> = {}): Promise<Libp2p<any>> {
  return createLibp2p({
    ...base,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    services: { identify: identify(), relay: circuitRelayServer({ reservations }), ping: ping({ runOnLimitedConnection: true }) }
  })
}

/** An AutoNAT server on stock TCP (dial-backs leave from ephemeral ports, as on a relay) */
export async function autonatServerNode (): Promise<Libp2p<any>> {
  return createLibp2p({
    ...base,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    services: { identify: identify(), autonat: reachability({ server: true, interval: 0, publicCidrs: LOOPBACK_CIDRS }) }
  })
}

/** A peer with the punch transport, the relay transport and DCUtR that punches */
export async function punchNode (init: HolePunchInit = {}, services: Record<string, any> = {}, tcpInit: PunchTCPInit = {}, options: Record<string, any> = {}): Promise<Libp2p<{ holePunch: HolePunchService } & Record<string, any>>> {
  return createLibp2p({
    ...base,
    ...options,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [punchTCP({ publicCidrs: LOOPBACK_CIDRS, ...tcpInit }), circuitRelayTransport()],
    services: { identify: identify(), ping: ping({ runOnLimitedConnection: true }), holePunch: holePunch({ publicCidrs: LOOPBACK_CIDRS, ...init }), ...services }
  }) as any
}

/** A plain peer (stock TCP, relay transport, no DCUtR) for speaking raw protocol messages */
export async function plainNode (): Promise<Libp2p<any>> {
  return createLibp2p({
    ...base,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp(), circuitRelayTransport()],
    services: { identify: identify(), ping: ping({ runOnLimitedConnection: true }) }
  })
}

/** Open TCP handles of this process (for leak checks) */
export function tcpHandles (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length
}
