import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { InvalidOptionError } from './errors.ts'

/**
 * The slice of a key: the number formed by its first `k` nibbles
 */
export function sliceOf (key: Uint8Array, k: number): number {
  let value = 0
  for (let i = 0; i < k; i++) {
    const byte = key[i >> 1]
    value = value * 16 + ((i & 1) === 0 ? byte >> 4 : byte & 0x0f)
  }
  return value
}

/**
 * The first and last keys (32 bytes) of slice `slice` in a `16^k` split
 */
export function sliceBounds (slice: number, k: number): { start: Uint8Array<ArrayBuffer>, end: Uint8Array<ArrayBuffer> } {
  const start = new Uint8Array(32)
  const end = new Uint8Array(32).fill(0xff)
  for (let i = 0; i < k; i++) {
    const nibble = Math.floor(slice / 16 ** (k - 1 - i)) % 16
    const byte = i >> 1
    if ((i & 1) === 0) {
      start[byte] = nibble << 4
      end[byte] = (nibble << 4) | 0x0f
    } else {
      start[byte] |= nibble
      end[byte] = (end[byte] & 0xf0) | nibble
    }
  }
  return { start, end }
}

/**
 * The number of slices in a `16^k` split
 */
export function sliceCount (k: number): number {
  return 16 ** k
}

/**
 * A peer's position in slice space: the slice of keccak256 of its peer id's
 * multihash bytes
 */
export function positionOf (peerIdBytes: Uint8Array, k: number): number {
  return sliceOf(keccak256(peerIdBytes), k)
}

/**
 * Slices within XOR distance `radius` of `position`: `radius + 1` slices
 * (all of them once the radius reaches the slice count), nearest first
 */
export function responsibleSlices (position: number, k: number, radius: number): number[] {
  const count = sliceCount(k)
  const out: number[] = []
  for (let d = 0; d <= radius && d < count; d++) {
    out.push(position ^ d)
  }
  return out
}

/**
 * Checks a slice-split parameter
 */
export function checkK (k: number): void {
  if (!Number.isInteger(k) || k < 0 || k > 6) {
    throw new InvalidOptionError(`sliceNibbles must be an integer from 0 to 6, got ${k}`)
  }
}

/**
 * Encodes a set of slices as a bitmap
 */
export function slicesToBitmap (slices: Iterable<number>, k: number): Uint8Array {
  const bitmap = new Uint8Array(Math.ceil(sliceCount(k) / 8))
  for (const s of slices) {
    bitmap[s >> 3] |= 1 << (s & 7)
  }
  return bitmap
}

/**
 * Decodes a bitmap of slices; bits past the slice count are ignored
 */
export function bitmapToSlices (bitmap: Uint8Array, k: number): number[] {
  const out: number[] = []
  const count = Math.min(sliceCount(k), bitmap.length * 8)
  for (let s = 0; s < count; s++) {
    if ((bitmap[s >> 3] & (1 << (s & 7))) !== 0) {
      out.push(s)
    }
  }
  return out
}
