/**
 * Wire compatibility on one host, no NAT: kitsune's DCUtR against the stock
 * `@libp2p/dcutr`, over a real Circuit Relay v2 relay. Run inside a lab
 * namespace whose loopback carries 11.0.0.1-3 (addresses stock DCUtR counts
 * as public; the namespace is linked to nothing).
 *
 *   node dcutr-wire.js initiator   kitsune is B (DCUtR initiator), stock is A
 *   node dcutr-wire.js responder   stock is B (initiator), kitsune is A
 *
 * Prints JSON lines: ready, relayed, then kitsune's punch:start /
 * punch:success / punch:failed as `kitsune-start` / `kitsune-success` /
 * `kitsune-failed`, the first direct connection each side sees as
 * `kitsune-direct` and `stock-direct`, then `done` once both are direct
 * (and, as the initiator, kitsune's punch has ended).
 */
import { holePunch, punchTCP } from '@kitsune/hole-punch'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const role = process.argv[2]
if (role !== 'initiator' && role !== 'responder') {
  throw new Error('usage: dcutr-wire.js initiator|responder')
}
const out = (e) => process.stdout.write(JSON.stringify(e) + '\n')
const base = () => ({
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false }
})

const relay = await createLibp2p({
  ...base(),
  addresses: { listen: ['/ip4/11.0.0.1/tcp/4001'] },
  transports: [tcp()],
  services: { identify: identify(), relay: circuitRelayServer(), ping: ping({ runOnLimitedConnection: true }) }
})
// public listen addresses are not announced until confirmed: build it
const relayAddr = `/ip4/11.0.0.1/tcp/4001/p2p/${relay.peerId.toString()}`

const kitsune = await createLibp2p({
  ...base(),
  // as A (responder) kitsune announces no address, so stock B does not
  // upgrade "unilaterally" by dialing it but runs DCUtR
  addresses: { listen: ['/ip4/11.0.0.2/tcp/4002'], ...(role === 'responder' ? { announceFilter: () => [] } : {}) },
  transports: [punchTCP(), circuitRelayTransport()],
  services: { identify: identify(), ping: ping({ runOnLimitedConnection: true }), holePunch: holePunch({ closeRelayed: false }) }
})
const stock = await createLibp2p({
  ...base(),
  // stock DCUtR sends only confirmed (or announced) addresses
  addresses: { listen: ['/ip4/11.0.0.3/tcp/4003'], announce: ['/ip4/11.0.0.3/tcp/4003'] },
  transports: [tcp(), circuitRelayTransport()],
  services: { identify: identify(), ping: ping({ runOnLimitedConnection: true }), dcutr: dcutr() }
})
out({ event: 'ready', kitsune: kitsune.peerId.toString(), stock: stock.peerId.toString() })

const stopAll = async () => {
  await Promise.allSettled([kitsune.stop(), stock.stop()])
  await relay.stop()
}
process.on('SIGTERM', () => { stopAll().then(() => process.exit(0)) })

let kitsuneDirect = false
let stockDirect = false
// as the initiator, kitsune's own punch ends in punch:success or punch:failed
let kitsuneSettled = role === 'responder'
const maybeDone = () => {
  if (kitsuneDirect && stockDirect && kitsuneSettled) {
    out({ event: 'done' })
    stopAll().then(() => process.exit(0))
  }
}
for (const name of ['punch:start', 'punch:success', 'punch:failed']) {
  kitsune.services.holePunch.addEventListener(name, (evt) => {
    const d = evt.detail
    out({ event: `kitsune-${name.split(':')[1]}`, role: d.role, attempt: d.attempt, attempts: d.attempts, reason: d.reason, transport: d.transport, remoteAddr: d.remoteAddr?.toString() })
    if (name !== 'punch:start' && d.role === 'initiator') {
      kitsuneSettled = true
      maybeDone()
    }
  })
}
kitsune.addEventListener('connection:open', (evt) => {
  const c = evt.detail
  if (c.remotePeer.equals(stock.peerId) && c.limits == null && !kitsuneDirect) {
    out({ event: 'kitsune-direct', remoteAddr: c.remoteAddr.toString(), direction: c.direction })
    kitsuneDirect = true
    maybeDone()
  }
})
stock.addEventListener('connection:open', (evt) => {
  const c = evt.detail
  if (c.remotePeer.equals(kitsune.peerId) && c.limits == null) {
    out({ event: 'stock-direct', remoteAddr: c.remoteAddr.toString(), direction: c.direction })
    stockDirect = true
    maybeDone()
  }
})

// B holds a reservation; A dials B through the relay; B (inbound relayed) starts DCUtR
const [b, a] = role === 'initiator' ? [kitsune, stock] : [stock, kitsune]
// kitsune's candidate is what the relay observed of its punch-port connection
const kitsuneCandidate = new Promise(resolve => {
  const check = () => {
    if (kitsune.services.holePunch.candidates().length > 0) {
      kitsune.removeEventListener('peer:identify', check)
      resolve()
    }
  }
  kitsune.addEventListener('peer:identify', check)
})
await b.dial(multiaddr(relayAddr))
await b.components.transportManager.listen([multiaddr(`${relayAddr}/p2p-circuit`)])
// listen() resolves once the relay granted the reservation
await a.dial(multiaddr(relayAddr))
await kitsuneCandidate
const relayed = await a.dial(multiaddr(`${relayAddr}/p2p-circuit/p2p/${b.peerId.toString()}`))
out({ event: 'relayed', limited: relayed.limits != null })
