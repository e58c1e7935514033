/**
 * The browser-to-browser page. `?relay=<multiaddr>` listens: it shows its
 * address (`#address`) and status `listening`, then answers the first
 * message. `?relay=<multiaddr>&dial=<address>` dials that page and sends
 * its message. Both end in `#status` `exchanged` (or `error: <reason>`),
 * with the message received in `#received`, the connection it came over in
 * `#connection`, `#direct` (`yes` or `no`), the ICE candidate pair in
 * `#ice` and the ICE servers used in `#ice-servers`.
 */

// first: it must see every RTCPeerConnection the WebRTC transport creates
import { peerConnections, selectedPair } from './mesh.rtc.js'
import { isDirect, MESH_PROTOCOL, createMeshPeer, parseMeshParams, readText } from './mesh.js'
import { $, setStatus, startPage } from './page.js'


/**
 * Shows the connection a message came over: its address, whether it is
 * direct, and the ICE candidate pair of the page's connected
 * RTCPeerConnection
 *
 * @param {import('@libp2p/interface').Connection} connection
 */
async function showConnection (connection) {
  $('connection').textContent = connection.remoteAddr.toString()
  const connected = peerConnections.filter(({ pc }) => pc.connectionState === 'connected')
  const pair = connected.length === 1 ? await selectedPair(connected[0].pc) : undefined
  /** @param {{ address?: string, port?: number }} c */
  const hostPort = c => `${c.address?.includes(':') === true ? `[${c.address}]` : c.address ?? ''}:${c.port}`
  $('ice').textContent = pair == null ? '' : `${pair.local.type} ${hostPort(pair.local)} ⇄ ${pair.remote.type} ${hostPort(pair.remote)} (${pair.local.protocol})`
  const viaTurn = pair == null || pair.local.type === 'relay' || pair.remote.type === 'relay'
  $('direct').textContent = isDirect(connection) && connection.remoteAddr.getComponents().some(c => c.name === 'webrtc') && !viaTurn ? 'yes' : 'no'
  $('ice-servers').textContent = JSON.stringify(peerConnections.map(({ iceServers }) => iceServers))
}

/**
 * @param {import('./mesh.js').MeshParams} params
 */
async function run (params) {
  setStatus('connecting')
  const { node, useRelayIceServers } = await createMeshPeer(params)
  // for tests and curious users: the running node
  globalThis.libp2p = node
  $('peer-id').textContent = node.peerId.toString()
  const message = params.message ?? `hello from ${node.peerId}`
  const signal = () => AbortSignal.timeout(params.timeout)

  if (params.dial == null) {
    // listening: the relay reservation was made when the node started
    const done = new Promise((resolve, reject) => {
      node.handle(MESH_PROTOCOL, async (stream, connection) => {
        try {
          const received = await readText(stream)
          stream.send(new TextEncoder().encode(message))
          await stream.close()
          $('received').textContent = received
          await showConnection(connection)
          resolve(undefined)
        } catch (err) {
          stream.abort(err)
          reject(err)
        }
      }).catch(reject)
    })
    await useRelayIceServers(signal())
    const address = node.getMultiaddrs().find(ma => ma.getComponents().some(c => c.name === 'webrtc'))
    if (address == null) {
      throw new Error(`no WebRTC address through the relay: ${node.getMultiaddrs().join(', ')}`)
    }
    $('address').textContent = address.toString()
    setStatus('listening')
    await done
    setStatus('exchanged')
    return
  }

  await node.dial(params.relay, { signal: signal() })
  await useRelayIceServers(signal())
  setStatus('dialling')
  const connection = await node.dial(params.dial, { signal: signal() })
  const stream = await connection.newStream(MESH_PROTOCOL, { signal: signal() })
  stream.send(new TextEncoder().encode(message))
  await stream.close()
  $('received').textContent = await readText(stream)
  await showConnection(connection)
  setStatus('exchanged')
}

function fillForm () {
  const search = new URLSearchParams(location.search)
  $('form-relay').value = search.get('relay') ?? ''
  $('form-dial').value = search.get('dial') ?? ''
  $('form-message').value = search.get('message') ?? ''
}

fillForm()
startPage(parseMeshParams, run)
