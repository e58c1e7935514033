/**
 * The browser version of `support.ts` (swapped in through package.json's
 * `browser` field): no reusePort listeners, no BoundSocket.
 */
import { NodeOnlyError } from '../errors.ts'
import type { PunchSupport } from './support.ts'

/**
 * In a browser: neither SO_REUSEPORT listeners nor `net.BoundSocket`
 */
export function detectPunchSupport (): PunchSupport {
  return { reusePortListen: false, boundSocket: false }
}

/**
 * Throws {@link NodeOnlyError}: bound sockets need Node.js
 */
export function boundSocket (): never {
  throw new NodeOnlyError('boundSocket() needs Node.js (node:net)')
}
