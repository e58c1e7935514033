import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { Reachability } from './reachability.ts'
import { StunServer } from './stun.ts'
import type { ReachabilityComponents } from './reachability.ts'
import type { StunServerComponents } from './stun.ts'
import type { CircuitRelayServerInit } from '@libp2p/circuit-relay-v2'

export interface RelayServerPresetInit {
  /**
   * Address ranges that count as public (e.g. a lab's `198.18.0.0/15`)
   *
   * @default []
   */
  publicCidrs?: string[]
  /**
   * Answer STUN binding requests on this UDP `host:port`
   *
   * @default undefined (no STUN)
   */
  stunListen?: string
  /**
   * Circuit Relay v2 hop options; the preset's limits are 128 reservations,
   * 2 minutes and 128 KiB per relayed connection (enough to coordinate a
   * punch, not to carry traffic)
   */
  relay?: CircuitRelayServerInit
  /**
   * The Kademlia protocol id of the DHT the relays serve
   *
   * @default '/ipfs/kad/1.0.0'
   */
  dhtProtocol?: string
}

/**
 * The services a public node runs to take part in hole punching ("each
 * public node carries a small part of the load"): identify, a Circuit Relay
 * v2 hop with limits, a DHT server, an AutoNAT server with the same public
 * address policy, and optionally STUN. Spread into `services` of
 * `createLibp2p` next to your own.
 */
export function relayServerServices (init: RelayServerPresetInit = {}): Record<string, (components: any) => unknown> {
  const services: Record<string, (components: any) => unknown> = {
    identify: identify(),
    // kad-dht needs ping; on limited connections too, to check a relayed peer
    ping: ping({ runOnLimitedConnection: true }),
    relay: circuitRelayServer({
      ...init.relay,
      reservations: {
        maxReservations: 128,
        defaultDurationLimit: 120_000,
        defaultDataLimit: BigInt(1 << 17),
        ...init.relay?.reservations
      }
    }),
    dht: kadDHT({
      protocol: init.dhtProtocol ?? '/ipfs/kad/1.0.0',
      clientMode: false,
      peerInfoMapper: passthroughMapper
    }),
    autonat: (components: ReachabilityComponents) => new Reachability(components, { server: true, interval: 0, publicCidrs: init.publicCidrs })
  }
  if (init.stunListen != null) {
    const listen = init.stunListen
    services.stun = (components: StunServerComponents) => new StunServer(components, { listen })
  }
  return services
}
