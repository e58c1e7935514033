/**
 * The browser-to-browser page's logic, without the DOM (Node can import
 * it): its query string, its libp2p node, and what makes a connection
 * direct.
 *
 * Two pages meet through a relay over WebSockets (Circuit Relay v2): one
 * listens (`?relay=<multiaddr>`: it reserves a slot on the relay and shows
 * its `…/p2p-circuit/webrtc/p2p/<id>` address), the other dials it
 * (`?relay=<multiaddr>&dial=<that address>`). The WebRTC transport
 * signals over the relayed connection, ICE finds a direct path, and the
 * message goes over the direct WebRTC connection. The only ICE server is
 * the relay's STUN responder, which the relay names on
 * `/kitsune/stun/1.0.0` (`IceServersFromRelays` of `@kitsune/hole-punch`).
 */

import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { IceServersFromRelays, STUN_ADDRESS_PROTOCOL } from '@kitsune/hole-punch'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { TIMEOUT } from './constants.js'

/** The protocol the two pages exchange their messages on */
export const MESH_PROTOCOL = '/kitsune-example/mesh/1.0.0'

/**
 * The most bytes of a message, sent or read (UTF-8)
 *
 * @default 4096
 */
export const MAX_MESSAGE_BYTES = 4096

/**
 * A query string the page cannot act on
 */
export class MeshParamsError extends Error {
  name = 'MeshParamsError'
}

/**
 * @typedef {object} MeshParams
 * @property {import('@multiformats/multiaddr').Multiaddr} relay - the relay's WebSockets address, with `/p2p/<id>`
 * @property {string} relayId - the relay's peer id
 * @property {import('@multiformats/multiaddr').Multiaddr} [dial] - the other page's `…/p2p-circuit/webrtc/p2p/<id>` address
 * @property {string} [dialId] - the other page's peer id
 * @property {string} [message] - what to send (default: `hello from <this page's peer id>`)
 * @property {number} timeout - ms for each step
 */

/**
 * Reads `?relay=<multiaddr>` plus optional `&dial=<multiaddr>`,
 * `&message=<text>` and `&timeout=<ms>`. Returns `undefined` without
 * `relay` (the form is shown); throws a {@link MeshParamsError} for anything
 * else it cannot use.
 *
 * @param {string} query - `location.search`
 * @returns {MeshParams | undefined}
 */
export function parseMeshParams (query) {
  const search = new URLSearchParams(query)
  const relayText = search.get('relay')
  if (relayText == null || relayText === '') {
    return undefined
  }
  let relay
  try {
    relay = multiaddr(relayText)
  } catch (err) {
    throw new MeshParamsError(`relay is not a multiaddr: ${err.message}`)
  }
  const relayNames = relay.getComponents().map(component => component.name)
  const relayId = relay.getComponents().findLast(component => component.name === 'p2p')?.value
  if (relayId == null || relayNames.at(-1) !== 'p2p') {
    throw new MeshParamsError('relay must end in /p2p/<peer id>')
  }
  if (!relayNames.some(name => name === 'ws' || name === 'wss' || name === 'tls')) {
    throw new MeshParamsError('relay must be a WebSockets address (/ws or /wss): a browser can dial nothing else here')
  }
  if (relayNames.includes('p2p-circuit')) {
    throw new MeshParamsError('relay must be the relay\'s own address, not a circuit')
  }

  let dial
  let dialId
  const dialText = search.get('dial')
  if (dialText != null && dialText !== '') {
    try {
      dial = multiaddr(dialText)
    } catch (err) {
      throw new MeshParamsError(`dial is not a multiaddr: ${err.message}`)
    }
    const names = dial.getComponents().map(component => component.name)
    const circuit = names.lastIndexOf('p2p-circuit')
    if (circuit === -1 || names[circuit + 1] !== 'webrtc' || names[circuit + 2] !== 'p2p' || names.length !== circuit + 3) {
      throw new MeshParamsError('dial must be another page\'s address: <relay>/p2p-circuit/webrtc/p2p/<peer id>')
    }
    dialId = dial.getComponents().at(-1)?.value
    const via = dial.getComponents().slice(0, circuit).findLast(component => component.name === 'p2p')?.value
    if (via !== relayId) {
      throw new MeshParamsError('dial must go through the given relay')
    }
  }

  const message = search.get('message') || undefined
  if (message != null && new TextEncoder().encode(message).byteLength > MAX_MESSAGE_BYTES) {
    throw new MeshParamsError(`message is ${new TextEncoder().encode(message).byteLength} bytes, at most ${MAX_MESSAGE_BYTES} are accepted`)
  }

  let timeout = TIMEOUT
  const timeoutText = search.get('timeout')
  if (timeoutText != null && timeoutText !== '') {
    timeout = Number(timeoutText)
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new MeshParamsError(`timeout must be a positive integer, not ${JSON.stringify(timeoutText)}`)
    }
  }
  return { relay, relayId, dial, dialId, message, timeout }
}

