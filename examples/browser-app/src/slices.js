/**
 * The slice-sync light peer page's logic, without the DOM (Node can import
 * it): its query string and its libp2p node.
 *
 * The page reads `?peer=<multiaddr>&account=<0xaddress>&root=<0xstateRoot>`
 * (`peer` may be given more than once: every peer the page may talk to),
 * joins them over WebSockets, asks for the account at the trusted state
 * root, and shows it once its Merkle proof checks against that root.
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { positionOf, sliceOf, sliceSync } from '@kitsune/slice-sync'
import { multiaddr } from '@multiformats/multiaddr'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { createLibp2p } from 'libp2p'
import { TIMEOUT } from './constants.js'

/**
 * Nibbles of `keccak256(address)` that name a slice: slice-sync's default,
 * which every peer of a network shares
 *
 * @default 2
 */
export const SLICE_NIBBLES = 2

/**
 * The most `peer` parameters the page takes
 *
 * @default 8
 */
export const MAX_PEERS = 8

/**
 * How many identities the page draws, at most, to find one whose slice is
 * not the asked account's (each draw misses with probability 1/256)
 *
 * @default 16
 */
export const MAX_KEY_DRAWS = 16

/**
 * A query string the page cannot act on
 */
export class SlicesParamsError extends Error {
  name = 'SlicesParamsError'
}

/**
 * @typedef {object} SlicesParams
 * @property {import('@multiformats/multiaddr').Multiaddr[]} peers - WebSockets addresses, each with `/p2p/<id>`
 * @property {string[]} peerIds - their peer ids, the only peers the node may dial
 * @property {string} account - `0x` and 40 hex digits, lower case
 * @property {string} root - the trusted state root, `0x` and 64 hex digits, lower case
 * @property {number} timeout - ms for dialling and for the answer
 */

/**
 * Reads `?peer=<multiaddr>[&peer=…]&account=<0xaddress>&root=<0xstateRoot>`
 * and an optional `&timeout=<ms>`. Returns `undefined` with no `account`
 * (the form is shown); throws a {@link SlicesParamsError} for anything else
 * it cannot use.
 *
 * @param {string} query - `location.search`
 * @returns {SlicesParams | undefined}
 */
export function parseSlicesParams (query) {
  const search = new URLSearchParams(query)
  const account = search.get('account')
  if (account == null || account === '') {
    return undefined
  }
  const peerTexts = search.getAll('peer').filter(text => text !== '')
  if (peerTexts.length === 0) {
    throw new SlicesParamsError('missing peer (a slice-sync peer\'s WebSockets multiaddr, ending in /p2p/<peer id>)')
  }
  if (peerTexts.length > MAX_PEERS) {
    throw new SlicesParamsError(`at most ${MAX_PEERS} peers are accepted, got ${peerTexts.length}`)
  }
  const peers = []
  const peerIds = []
  for (const text of peerTexts) {
    let peer
    try {
      peer = multiaddr(text)
    } catch (err) {
      throw new SlicesParamsError(`peer is not a multiaddr: ${err.message}`)
    }
    const peerId = peer.getComponents().findLast(component => component.name === 'p2p')?.value
    if (peerId == null) {
      throw new SlicesParamsError('peer must end in /p2p/<peer id>')
    }
    if (!peer.getComponents().some(component => component.name === 'ws' || component.name === 'wss' || component.name === 'tls')) {
      throw new SlicesParamsError('peer must be a WebSockets address (/ws or /wss): a browser can dial nothing else here')
    }
    peers.push(peer)
    peerIds.push(peerId)
  }
  if (!/^0x[0-9a-fA-F]{40}$/.test(account)) {
    throw new SlicesParamsError(`account must be 0x and 40 hex digits, not ${JSON.stringify(account)}`)
  }
  const root = search.get('root')
  if (root == null || root === '') {
    throw new SlicesParamsError('missing root (the state root to trust, 0x and 64 hex digits)')
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(root)) {
    throw new SlicesParamsError(`root must be 0x and 64 hex digits, not ${JSON.stringify(root)}`)
  }
  let timeout = TIMEOUT
  const timeoutText = search.get('timeout')
  if (timeoutText != null && timeoutText !== '') {
    timeout = Number(timeoutText)
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      throw new SlicesParamsError(`timeout must be a positive integer, not ${JSON.stringify(timeoutText)}`)
    }
  }
  return { peers, peerIds, account: account.toLowerCase(), root: root.toLowerCase(), timeout }
}

/**
 * The slice an address's account lives in
 *
 * @param {string} account - `0x…`
 */
export function sliceOfAccount (account) {
  const bytes = new Uint8Array(20)
  for (let i = 0; i < 20; i++) {
    bytes[i] = parseInt(account.slice(2 + i * 2, 4 + i * 2), 16)
  }
  return sliceOf(keccak256(bytes), SLICE_NIBBLES)
}

/**
 * An Ed25519 identity whose slice (where slice-sync places the peer) is
 * not `avoid`: the page then holds no part of the asked account's slice and
 * must ask a peer for it, with a proof
 *
 * @param {number} avoid
 */
export async function keyOutsideSlice (avoid) {
  for (let i = 0; i < MAX_KEY_DRAWS; i++) {
    const privateKey = await generateKeyPair('Ed25519')
    const position = positionOf(peerIdFromPrivateKey(privateKey).toMultihash().bytes, SLICE_NIBBLES)
    if (position !== avoid) {
      return { privateKey, position }
    }
  }
  throw new Error(`no identity outside slice ${avoid} in ${MAX_KEY_DRAWS} draws`)
}

/**
 * A light slice-sync peer built from explicit parts: WebSockets, noise,
 * yamux, identify, gossipsub (slice-sync's announcements) and slice-sync
 * trusting `root`. It listens nowhere, holds at most one slice (its own, by
 * its peer id; no adoption of other peers' slices) and may dial only
 * `peerIds`: no bootstrap, DHT, delegated routing, STUN or mDNS.
 *
 * @param {SlicesParams} params
 */
export async function createLightPeer (params) {
  const { privateKey, position } = await keyOutsideSlice(sliceOfAccount(params.account))
  const allowed = new Set(params.peerIds)
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: [] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      // the browser gater refuses loopback and private addresses; the
      // addresses the page was given are the ones it must reach
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => !allowed.has(peer.toString())
    },
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
      sliceSync: sliceSync({
        trustedRoot: params.root,
        sliceNibbles: SLICE_NIBBLES,
        radius: 0,
        replication: 0,
        maxSlices: 1,
        requestTimeout: params.timeout
      })
    }
  })
  return { node, position }
}
