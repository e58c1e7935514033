import { BaseBlockstore } from 'blockstore-core'
import { concat } from 'uint8arrays/concat'
import { keyOf } from './codec.ts'
import { NotFoundError } from './errors.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { Blockstore, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/**
 * An in-memory blockstore that holds at most `maxBytes` of block data and
 * evicts the least recently used blocks to stay under it. The forwarder's
 * default cache.
 */
export class LruBlockCache extends BaseBlockstore {
  readonly maxBytes: number
  private readonly blocks = new Map<string, { cid: CID, data: Uint8Array }>()
  private bytes = 0

  constructor (maxBytes: number) {
    super()
    this.maxBytes = maxBytes
  }

  /**
   * Bytes of block data held
   */
  get size (): number {
    return this.bytes
  }

  has (cid: CID, options?: AbortOptions): boolean {
    options?.signal?.throwIfAborted()
    return this.blocks.has(keyOf(cid))
  }

  put (cid: CID, data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions): CID {
    options?.signal?.throwIfAborted()
    if (!(data instanceof Uint8Array)) {
      throw new TypeError('LruBlockCache only stores whole blocks')
    }
    if (data.byteLength > this.maxBytes) {
      return cid
    }
    const key = keyOf(cid)
    const existing = this.blocks.get(key)
    if (existing != null) {
      this.blocks.delete(key)
      this.bytes -= existing.data.byteLength
    }
    this.blocks.set(key, { cid, data })
    this.bytes += data.byteLength
    while (this.bytes > this.maxBytes) {
      const [oldest, value] = this.blocks.entries().next().value as [string, { data: Uint8Array }]
      this.blocks.delete(oldest)
      this.bytes -= value.data.byteLength
    }
    return cid
  }

  * get (cid: CID, options?: AbortOptions): Generator<Uint8Array> {
    options?.signal?.throwIfAborted()
    const key = keyOf(cid)
    const entry = this.blocks.get(key)
    if (entry == null) {
      throw new NotFoundError(`${cid} is not in the cache`)
    }
    // most recently used goes last
    this.blocks.delete(key)
    this.blocks.set(key, entry)
    yield entry.data
  }

  delete (cid: CID, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    const key = keyOf(cid)
    const entry = this.blocks.get(key)
    if (entry != null) {
      this.blocks.delete(key)
      this.bytes -= entry.data.byteLength
    }
  }

  * getAll (options?: AbortOptions): Generator<Pair> {
    for (const { cid, data } of this.blocks.values()) {
      options?.signal?.throwIfAborted()
      yield { cid, bytes: (function * () { yield data })() }
    }
  }
}

/**
 * Reads a whole block from any blockstore, or `undefined` if it is not there
 */
export async function readBlock (blockstore: Blockstore, cid: CID, options?: AbortOptions): Promise<Uint8Array | undefined> {
  if (!(await blockstore.has(cid, options))) {
    return undefined
  }
  const chunks: Uint8Array[] = []
  let length = 0
  try {
    for await (const chunk of blockstore.get(cid, options)) {
      chunks.push(chunk)
      length += chunk.byteLength
    }
  } catch (err: any) {
    if (err.name === 'NotFoundError') {
      return undefined
    }
    throw err
  }
  return chunks.length === 1 ? chunks[0] : concat(chunks, length)
}
