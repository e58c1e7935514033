/**
 * The benchmark's long-lived node driver: one process per lab host, told what
 * to do through JSON lines on stdin, answering with JSON lines on stdout. Each
 * attempt gets a fresh libp2p node on a fresh punch port (the host, its
 * router and the relays stay), with the same peer id for the whole run — so
 * relays refresh one reservation instead of filling up with stale ones.
 *
 *   node bench-node.js peer --public-cidr <cidr> --punch-timeout <ms>
 *   node bench-node.js quic-relay <listen ip>
 *
 * Commands (peer): {cmd:'listen', id, method, port, relays:[addr…]} →
 * {event:'reservation', id, peerId} (B, waits with a reservation);
 * {cmd:'dial', id, method, port, relays, target} → {event:'relayed', id} then
 * {event:'direct', id, ms, remoteAddr} or {event:'punch-failed', id, reason}
 * (A); {cmd:'stop', id} → {event:'stopped', id}. B also prints
 * {event:'punch-success', id, attempt} when its DCUtR succeeds. With
 * `fixedPunchPort` in listen/dial, kitsune-tcp runs the punch transport in
 * fixed-port mode (listening on `port`, punching from `fixedPunchPort`).
 *
 * Methods: kitsune-tcp and kitsune-webrtc are the toolkit's peer presets as
 * `kitsune peer` builds them (punchPeerTransports/punchPeerServices,
 * webRTCFromRelays); stock-tcp and stock-quic are stock js-libp2p
 * (@libp2p/tcp or @chainsafe/libp2p-quic, circuit relay v2, identify,
 * @libp2p/dcutr).
 */
import { createInterface } from 'node:readline'
import { AddressPolicy, punchPeerServices, punchPeerTransports } from '@kitsune/hole-punch'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const args = process.argv.slice(2)
const opt = (name, def) => args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def
const out = (e) => process.stdout.write(JSON.stringify(e) + '\n')

/** Stock @libp2p/dcutr tries this many times (its default) */
const STOCK_RETRIES = 3

// loaded when used: a QUIC binary that cannot load blocks only stock-quic
const quic = async () => (await import('@chainsafe/libp2p-quic')).quic

