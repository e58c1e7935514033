import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { HolePunchService } from './dcutr.ts'
import { Reachability } from './reachability.ts'
import { ClosestRelays } from './relays.ts'
import { PunchTCP } from './tcp/punch-tcp.ts'
import type { HolePunchInit } from './dcutr.ts'
import type { ReachabilityInit } from './reachability.ts'
import type { ClosestRelaysInit } from './relays.ts'
import type { PunchTCPInit } from './tcp/punch-tcp.ts'
import type { Transport } from '@libp2p/interface'

export interface PunchPeerPresetInit {
  /**
   * Address ranges that count as public (e.g. a lab's `198.18.0.0/15`),
   * given to every service
   *
   * @default []
   */
  publicCidrs?: string[]
  tcp?: PunchTCPInit
  holePunch?: HolePunchInit
  reachability?: ReachabilityInit
  relays?: ClosestRelaysInit
  /**
   * The Kademlia protocol id of the relays' DHT
   *
   * @default '/ipfs/kad/1.0.0'
   */
  dhtProtocol?: string
}

/**
 * The transports of a peer behind a NAT: the punch TCP transport and the
 * Circuit Relay v2 transport (listen `/p2p/<relay>/p2p-circuit` through
 * {@link ClosestRelays}, dial circuit addresses)
 */
export function punchPeerTransports (init: PunchPeerPresetInit = {}): Array<(components: any) => Transport> {
  return [
    (components: any) => new PunchTCP(components, { publicCidrs: init.publicCidrs, ...init.tcp }),
    circuitRelayTransport()
  ]
}

/**
 * The services of a peer behind a NAT: identify, a DHT client, DCUtR that
 * punches, reachability with a quorum and relays by Kademlia closeness
 */
export function punchPeerServices (init: PunchPeerPresetInit = {}): Record<string, (components: any) => unknown> {
  const publicCidrs = init.publicCidrs
  return {
    identify: identify(),
    // kad-dht needs ping; on limited connections too, to check a relayed peer
    ping: ping({ runOnLimitedConnection: true }),
    dht: kadDHT({ protocol: init.dhtProtocol ?? '/ipfs/kad/1.0.0', clientMode: true, peerInfoMapper: passthroughMapper }),
    holePunch: (components: any) => new HolePunchService(components, { publicCidrs, ...init.holePunch }),
    reachability: (components: any) => new Reachability(components, { publicCidrs, interval: 0, ...init.reachability }),
    relays: (components: any) => new ClosestRelays(components, { publicCidrs, ...init.relays })
  }
}
