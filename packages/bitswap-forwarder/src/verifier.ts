import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { UnsupportedCidError } from './errors.ts'
import type { BlockPrefix } from './codec.ts'
import type { MultihashDigest, MultihashHasher } from 'multiformats/hashes/interface'

/**
 * Rebuilds a block's CID from its data, which is how every block is verified:
 * a block whose data does not hash to the CID that was wanted simply names a
 * different CID.
 */
export class BlockVerifier {
  private readonly hashers = new Map<number, MultihashHasher>()

  constructor (extra: MultihashHasher[] = []) {
    for (const hasher of [sha256, sha512, ...extra]) {
      this.hashers.set(hasher.code, hasher)
    }
  }

  canVerify (code: number): boolean {
    return code === identity.code || this.hashers.has(code)
  }

  /**
   * The CID of `data` under `prefix`. Synchronous for the built-in hashers
   * (sha2-256 and sha2-512 use node:crypto).
   */
  cidOf (prefix: BlockPrefix, data: Uint8Array): CID | Promise<CID> {
    if (prefix.hashCode === identity.code) {
      if (data.byteLength !== prefix.hashLength) {
        throw new UnsupportedCidError('Identity block length does not match its prefix')
      }
      return this.toCid(prefix, identity.digest(data))
    }
    const hasher = this.hashers.get(prefix.hashCode)
    if (hasher == null) {
      throw new UnsupportedCidError(`No hasher for multihash code 0x${prefix.hashCode.toString(16)}`)
    }
    const digest = hasher.digest(data, { truncate: prefix.hashLength })
    if (digest instanceof Promise) {
      return digest.then(d => this.toCid(prefix, d))
    }
    return this.toCid(prefix, digest)
  }

  private toCid (prefix: BlockPrefix, digest: MultihashDigest<number>): CID {
    return prefix.version === 0 ? CID.createV0(digest as MultihashDigest<0x12>) : CID.createV1(prefix.codec, digest)
  }
}
