/**
 * A peer behind a NAT, built with createLibp2p and the toolkit's presets.
 * Without a target it reserves on the relay and waits for a message; with
 * one it connects through the relay, waits for the direct (punched)
 * connection and sends a message over it.
 *
 *   node src/peer.js <relay multiaddr> <public cidr> [<target peer id>]
 */
import { punchPeerServices, punchPeerTransports } from '@kitsune/hole-punch'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const MESSAGE_PROTOCOL = '/kitsune-example/message/1.0.0'
const [relayAddr, publicCidr, target] = process.argv.slice(2)
const out = (event) => console.log(JSON.stringify(event))

const node = await createLibp2p({
  addresses: { listen: ['/ip4/0.0.0.0/tcp/4001'] },
  transports: punchPeerTransports({ publicCidrs: publicCidr ? [publicCidr] : [] }),
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: punchPeerServices({ publicCidrs: publicCidr ? [publicCidr] : [] })
})
process.on('SIGTERM', () => { node.stop().then(() => process.exit(0)) })

// the receiving side: print each message and the connection it came over
await node.handle(MESSAGE_PROTOCOL, async (stream, connection) => {
  let text = ''
  for await (const chunk of stream) {
    text += new TextDecoder().decode(chunk.subarray())
  }
  out({ event: 'message', text, remoteAddr: connection.remoteAddr.toString() })
})

await node.dial(multiaddr(relayAddr))
out({ event: 'ready', peerId: node.peerId.toString() })

if (target == null) {
  const [reservation] = await node.services.relays.reserve()
  out({ event: 'reservation', addr: reservation.addr.toString() })
} else {
  const direct = new Promise(resolve => {
    node.services.holePunch.addEventListener('punch:success', (evt) => { resolve(evt.detail) })
  })
  await node.dial(multiaddr(`${relayAddr}/p2p-circuit/p2p/${target}`))
  const { connection, ms } = await direct
  out({ event: 'direct', remoteAddr: connection.remoteAddr.toString(), ms })
  const stream = await connection.newStream(MESSAGE_PROTOCOL)
  stream.send(new TextEncoder().encode('hello over a punched connection'))
  await stream.close()
  out({ event: 'sent', remoteAddr: connection.remoteAddr.toString() })
}
