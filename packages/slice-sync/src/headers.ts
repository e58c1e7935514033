import { RLP } from '@ethereumjs/rlp'
import { bytesToHex } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { InvalidMessageError } from './errors.ts'

/**
 * The fields of a block header that slice-sync uses. Consensus (proof of
 * work or stake, signatures, gas, the block body) is not checked.
 */
export interface HeaderInfo {
  hash: Uint8Array
  parentHash: Uint8Array
  stateRoot: Uint8Array
  number: bigint
  rlp: Uint8Array
}

/**
 * Decodes an RLP block header of any fork (it is a list of at least 15 fields
 * whose 0th is the parent hash, 3rd the state root and 8th the number)
 */
export function decodeHeader (rlp: Uint8Array): HeaderInfo {
  let fields: unknown
  try {
    fields = RLP.decode(rlp)
  } catch (err: any) {
    throw new InvalidMessageError(`header is not RLP: ${err.message}`)
  }
  if (!Array.isArray(fields) || fields.length < 15 || fields.some(f => !(f instanceof Uint8Array))) {
    throw new InvalidMessageError('header is not a list of at least 15 byte strings')
  }
  const [parentHash, , , stateRoot, , , , , number] = fields as Uint8Array[]
  if (parentHash.length !== 32 || stateRoot.length !== 32 || number.length > 8) {
    throw new InvalidMessageError('header has a malformed parent hash, state root or number')
  }
  return {
    hash: keccak256(rlp),
    parentHash,
    stateRoot,
    number: number.length === 0 ? 0n : BigInt(bytesToHex(number)),
    rlp
  }
}

export type HeaderVerdict = 'accepted' | 'known' | 'unknown-parent'

/**
 * Headers followed from a trust anchor by `parentHash`, with bounded history
 */
export class HeaderChain {
  private readonly headers = new Map<string, HeaderInfo>()
  private readonly trustedRoots = new Set<string>()
  private readonly history: number
  head?: HeaderInfo

  constructor (history: number) {
    this.history = history
  }

  /**
   * Trusts a state root: a header with this state root is accepted as an
   * anchor even though its parent is unknown
   */
  trustRoot (root: Uint8Array): void {
    this.trustedRoots.add(bytesToHex(root))
  }

  /**
   * Trusts a header as is
   */
  trustHeader (rlp: Uint8Array): HeaderInfo {
    const header = decodeHeader(rlp)
    this.trustedRoots.add(bytesToHex(header.stateRoot))
    this.add(header)
    return header
  }

  get (hash: Uint8Array): HeaderInfo | undefined {
    return this.headers.get(bytesToHex(hash))
  }

  isTrustedRoot (root: Uint8Array): boolean {
    return this.trustedRoots.has(bytesToHex(root))
  }

  /**
   * Whether `root` is the state root of a trusted root or a kept header
   */
  knowsRoot (root: Uint8Array): boolean {
    const hex = bytesToHex(root)
    if (this.trustedRoots.has(hex)) {
      return true
    }
    for (const h of this.headers.values()) {
      if (bytesToHex(h.stateRoot) === hex) {
        return true
      }
    }
    return false
  }

  /**
   * Checks a header against the chain and keeps it when it links
   */
  offer (header: HeaderInfo): HeaderVerdict {
    if (this.headers.has(bytesToHex(header.hash))) {
      return 'known'
    }
    const parent = this.headers.get(bytesToHex(header.parentHash))
    if (parent != null) {
      if (parent.number + 1n !== header.number) {
        throw new InvalidMessageError('header number does not follow its parent')
      }
    } else if (!this.trustedRoots.has(bytesToHex(header.stateRoot))) {
      return 'unknown-parent'
    }
    this.add(header)
    return 'accepted'
  }

  /** Kept headers, oldest first */
  list (): HeaderInfo[] {
    return [...this.headers.values()].sort((a, b) => Number(a.number - b.number))
  }

  get size (): number {
    return this.headers.size
  }

  private add (header: HeaderInfo): void {
    this.headers.set(bytesToHex(header.hash), header)
    if (this.head == null || header.number > this.head.number) {
      this.head = header
    }
    while (this.headers.size > this.history) {
      let oldest: HeaderInfo | undefined
      for (const h of this.headers.values()) {
        if (oldest == null || h.number < oldest.number) {
          oldest = h
        }
      }
      if (oldest == null || oldest === this.head) {
        break
      }
      this.headers.delete(bytesToHex(oldest.hash))
    }
  }
}
