/**
 * The browser version of `punch-tcp.ts` (swapped in through package.json's
 * `browser` field): browsers have no TCP sockets, so the punch transport
 * cannot exist there and says so when constructed.
 */
import { NodeOnlyError } from '../errors.ts'

export { PUNCH_TCP_TAG } from '../constants.ts'

/**
 * Throws {@link NodeOnlyError}: the punch TCP transport needs Node.js
 */
export class PunchTCP {
  constructor () {
    throw new NodeOnlyError('punchTCP() needs Node.js (node:net); browsers have no TCP sockets: use webRTC with IceServersFromRelays instead')
  }
}
