import { verifyMerkleRangeProof } from '@ethereumjs/mpt'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { STORAGE_PROOF_NODES_PER_ENTRY } from './constants.ts'
import { InvalidMessageError, InvalidProofError, MessageTooLargeError, RemoteError } from './errors.ts'
import { Request, Response } from './pb/slice-sync.ts'
import { addNodes, OverlayNodes, TrieReader } from './trie.ts'
import type { TrieEntry, NodeSource } from './trie.ts'
import type { AbortOptions, Stream } from '@libp2p/interface'

export interface ProtocolLimits {
  maxMessageSize: number
  maxResponseBytes: number
  maxResponseCount: number
  maxHashesPerRequest: number
}

/**
 * Writes one message and reads one answer on a stream (the requester's side)
 */
export async function exchange (stream: Stream, request: Request, limits: ProtocolLimits, options: AbortOptions): Promise<Response> {
  const lp = lpStream(stream, { maxDataLength: limits.maxMessageSize })
  try {
    await lp.write(Request.encode(request), options)
    let bytes
    try {
      bytes = await lp.read(options)
    } catch (err: any) {
      if (err.name === 'InvalidDataLengthError') {
        throw new MessageTooLargeError(`response larger than maxMessageSize (${limits.maxMessageSize} bytes)`)
      }
      throw err
    }
    let response: Response
    try {
      response = Response.decode(bytes, {
        limits: {
          entries: limits.maxResponseCount,
          proof: limits.maxResponseCount,
          codes: limits.maxHashesPerRequest,
          headers: limits.maxResponseCount,
          storageProof: limits.maxResponseCount * STORAGE_PROOF_NODES_PER_ENTRY
        }
      })
    } catch (err: any) {
      throw new InvalidMessageError(`response is not a slice-sync message: ${err.message}`)
    }
    await stream.close(options).catch(() => {})
    if (response.status !== Response.Status.OK) {
      throw new RemoteError(`${Response.Status[response.status] ?? response.status}: ${response.error}`)
    }
    return response
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

function compare (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      return a[i] - b[i]
    }
  }
  return a.length - b.length
}

/**
 * The key after `key` (32 bytes), or undefined at the end of the key space
 */
export function nextKey (key: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(key)
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] === 0xff) {
      out[i] = 0
    } else {
      out[i]++
      return out
    }
  }
  return undefined
}

export interface VerifiedRange {
  entries: TrieEntry[]
  proof: Uint8Array[]
  complete: boolean
}

/**
 * Checks a range response against `root`: keys in order inside
 * [origin, limit], and the boundary proofs (of `origin` and of `limit` when the
 * response says it is complete, else of its last key) prove that no key of
 * the trie between them is missing and that every value is the trie's
 */
export async function verifyRange (root: Uint8Array, origin: Uint8Array, limit: Uint8Array, response: Response): Promise<VerifiedRange> {
  const entries = response.entries.map(e => ({ key: e.key, value: e.value }))
  for (let i = 0; i < entries.length; i++) {
    const { key, value } = entries[i]
    if (key.length !== 32 || value.length === 0) {
      throw new InvalidProofError('range entry with a malformed key or an empty value')
    }
    if (compare(key, origin) < 0 || compare(key, limit) > 0) {
      throw new InvalidProofError('range entry outside the requested range')
    }
    if (i > 0 && compare(entries[i - 1].key, key) >= 0) {
      throw new InvalidProofError('range entries out of order')
    }
  }
  if (!response.complete && entries.length === 0) {
    throw new InvalidProofError('an incomplete range response must hold at least one entry')
  }
  if (response.proof.length === 0) {
    throw new InvalidProofError('range response without a proof')
  }
  if (entries.length === 0) {
    // an empty range: verifyMerkleRangeProof only proves emptiness up to the
    // end of the trie, so walk [origin, limit] through the proof nodes; every
    // node is found by its hash, and a missing one fails the walk
    const nodes = new Map<string, Uint8Array>()
    addNodes(nodes, response.proof)
    try {
      const found = new TrieReader(nodes).range(root, origin, limit)
      if (found.entries.length > 0) {
        throw new Error('the range is not empty')
      }
    } catch (err: any) {
      throw new InvalidProofError(`empty range proof does not verify against ${bytesToHex(root)}: ${err.message}`)
    }
    return { entries, proof: response.proof, complete: true }
  }
  const last = response.complete ? limit : entries[entries.length - 1].key
  try {
    await verifyMerkleRangeProof(root, origin, last, entries.map(e => e.key), entries.map(e => e.value), response.proof)
  } catch (err: any) {
    throw new InvalidProofError(`range proof does not verify against ${bytesToHex(root)}: ${err.message}`)
  }
  return { entries, proof: response.proof, complete: response.complete }
}

/**
 * Reads one key out of a set of proof nodes rooted at `root`: every node on
 * the path is found by its hash, so a value returned is the trie's
 */
export function readProof (root: Uint8Array, key: Uint8Array, proof: Uint8Array[], base?: NodeSource): Uint8Array | null {
  const nodes = new Map<string, Uint8Array>()
  addNodes(nodes, proof)
  const reader = new TrieReader(base == null ? nodes : new OverlayNodes(base, nodes))
  try {
    return reader.get(root, key)
  } catch (err: any) {
    throw new InvalidProofError(`proof does not reach ${bytesToHex(key)} from ${bytesToHex(root)}: ${err.message}`)
  }
}

/**
 * Checks byte codes against the hashes asked for: every code returned must
 * hash to one of them
 */
export function verifyCodes (hashes: Uint8Array[], codes: Uint8Array[]): Map<string, Uint8Array> {
  const wanted = new Set(hashes.map(h => bytesToHex(h)))
  const out = new Map<string, Uint8Array>()
  for (const code of codes) {
    const hash = bytesToHex(keccak256(code))
    if (!wanted.has(hash)) {
      throw new InvalidProofError(`code ${hash} was not asked for`)
    }
    out.set(hash, code)
  }
  return out
}

export { equalsBytes, compare }
