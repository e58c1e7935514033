/**
 * @packageDocumentation
 *
 * Project Flare from Node.js: hole punching between peers behind NATs with
 * no central STUN/TURN servers.
 *
 * - {@link punchTCP}: a TCP transport (drop-in for `@libp2p/tcp`) that
 * listens and dials from one punch port, so the NAT mapping a relay observes
 * is the one a punch reuses; tracks observed addresses as punch candidates.
 * - {@link holePunch}: DCUtR (`/libp2p/dcutr`) that punches: RTT over the
 * relay, dial at RTT/2, 3 attempts, events and metrics.
 *
 * @example Two services in a createLibp2p config
 *
 * ```typescript
 * import { noise } from '@libp2p/noise'
 * import { yamux } from '@libp2p/yamux'
 * import { identify } from '@libp2p/identify'
 * import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
 * import { createLibp2p } from 'libp2p'
 * import { punchTCP, holePunch } from '@kitsune/hole-punch'
 *
 * const node = await createLibp2p({
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/4001', '/p2p-circuit'] },
 *   transports: [punchTCP(), circuitRelayTransport()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   services: {
 *     identify: identify(),
 *     holePunch: holePunch()
 *   }
 * })
 *
 * node.services.holePunch.addEventListener('punch:success', (evt) => {
 *   console.info('direct to', evt.detail.peer.toString(), 'in', evt.detail.ms, 'ms')
 * })
 * ```
 */

import { HolePunchService } from './dcutr.ts'
import { Reachability } from './reachability.ts'
import { ClosestRelays } from './relays.ts'
import { StunServer } from './stun.ts'
import { PunchTCP } from './tcp/punch-tcp.ts'
import type { HolePunchComponents, HolePunchInit } from './dcutr.ts'
import type { ReachabilityComponents, ReachabilityInit } from './reachability.ts'
import type { ClosestRelaysComponents, ClosestRelaysInit } from './relays.ts'
import type { StunServerComponents, StunServerInit } from './stun.ts'
import type { PunchTCPComponents, PunchTCPInit } from './tcp/punch-tcp.ts'
import type { Transport } from '@libp2p/interface'

export { AddressPolicy, parseCidr } from './address-policy.ts'
export * from './constants.ts'
export * from './errors.ts'
export { HolePunchService } from './dcutr.ts'
export type { HolePunchComponents, HolePunchEvents, HolePunchInit, PunchFailedDetail, PunchStartDetail, PunchSuccessDetail } from './dcutr.ts'
export { PunchTCP } from './tcp/punch-tcp.ts'
export type { PunchDialOptions, PunchMode, PunchTCPComponents, PunchTCPInit } from './tcp/punch-tcp.ts'
export { ObservedAddresses } from './tcp/observed-addresses.ts'
export { detectPunchSupport } from './tcp/support.ts'
export type { PunchSupport } from './tcp/support.ts'
export { HolePunch } from './pb/dcutr.ts'
export { Reachability } from './reachability.ts'
export type { ReachabilityComponents, ReachabilityEvents, ReachabilityEvidence, ReachabilityInit, ReachabilityResult, ReachabilityStatus } from './reachability.ts'
export { ClosestRelays, kadKey, pickRelays, xorDistance } from './relays.ts'
export type { ClosestRelaysComponents, ClosestRelaysEvents, ClosestRelaysInit, RelayCandidate, RelayLostDetail, RelayReservedDetail } from './relays.ts'
export { StunServer, bindingResponse, parseStunHeader } from './stun.ts'
export type { StunHeader, StunServerComponents, StunServerInit, StunServerStats } from './stun.ts'
export { relayServerServices } from './relay-preset.ts'
export type { RelayServerPresetInit } from './relay-preset.ts'

/**
 * A TCP transport that listens and dials from one punch port
 */
export function punchTCP (init: PunchTCPInit = {}): (components: PunchTCPComponents) => Transport {
  return (components) => new PunchTCP(components, init)
}

/**
 * DCUtR that punches (needs {@link punchTCP} and identify)
 */
export function holePunch (init: HolePunchInit = {}): (components: HolePunchComponents) => HolePunchService {
  return (components) => new HolePunchService(components, init)
}

/**
 * AutoNAT with a quorum: reachable / not-reachable / unknown, with evidence
 * (and, with `server: true`, answers others' dial-back requests)
 */
export function reachability (init: ReachabilityInit = {}): (components: ReachabilityComponents) => Reachability {
  return (components) => new Reachability(components, init)
}

/**
 * Reservations on the relays XOR-closest to our peer id, found through the DHT
 */
export function closestRelays (init: ClosestRelaysInit = {}): (components: ClosestRelaysComponents) => ClosestRelays {
  return (components) => new ClosestRelays(components, init)
}

/**
 * A STUN binding responder (UDP), for relays that serve as ICE servers
 */
export function stunServer (init: StunServerInit): (components: StunServerComponents) => StunServer {
  return (components) => new StunServer(components, init)
}
export { punchPeerServices, punchPeerTransports } from './peer-preset.ts'
export type { PunchPeerPresetInit } from './peer-preset.ts'
export { IceServersFromRelays } from './ice-servers.ts'
export type { IceServer, IceServersComponents, IceServersInit } from './ice-servers.ts'
