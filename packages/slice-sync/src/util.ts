import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, hexToBytes, isHexString } from '@ethereumjs/util'
import { InvalidOptionError, InvalidProofError } from './errors.ts'
import { Response } from './pb/slice-sync.ts'

/** Gossipsub topic validator verdicts (`TopicValidatorResult`) */
export const ACCEPT = 'accept' as any
export const IGNORE = 'ignore' as any
export const REJECT = 'reject' as any

/** The first and last 32-byte keys of a trie's key space */
export const ZERO_KEY = new Uint8Array(32)
export const LAST_KEY = new Uint8Array(32).fill(0xff)

/**
 * An integer option of at least `min`; throws InvalidOptionError otherwise
 */
export function positiveInt (name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${value}`)
  }
  return value
}

/**
 * Hex (with or without 0x) to bytes; throws InvalidOptionError on bad input
 */
export function hexBytes (hex: string): Uint8Array {
  const prefixed = hex.startsWith('0x') ? hex : `0x${hex}`
  if (!isHexString(prefixed) || prefixed.length % 2 !== 0) {
    throw new InvalidOptionError(`not hex: ${hex}`)
  }
  return hexToBytes(prefixed)
}

/**
 * A response with every field empty
 */
export function emptyResponse (status: Response.Status, error = ''): Response {
  return { status, error, entries: [], proof: [], complete: false, codes: [], headers: [], storageProof: [], root: new Uint8Array(0) }
}

/**
 * Nodes without repeats, in first-seen order
 */
export function dedupe (nodes: Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>()
  for (const n of nodes) {
    seen.set(bytesToHex(n), n)
  }
  return [...seen.values()]
}

/**
 * A storage value (an RLP string) to its bytes
 */
export function decodeSlot (value: Uint8Array): Uint8Array {
  const decoded = RLP.decode(value)
  if (!(decoded instanceof Uint8Array)) {
    throw new InvalidProofError('a storage value is not an RLP string')
  }
  return decoded
}
