/**
 * Bitswap cannot be bridged as a plain stream (the answer to a WANT comes
 * back on a new stream opened by the responder), so `kitsune proxy` adds the
 * message-level forwarder from `@kitsune/bitswap-forwarder`. It finds the
 * proxy service at `components.proxy`.
 */

import { CommandError } from './errors.ts'
import type { bitswapForwarder } from '@kitsune/bitswap-forwarder'

/**
 * Imports the Bitswap forwarder's factory. The import is lazy so that
 * `--no-bitswap` runs without loading it at all.
 */
export async function loadBitswapForwarder (): Promise<typeof bitswapForwarder> {
  try {
    const mod = await import('@kitsune/bitswap-forwarder')
    return mod.bitswapForwarder
  } catch (err: any) {
    throw new CommandError(`cannot load @kitsune/bitswap-forwarder (${err.code ?? err.message}); pass --no-bitswap to run without Bitswap forwarding`, { cause: err })
  }
}
