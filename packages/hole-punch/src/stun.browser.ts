/**
 * The browser version of `stun.ts` (swapped in through package.json's
 * `browser` field): a STUN responder needs a UDP socket, which browsers do
 * not have. Browsers use relays' STUN responders through
 * `IceServersFromRelays`, which works there.
 */
import { NodeOnlyError } from './errors.ts'

export const STUN_MAGIC_COOKIE = 0x2112A442
export const STUN_BINDING_REQUEST = 0x0001
export const STUN_BINDING_SUCCESS = 0x0101

function nodeOnly (what: string): never {
  throw new NodeOnlyError(`${what} needs Node.js (node:dgram); browsers have no UDP sockets`)
}

/**
 * Throws {@link NodeOnlyError}
 */
export function parseStunHeader (): never {
  return nodeOnly('parseStunHeader()')
}

/**
 * Throws {@link NodeOnlyError}
 */
export function bindingResponse (): never {
  return nodeOnly('bindingResponse()')
}

/**
 * Throws {@link NodeOnlyError}: the STUN responder needs Node.js
 */
export class StunServer {
  constructor () {
    nodeOnly('stunServer()')
  }
}
