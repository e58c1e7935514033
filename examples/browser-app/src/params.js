import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { MAX_ADD_BYTES, MAX_CONTENT_BYTES, TIMEOUT } from './constants.js'

/**
 * A query string the page cannot act on
 */
export class ParamsError extends Error {
  name = 'ParamsError'
}

/**
 * @typedef {object} PageParams
 * @property {import('@multiformats/multiaddr').Multiaddr} peer - the proxy, with `/p2p/<id>`
 * @property {string} peerId - the proxy's peer id
 * @property {URL} [preload] - the preload endpoint's base URL
 * @property {CID} [cid] - fetch and show this
 * @property {string} [add] - add this text, then preload it
 * @property {number} timeout - ms for each step
 * @property {number} maxContentBytes - the most bytes shown
 */

/**
 * @param {URLSearchParams} search
 * @param {string} name
 * @param {number} fallback
 */
function positiveInteger (search, name, fallback) {
  const text = search.get(name)
  if (text == null || text === '') {
    return fallback
  }
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ParamsError(`${name} must be a positive integer, not ${JSON.stringify(text)}`)
  }
  return value
}

/**
 * Reads `?peer=<multiaddr>&preload=<url>` plus `&cid=<cid>` or
 * `&add=<text>`. Returns `undefined` when the page was opened with neither
 * (the forms are shown); throws a {@link ParamsError} for anything else it
 * cannot use.
 *
 * @param {string} query - `location.search`
 * @returns {PageParams | undefined}
 */
export function parseParams (query) {
  const search = new URLSearchParams(query)
  const cidText = search.get('cid')
  const add = search.get('add')

  if (cidText == null && add == null) {
    return undefined
  }
  if (cidText != null && add != null) {
    throw new ParamsError('give either cid or add, not both')
  }

  const peerText = search.get('peer')
  if (peerText == null || peerText === '') {
    throw new ParamsError('missing peer (the proxy\'s WebSockets multiaddr, ending in /p2p/<peer id>)')
  }
  let peer
  try {
    peer = multiaddr(peerText)
  } catch (err) {
    throw new ParamsError(`peer is not a multiaddr: ${err.message}`)
  }
  const peerId = peer.getComponents().findLast(component => component.name === 'p2p')?.value
  if (peerId == null) {
    throw new ParamsError('peer must end in /p2p/<peer id>, as a hard-coded preload or bootstrap address does')
  }
  if (!peer.getComponents().some(component => component.name === 'ws' || component.name === 'wss' || component.name === 'tls')) {
    throw new ParamsError('peer must be a WebSockets address (/ws or /wss): a browser can dial nothing else here')
  }

  let preload
  const preloadText = search.get('preload')
  if (preloadText != null && preloadText !== '') {
    try {
      preload = new URL(preloadText)
    } catch {
      throw new ParamsError(`preload is not a URL: ${JSON.stringify(preloadText)}`)
    }
    if (preload.protocol !== 'http:' && preload.protocol !== 'https:') {
      throw new ParamsError(`preload must be an http: or https: URL, not ${preload.protocol}`)
    }
  }

  let cid
  if (cidText != null) {
    try {
      cid = CID.parse(cidText.trim())
    } catch (err) {
      throw new ParamsError(`cid is not a CID: ${err.message}`)
    }
  }

  if (add != null) {
    if (preload == null) {
      throw new ParamsError('add needs preload (the preload endpoint\'s URL), or what is added is lost when the page closes')
    }
    const bytes = new TextEncoder().encode(add).byteLength
    if (bytes > MAX_ADD_BYTES) {
      throw new ParamsError(`add is ${bytes} bytes, at most ${MAX_ADD_BYTES} are accepted`)
    }
  }

  return {
    peer,
    peerId,
    preload,
    cid,
    add: add ?? undefined,
    timeout: positiveInteger(search, 'timeout', TIMEOUT),
    maxContentBytes: positiveInteger(search, 'maxContentBytes', MAX_CONTENT_BYTES)
  }
}
