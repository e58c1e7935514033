import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { createUnsafe } from 'multiformats/block'
import * as raw from 'multiformats/codecs/raw'
import { UnknownCodecError } from './errors.ts'
import type { CID } from 'multiformats/cid'
import type { BlockCodec } from 'multiformats/codecs/interface'

/**
 * A link out of a block, in the order the block holds its links
 */
export interface Link {
  cid: CID
  /**
   * The link's name: a dag-pb link's `Name` (empty when it has none), or the
   * link's path inside the decoded value for other codecs (`a/0/b`)
   */
  name: string
}

/**
 * Reads the links out of a block's bytes
 */
export type LinkDecoder = (cid: CID, bytes: Uint8Array) => Link[] | Promise<Link[]>

/**
 * Finds a codec by its multicodec code, e.g. Helia's `getCodec`; it may throw
 * or return nothing for codes it does not know
 */
export type CodecLoader = (code: number) => BlockCodec<any, any> | undefined | Promise<BlockCodec<any, any> | undefined>

export interface LinkDecoderInit {
  /** Codecs beyond dag-pb, dag-cbor, dag-json and raw; they win over those */
  codecs?: Array<BlockCodec<any, any>>
  /** Asked for codes that are neither built in nor in `codecs` */
  loadCodec?: CodecLoader
}

/**
 * The codecs whose links are followed out of the box
 */
export const BUILTIN_CODECS: Array<BlockCodec<any, any>> = [dagPb, dagCbor, dagJson, raw]

/**
 * A link decoder for dag-pb, dag-cbor, dag-json, raw and any codec given.
 * dag-pb links keep their `Name` and their order; the links of other codecs
 * are those `multiformats/block` finds in the decoded value, in its order.
 */
export function createLinkDecoder (init: LinkDecoderInit = {}): LinkDecoder {
  const codecs = new Map<number, BlockCodec<any, any>>()
  for (const codec of [...BUILTIN_CODECS, ...(init.codecs ?? [])]) {
    codecs.set(codec.code, codec)
  }

  const decode = (cid: CID, bytes: Uint8Array, codec: BlockCodec<any, any>): Link[] => {
    if (codec.code === dagPb.code) {
      const node = dagPb.decode(bytes)
      return node.Links.map(link => ({ cid: link.Hash, name: link.Name ?? '' }))
    }
    if (codec.code === raw.code) {
      return []
    }
    const block = createUnsafe({ bytes, cid, codec })
    return [...block.links()].map(([path, cid]) => ({ cid, name: path }))
  }

  return (cid, bytes) => {
    const known = codecs.get(cid.code)
    if (known != null) {
      return decode(cid, bytes, known)
    }
    if (init.loadCodec == null) {
      throw unknownCodec(cid)
    }
    return (async () => {
      let codec: BlockCodec<any, any> | undefined
      try {
        codec = await init.loadCodec?.(cid.code)
      } catch {
        // unknown to the loader as well
      }
      if (codec == null) {
        throw unknownCodec(cid)
      }
      return decode(cid, bytes, codec)
    })()
  }
}

function unknownCodec (cid: CID): UnknownCodecError {
  return new UnknownCodecError(`no decoder for codec 0x${cid.code.toString(16)} (block ${cid}): its links cannot be followed`)
}
