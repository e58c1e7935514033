/**
 * Dials one peer directly (stock @libp2p/tcp), runs a ping over the
 * connection and prints one JSON line: {event:'connected', remoteAddr,
 * limited, rtt} or {event:'error', message}; then exits.
 *
 * Usage: node dial-once.js <multiaddr with /p2p/>
 */
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const out = (e) => process.stdout.write(JSON.stringify(e) + '\n')
const node = await createLibp2p({
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false },
  services: { identify: identify(), ping: ping() }
})
try {
  const conn = await node.dial(multiaddr(process.argv[2]), { signal: AbortSignal.timeout(10_000) })
  const rtt = await node.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(10_000) })
  out({ event: 'connected', remoteAddr: conn.remoteAddr.toString(), limited: conn.limits != null, rtt })
} catch (err) {
  out({ event: 'error', message: err.message })
}
await node.stop()
process.exit(0)
