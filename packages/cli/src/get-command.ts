/**
 * `kitsune get`: a throw-away stock Helia client that connects to one peer
 * only and fetches a UnixFS file from it over Bitswap. It is how a newcomer
 * and an operator check a proxy by hand.
 */

import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { unixfs } from '@helia/unixfs'
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { runParsed } from './command.ts'
import { parseGetArgs } from './config.ts'
import { DEFAULT_GET_TIMEOUT, EXIT_OK } from './constants.ts'
import { CommandError, FetchTimeoutError } from './errors.ts'
import { localHelia } from './helia-node.ts'
import { getUsage } from './usage.ts'
import type { GetOptions } from './config.ts'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Writable } from 'node:stream'

const log = logger('kitsune:cli:get')

/**
 * What to fetch, and from whom
 */
export interface FetchFileOptions {
  /** The CID of a UnixFS file */
  cid: CID | string
  /** The one peer to fetch from (a proxy, or any IPFS node) */
  peer: Multiaddr | string
  /**
   * Give up after this many ms, counted from the start of the dial
   *
   * @default 60000
   */
  timeout?: number
  signal?: AbortSignal
}

/**
 * Creates the client: a Helia node with in-memory stores, Bitswap, and a
 * libp2p node that listens nowhere, discovers nothing and routes nothing.
 */
async function createClient (): Promise<HeliaWithLibp2p> {
  // the one peer the user named may well be on loopback or a LAN
  const helia = localHelia({ listen: [], webSockets: true, dialAnyAddress: true })
  await helia.start()
  return helia
}

/**
 * Fetches a UnixFS file from one peer and yields its bytes in order. The
 * client is stopped when the iteration ends, however it ends.
 *
 * @example
 *
 * ```typescript
 * import { fetchFile } from '@kitsune/cli'
 *
 * for await (const chunk of fetchFile({ cid: 'bafk…', peer: '/ip4/127.0.0.1/tcp/4001/p2p/12D3…' })) {
 *   process.stdout.write(chunk)
 * }
 * ```
 */
export async function * fetchFile (options: FetchFileOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const cid = typeof options.cid === 'string' ? CID.parse(options.cid) : options.cid
  const peer = typeof options.peer === 'string' ? multiaddr(options.peer) : options.peer
  const timeout = options.timeout ?? DEFAULT_GET_TIMEOUT
  const timeoutSignal = AbortSignal.timeout(timeout)
  const signal = options.signal != null ? AbortSignal.any([timeoutSignal, options.signal]) : timeoutSignal

  const timedOut = (what: string, err: any): Error => {
    if (timeoutSignal.aborted) {
      return new FetchTimeoutError(`timed out after ${timeout} ms ${what}`, { cause: err })
    }
    return err
  }

  const helia = await createClient()
  try {
    try {
      log('dialling %a', peer)
      await helia.libp2p.dial(peer, { signal })
    } catch (err: any) {
      const error = timedOut(`connecting to ${peer.toString()}`, err)
      throw error instanceof FetchTimeoutError ? error : new CommandError(`cannot connect to ${peer.toString()}: ${err.message}`, { cause: err })
    }

    try {
      log('fetching %c', cid)
      yield * unixfs(helia).cat(cid, { signal })
    } catch (err: any) {
      const error = timedOut(`fetching ${cid.toString()} from ${peer.toString()}`, err)
      throw error instanceof FetchTimeoutError ? error : new CommandError(`cannot fetch ${cid.toString()} from ${peer.toString()}: ${err.message}`, { cause: err })
    }
  } finally {
    await helia.stop().catch((err) => { log.error('could not stop the client - %e', err) })
  }
}

async function write (out: Writable, chunk: Uint8Array): Promise<void> {
  if (!out.write(chunk)) {
    await once(out, 'drain')
  }
}

/**
 * Runs `kitsune get` from its arguments. Returns the exit code; throws a
 * `UsageError` or `CommandError` for the caller to report.
 */
export async function runGetCommand (args: string[], stdout: Writable = process.stdout): Promise<number> {
  return runParsed(parseGetArgs(args), getUsage, async options => runGet(options, stdout), { stdout })
}

/**
 * Fetches the file to stdout or to `output`. A partly written output file
 * is removed.
 */
export async function runGet (options: GetOptions, stdout: Writable = process.stdout): Promise<number> {
  const { cid, peer, output, timeout } = options

  if (output == null) {
    for await (const chunk of fetchFile({ cid, peer, timeout })) {
      await write(stdout, chunk)
    }
    return EXIT_OK
  }

  const file = createWriteStream(output, { flags: 'w' })
  try {
    await once(file, 'open')
  } catch (err: any) {
    throw new CommandError(`cannot write ${output} (${err.code ?? err.message})`, { cause: err })
  }

  try {
    for await (const chunk of fetchFile({ cid, peer, timeout })) {
      await write(file, chunk)
    }
    await new Promise<void>((resolve, reject) => {
      file.end((err?: Error | null) => { err != null ? reject(err) : resolve() })
    })
  } catch (err) {
    file.destroy()
    await rm(output, { force: true })
    throw err
  }

  return EXIT_OK
}