if (args[0] === 'quic-relay') {
  // a stock js-libp2p relay on QUIC for the stock-quic method
  const q = await quic()
  const node = await createLibp2p({
    addresses: { listen: [`/ip4/${args[1]}/udp/4001/quic-v1`] },
    transports: [q()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionManager: { inboundConnectionThreshold: 1000, maxConnections: 1024 },
    services: {
      identify: identify(),
      relay: circuitRelayServer({ reservations: { maxReservations: 1024 } }),
      ping: ping({ runOnLimitedConnection: true })
    }
  })
  out({ event: 'ready', peerId: node.peerId.toString(), multiaddrs: node.getMultiaddrs().map(String) })
  const stop = async () => { await node.stop(); process.exit(0) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} else {
  const publicCidrs = [opt('public-cidr', '198.18.0.0/15')]
  const punchTimeout = Number(opt('punch-timeout', '2000'))
  const policy = new AddressPolicy(publicCidrs)
  const privateKey = await generateKeyPair('Ed25519')
  const nodes = new Map()

  // fixedPunchPort: the punch transport's fixed-port mode (the dial-only
  // fallback where Node.js lacks reusePort listeners / net.BoundSocket)
  async function kitsuneNode (method, port, relays, fixedPunchPort) {
    const webrtc = method === 'kitsune-webrtc'
    const transports = punchPeerTransports({ publicCidrs, tcp: fixedPunchPort != null ? { mode: 'fixed-port', punchPort: fixedPunchPort } : {} })
    if (webrtc) {
      const { webRTCFromRelays } = await import('@kitsune/hole-punch/webrtc')
      transports.splice(1, 0, webRTCFromRelays())
    }
    const explicit = relays.map(r => multiaddr(r))
    return createLibp2p({
      privateKey,
      addresses: { listen: webrtc ? [`/ip4/0.0.0.0/tcp/${port}`, '/webrtc'] : [`/ip4/0.0.0.0/tcp/${port}`] },
      transports,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: async (ma) => !policy.allowsDial(ma, explicit) },
      services: {
        ...punchPeerServices({ publicCidrs, holePunch: { autoUpgrade: !webrtc, dialTimeout: punchTimeout } }),
        ping: ping({ runOnLimitedConnection: true })
      }
    })
  }

  async function stockNode (method, port, relay, listenCircuit) {
    const q = method === 'stock-quic'
    return createLibp2p({
      privateKey,
      addresses: { listen: [q ? `/ip4/0.0.0.0/udp/${port}/quic-v1` : `/ip4/0.0.0.0/tcp/${port}`, ...(listenCircuit ? [`${relay}/p2p-circuit`] : [])] },
      transports: [q ? (await quic())() : tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
      services: { identify: identify(), dcutr: dcutr({ timeout: punchTimeout, retries: STOCK_RETRIES }), ping: ping({ runOnLimitedConnection: true }) }
    })
  }

  async function waitIdentified (node, peers) {
    await Promise.all(peers.map(async p => {
      const info = await node.peerStore.get(p).catch(() => undefined)
      if ((info?.protocols.length ?? 0) > 0) return
      await new Promise(resolve => {
        const t = setTimeout(resolve, 5000)
        const on = (evt) => {
          if (evt.detail.peerId.equals(p)) { clearTimeout(t); node.removeEventListener('peer:identify', on); resolve() }
        }
        node.addEventListener('peer:identify', on)
      })
    }))
  }

  async function listen ({ id, method, port, relays, fixedPunchPort }) {
    if (method.startsWith('stock-')) {
      const node = await stockNode(method, port, relays[0], true)
      nodes.set(id, node)
      const circuit = () => node.getMultiaddrs().find(a => a.toString().includes('/p2p-circuit'))
      if (circuit() == null) {
        await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no reservation within 20 s')), 20_000)
          node.addEventListener('self:peer:update', function on () {
            if (circuit() != null) { clearTimeout(t); node.removeEventListener('self:peer:update', on); resolve() }
          })
        })
      }
      out({ event: 'reservation', id, peerId: node.peerId.toString(), addr: circuit().toString() })
      return
    }
    const node = await kitsuneNode(method, port, relays, fixedPunchPort)
    nodes.set(id, node)
    node.services.holePunch.addEventListener('punch:success', evt => {
      out({ event: 'punch-success', id, attempt: evt.detail.attempt, role: evt.detail.role })
    })
    const conns = await Promise.all(relays.map(r => node.dial(multiaddr(r), { signal: AbortSignal.timeout(10_000) })))
    await waitIdentified(node, conns.map(c => c.remotePeer))
    const held = await node.services.relays.reserve({ signal: AbortSignal.timeout(20_000) })
    out({ event: 'reservation', id, peerId: node.peerId.toString(), addr: held[0]?.addr.toString() })
  }

  async function dial ({ id, method, port, relays, target, fixedPunchPort }) {
    const peer = peerIdFromString(target)
    const stock = method.startsWith('stock-')
    const node = stock ? await stockNode(method, port, relays[0], false) : await kitsuneNode(method, port, relays, fixedPunchPort)
    nodes.set(id, node)
    let relayed
    if (stock) {
      relayed = await node.dial(multiaddr(`${relays[0]}/p2p-circuit/p2p/${target}`), { signal: AbortSignal.timeout(10_000) })
    } else {
      const conns = await Promise.all(relays.map(r => node.dial(multiaddr(r), { signal: AbortSignal.timeout(10_000) })))
      await waitIdentified(node, conns.map(c => c.remotePeer))
      const found = await node.services.relays.findRelays(peer, { signal: AbortSignal.timeout(10_000) })
      const errors = []
      for (const c of found) {
        try {
          relayed = await node.dial(multiaddr(`${c.addrs[0].toString()}/p2p/${c.peer.toString()}/p2p-circuit/p2p/${target}`), { signal: AbortSignal.timeout(10_000) })
          break
        } catch (err) {
          errors.push(err.message)
        }
      }
      if (relayed == null) throw new Error(`no relay connected us (${found.length} found: ${errors.join('; ')})`)
    }
    out({ event: 'relayed', id })
    const start = relayed.timeline.open
    if (method === 'kitsune-webrtc') {
      const relayAddr = relayed.remoteAddr.toString().split('/p2p-circuit')[0]
      try {
        const conn = await node.dial(multiaddr(`${relayAddr}/p2p-circuit/webrtc/p2p/${target}`), { signal: AbortSignal.timeout(punchTimeout) })
        out({ event: 'direct', id, ms: Date.now() - start, remoteAddr: conn.remoteAddr.toString() })
      } catch (err) {
        out({ event: 'punch-failed', id, reason: `webrtc: ${err.message}` })
      }
      return
    }
    // TCP and QUIC: wait for the direct connection DCUtR makes, or for the
    // end of DCUtR: the toolkit's punch:failed (the responder gives up after
    // `attempts` failed rounds); stock dcutr has no such event, so the most
    // it can take with these options ((retries + 1) × timeout) bounds it
    const windowMs = stock ? (STOCK_RETRIES + 1) * punchTimeout : 3 * (punchTimeout + 10_000)
    await new Promise(resolve => {
      const done = (e) => {
        clearTimeout(timer)
        node.removeEventListener('connection:open', onOpen)
        if (!stock) node.services.holePunch.removeEventListener('punch:failed', onFailed)
        out({ id, ...e })
        resolve()
      }
      const onOpen = (evt) => {
        const c = evt.detail
        if (c.remotePeer.equals(peer) && c.limits == null) {
          done({ event: 'direct', ms: Date.now() - start, remoteAddr: c.remoteAddr.toString() })
        }
      }
      const onFailed = (evt) => {
        if (evt.detail.peer.equals(peer) && node.getConnections(peer).every(c => c.limits != null)) {
          done({ event: 'punch-failed', reason: evt.detail.reason })
        }
      }
      const timer = setTimeout(() => { done({ event: 'punch-failed', reason: `no direct connection within ${windowMs} ms` }) }, windowMs)
      node.addEventListener('connection:open', onOpen)
      if (!stock) node.services.holePunch.addEventListener('punch:failed', onFailed)
      const direct = node.getConnections(peer).find(c => c.limits == null)
      if (direct != null) done({ event: 'direct', ms: direct.timeline.open - start, remoteAddr: direct.remoteAddr.toString() })
    })
  }

  async function stop ({ id }) {
    const node = nodes.get(id)
    nodes.delete(id)
    await node?.stop()
    out({ event: 'stopped', id })
  }

  const handlers = { listen, dial, stop }
  createInterface({ input: process.stdin }).on('line', line => {
    let cmd
    try { cmd = JSON.parse(line) } catch { out({ event: 'error', message: `not JSON: ${line}` }); return }
    const h = handlers[cmd.cmd]
    if (h == null) { out({ event: 'error', id: cmd.id, message: `unknown command ${cmd.cmd}` }); return }
    h(cmd).catch(err => out({ event: 'error', id: cmd.id, message: err.message }))
  }).on('close', async () => {
    await Promise.all([...nodes.values()].map(n => n.stop().catch(() => {})))
    process.exit(0)
  })
  out({ event: 'ready' })
}
