/**
 * A public relay: stock TCP plus the relay preset (Circuit Relay v2 hop,
 * DHT server, AutoNAT server, identify). Prints one JSON line when ready.
 *
 *   node src/relay.js <listen multiaddr> <public cidr>
 */
import { relayServerServices } from '@kitsune/hole-punch'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

const [listen, publicCidr] = process.argv.slice(2)

const relay = await createLibp2p({
  addresses: { listen: [listen] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: relayServerServices({ publicCidrs: publicCidr ? [publicCidr] : [] })
})

console.log(JSON.stringify({ event: 'ready', peerId: relay.peerId.toString(), addr: relay.getMultiaddrs()[0].toString() }))
process.on('SIGTERM', () => { relay.stop().then(() => process.exit(0)) })
