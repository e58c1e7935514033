import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'

/**
 * A stock Helia node built from explicit parts: Bitswap, and a libp2p node
 * with the WebSockets transport, noise, yamux and identify (Bitswap learns
 * that a peer speaks it through identify). No listen addresses, no
 * bootstrap, no DHT, no delegated routing, no gateways, no STUN, no mDNS:
 * it dials nothing but the peer it is given, and the gater refuses any
 * other peer.
 *
 * @param {string} peerId - the only peer this node may dial
 */
export async function createPageNode (peerId) {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore()
  }), {
    addresses: { listen: [] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      // libp2p's browser gater refuses private and loopback addresses; the
      // address the page was given is the one it must reach, wherever it is
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => peer.toString() !== peerId
    },
    services: {
      identify: identify()
    }
  }))
  await helia.start()
  return helia
}
