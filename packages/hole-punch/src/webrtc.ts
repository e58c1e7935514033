/**
 * @packageDocumentation
 *
 * `@kitsune/hole-punch/webrtc`: the WebRTC transport with ICE servers from
 * the relays only. A subpath of its own because loading `@libp2p/webrtc`
 * loads `node-datachannel`, whose native threads keep a process alive.
 *
 * @example
 *
 * ```typescript
 * import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
 * import { punchTCP } from '@kitsune/hole-punch'
 * import { webRTCFromRelays } from '@kitsune/hole-punch/webrtc'
 *
 * const transports = [punchTCP(), webRTCFromRelays(), circuitRelayTransport()]
 * ```
 */

import { webRTC } from '@libp2p/webrtc'
import { IceServersFromRelays } from './ice-servers.ts'
import type { IceServersInit } from './ice-servers.ts'
import type { Transport } from '@libp2p/interface'

/**
 * `@libp2p/webrtc` (private-to-private, signalling through the relays) whose
 * ICE servers are the STUN responders of the relays we are connected to —
 * never `@libp2p/webrtc`'s default public STUN servers. Put it before the
 * relay transport (whose dial filter also matches `/p2p-circuit/webrtc`) and
 * listen on `/webrtc` to accept it.
 */
export function webRTCFromRelays (init: IceServersInit = {}): (components: any) => Transport {
  return (components: any) => {
    const ice = new IceServersFromRelays(components, init)
    return webRTC({
      // never undefined: @libp2p/webrtc would fill in public STUN servers
      rtcConfiguration: async () => ({ iceServers: await ice.getIceServers() })
    })(components)
  }
}
