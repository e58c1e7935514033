/**
 * The comparison: a stock js-libp2p peer (@libp2p/tcp, circuit relay v2,
 * identify, @libp2p/dcutr) driven like `kitsune peer`, printing JSON lines:
 * ready, reservation, relayed, then direct or punch-failed (after the window).
 *
 * Usage: node stock-peer.js <relay multiaddr> [--dial <peer id>] [--window <ms>]
 */
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { tcp } from '@libp2p/tcp'
import { identify } from '@libp2p/identify'
import { dcutr } from '@libp2p/dcutr'
import { ping } from '@libp2p/ping'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const args = process.argv.slice(2)
const relay = args[0]
const dial = args.includes('--dial') ? args[args.indexOf('--dial') + 1] : undefined
const windowMs = args.includes('--window') ? Number(args[args.indexOf('--window') + 1]) : 10_000
const out = (e) => process.stdout.write(JSON.stringify(e) + '\n')

const node = await createLibp2p({
  addresses: { listen: ['/ip4/0.0.0.0/tcp/4001', `${relay}/p2p-circuit`] },
  transports: [tcp(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false },
  services: { identify: identify(), dcutr: dcutr(), ping: ping({ runOnLimitedConnection: true }) }
})
out({ event: 'ready', peerId: node.peerId.toString() })
const stop = async () => { await node.stop(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

const relayed = new Map()
node.addEventListener('connection:open', (evt) => {
  const c = evt.detail
  if (c.limits != null) {
    relayed.set(c.remotePeer.toString(), Date.now())
    if (c.direction === 'inbound') out({ event: 'relayed', peer: c.remotePeer.toString() })
  } else if (relayed.has(c.remotePeer.toString())) {
    out({ event: 'direct', peer: c.remotePeer.toString(), transport: 'tcp', remoteAddr: c.remoteAddr.toString(), ms: Date.now() - relayed.get(c.remotePeer.toString()) })
  }
})
node.addEventListener('self:peer:update', () => {
  const circuit = node.getMultiaddrs().find(a => a.toString().includes('/p2p-circuit'))
  if (circuit != null && !node.reported) {
    node.reported = true
    out({ event: 'reservation', relay: relay.split('/p2p/')[1], addr: circuit.toString() })
  }
})

if (dial != null) {
  const target = `${relay}/p2p-circuit/p2p/${dial}`
  const conn = await node.dial(multiaddr(target), { signal: AbortSignal.timeout(10_000) })
  out({ event: 'relayed', peer: dial })
  setTimeout(async () => {
    const direct = node.getConnections(conn.remotePeer).find(c => c.limits == null)
    if (direct == null) {
      out({ event: 'punch-failed', peer: dial, reason: `no direct connection within ${windowMs} ms` })
      try {
        await node.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(5000) })
        out({ event: 'protocol', peer: dial, protocol: '/ipfs/ping/1.0.0', remoteAddr: conn.remoteAddr.toString() })
      } catch (err) {
        out({ event: 'error', message: `ping failed: ${err.message}` })
      }
    }
  }, windowMs)
}