/**
 * Whether a connection is direct: not a relayed circuit (which carries
 * limits), and if its address names a relay, only as the place where the
 * WebRTC connection after `/p2p-circuit` was signalled
 *
 * @param {{ remoteAddr: import('@multiformats/multiaddr').Multiaddr, limits?: unknown }} connection
 */
export function isDirect (connection) {
  const names = connection.remoteAddr.getComponents().map(component => component.name)
  const circuit = names.lastIndexOf('p2p-circuit')
  return connection.limits == null && (circuit === -1 || names.slice(circuit + 1).includes('webrtc'))
}

/**
 * A mesh peer built from explicit parts: WebSockets (to the relay), Circuit
 * Relay v2 (reservation, signalling), WebRTC (the direct connection),
 * noise, yamux, identify, and the relay's STUN address as the only ICE
 * server. It may dial only the relay and the page it was told to dial: no
 * bootstrap, DHT, delegated routing, public STUN or mDNS.
 *
 * Call {@link useRelayIceServers} once connected to the relay: until then,
 * WebRTC has no ICE server and refuses to start.
 *
 * @param {MeshParams} params
 */
export async function createMeshPeer (params) {
  const allowed = new Set([params.relayId, ...(params.dialId == null ? [] : [params.dialId])])
  /** @type {RTCIceServer[] | undefined} */
  let iceServers
  const node = await createLibp2p({
    addresses: {
      // the listening page reserves a slot on the relay and is reachable
      // over WebRTC through it
      listen: params.dial == null ? [`${params.relay}/p2p-circuit`, '/webrtc'] : []
    },
    transports: [
      webSockets(),
      circuitRelayTransport(),
      webRTC({
        // never @libp2p/webrtc's default (public) STUN servers
        rtcConfiguration: async () => {
          if (iceServers == null || iceServers.length === 0) {
            throw new Error('no ICE server: the relay named no STUN address')
          }
          return { iceServers }
        }
      })
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      // the browser gater refuses loopback and private addresses; the
      // relay given is the one to reach
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => !allowed.has(peer.toString())
    },
    services: {
      identify: identify(),
      iceServers: (components) => new IceServersFromRelays(components)
    }
  })

  /**
   * Asks the relay for its STUN address (once identify has told us the
   * relay speaks `/kitsune/stun/1.0.0`) and makes it the only ICE server
   *
   * @param {AbortSignal} signal
   */
  async function useRelayIceServers (signal) {
    await identified(node, params.relayId, signal)
    iceServers = await node.services.iceServers.getIceServers({ signal })
    if (iceServers.length === 0) {
      throw new Error(`the relay does not name a STUN address on ${STUN_ADDRESS_PROTOCOL}`)
    }
    return iceServers
  }

  return { node, useRelayIceServers }
}

/**
 * Resolves once identify has run with `peer` (its protocols are known)
 *
 * @param {import('@libp2p/interface').Libp2p} node
 * @param {string} peer
 * @param {AbortSignal} signal
 */
async function identified (node, peer, signal) {
  const known = async () => {
    const entries = await node.peerStore.all({ filters: [(p) => p.id.toString() === peer] })
    return entries.some(p => p.protocols.length > 0)
  }
  if (await known()) {
    return
  }
  await new Promise((resolve, reject) => {
    const onIdentify = (evt) => {
      if (evt.detail.peerId.toString() === peer) {
        done()
        resolve(undefined)
      }
    }
    const onAbort = () => {
      done()
      reject(signal.reason)
    }
    const done = () => {
      node.removeEventListener('peer:identify', onIdentify)
      signal.removeEventListener('abort', onAbort)
    }
    node.addEventListener('peer:identify', onIdentify)
    signal.addEventListener('abort', onAbort, { once: true })
    // identify may have finished while the listener was being added
    known().then(yes => { if (yes) { done(); resolve(undefined) } }, () => {})
  })
}

/**
 * Reads a whole (small) stream as UTF-8, at most `max` bytes
 *
 * @param {AsyncIterable<Uint8Array | { subarray(): Uint8Array }>} stream
 * @param {number} [max]
 */
export async function readText (stream, max = MAX_MESSAGE_BYTES) {
  const chunks = []
  let length = 0
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    length += bytes.byteLength
    if (length > max) {
      throw new Error(`the message is longer than ${max} bytes`)
    }
    chunks.push(bytes)
  }
  const all = new Uint8Array(length)
  let offset = 0
  for (const bytes of chunks) {
    all.set(bytes, offset)
    offset += bytes.byteLength
  }
  return new TextDecoder().decode(all)
}
