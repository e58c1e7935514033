import { BaseBlockstore } from 'blockstore-core'
import { LRUCache } from 'lru-cache'
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
  private readonly blocks: LRUCache<string, { cid: CID, data: Uint8Array }>

  constructor (maxBytes: number) {
    super()
    this.maxBytes = maxBytes
    this.blocks = new LRUCache({
      maxSize: maxBytes,
      // lru-cache wants a positive size: an empty block counts as one byte
      sizeCalculation: (block) => Math.max(1, block.data.byteLength)
    })
  }

  /**
   * Bytes of block data held
   */
  get size (): number {
    return this.blocks.calculatedSize
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
    // a block larger than the whole budget is not stored
    this.blocks.set(keyOf(cid), { cid, data })
    return cid
  }

  * get (cid: CID, options?: AbortOptions): Generator<Uint8Array> {
    options?.signal?.throwIfAborted()
    const entry = this.blocks.get(keyOf(cid))
    if (entry == null) {
      throw new NotFoundError(`${cid} is not in the cache`)
    }
    yield entry.data
  }

  delete (cid: CID, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    this.blocks.delete(keyOf(cid))
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
