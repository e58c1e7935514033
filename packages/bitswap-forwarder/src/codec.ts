import { contentKey } from '@kitsune/proxy'
import { CID } from 'multiformats/cid'
import * as varint from 'uint8-varint'
import { BITSWAP_100, BITSWAP_110, BITSWAP_120, BITSWAP_LEGACY } from './constants.ts'
import { InvalidMessageError, UnsupportedCidError, WantlistTooLargeError } from './errors.ts'
import { BitswapMessage, BlockPresenceType } from './pb/message.ts'
import type { Block, BlockPresence, WantlistEntry } from './pb/message.ts'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * The Bitswap wire versions. `/ipfs/bitswap` is 1.0.0.
 */
export type BitswapVersion = '1.0.0' | '1.1.0' | '1.2.0'

export function versionOf (protocol: string): BitswapVersion {
  switch (protocol) {
    case BITSWAP_120:
      return '1.2.0'
    case BITSWAP_110:
      return '1.1.0'
    case BITSWAP_100:
    case BITSWAP_LEGACY:
      return '1.0.0'
    default:
      throw new InvalidMessageError(`Unknown Bitswap protocol ${protocol}`)
  }
}

/**
 * The protocol ids of a version, in the order to offer them
 */
export function protocolsOf (version: BitswapVersion): string[] {
  switch (version) {
    case '1.2.0':
      return [BITSWAP_120]
    case '1.1.0':
      return [BITSWAP_110]
    default:
      return [BITSWAP_100, BITSWAP_LEGACY]
  }
}

/**
 * The identity of a block inside the forwarder: the proxy's `contentKey`
 * (its multihash), the key it is placed by. Two CIDs that differ only in
 * version or codec name the same bytes.
 */
export const keyOf: (cid: CID) => string = contentKey

export type WantKind = 'block' | 'have'

/**
 * A wantlist entry, version independent
 */
export interface Want {
  cid: CID
  key: string
  priority: number
  cancel: boolean
  wantType: WantKind
  sendDontHave: boolean
}

/**
 * The four varints in front of a block in 1.1.0 and later
 */
export interface BlockPrefix {
  version: 0 | 1
  codec: number
  hashCode: number
  hashLength: number
}

export interface ReceivedBlock {
  prefix: BlockPrefix
  data: Uint8Array
}

export type PresenceKind = 'have' | 'dont-have'

export interface Presence {
  cid: CID
  key: string
  type: PresenceKind
}

/**
 * A decoded Bitswap message, version independent
 */
export interface DecodedMessage {
  /** The wantlist replaces every earlier want of the sender */
  full: boolean
  /** True when the message carried a wantlist at all */
  hasWantlist: boolean
  wants: Want[]
  blocks: ReceivedBlock[]
  presences: Presence[]
  /**
   * Entries (wants, blocks, presences) skipped because they cannot be used:
   * an unknown want type, bytes that are not a CID, a block prefix that does
   * not parse, a hash function the forwarder cannot verify
   */
  invalidEntries: number
}

export interface DecodeOptions {
  /** Most wantlist entries one message may carry */
  maxEntries: number
  /** Whether blocks hashed with this multihash code can be verified */
  canVerify(code: number): boolean
}

export const DAG_PB = 0x70
export const SHA2_256 = 0x12
const V0_PREFIX: BlockPrefix = { version: 0, codec: DAG_PB, hashCode: SHA2_256, hashLength: 32 }

function checkCid (bytes: Uint8Array, options: DecodeOptions): CID {
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch (err: any) {
    throw new UnsupportedCidError(`Invalid CID: ${err.message}`)
  }
  if (!options.canVerify(cid.multihash.code)) {
    throw new UnsupportedCidError(`CID ${cid} uses hash function 0x${cid.multihash.code.toString(16)}, which the forwarder cannot verify`)
  }
  return cid
}

export function parsePrefix (bytes: Uint8Array): BlockPrefix {
  try {
    let offset = 0
    const values: number[] = []
    for (let i = 0; i < 4; i++) {
      const value = varint.decode(bytes, offset)
      values.push(value)
      offset += varint.encodingLength(value)
    }
    if (offset !== bytes.byteLength) {
      throw new Error('trailing bytes')
    }
    const [version, codec, hashCode, hashLength] = values
    if (version === 0) {
      if (codec !== DAG_PB || hashCode !== SHA2_256 || hashLength !== 32) {
        throw new Error('a CIDv0 is always dag-pb and sha2-256')
      }
    } else if (version !== 1) {
      throw new Error(`CID version ${version}`)
    }
    return { version, codec, hashCode, hashLength }
  } catch (err: any) {
    throw new UnsupportedCidError(`Invalid block prefix: ${err.message}`)
  }
}

export function encodePrefix (cid: CID): Uint8Array {
  const parts = [cid.version, cid.code, cid.multihash.code, cid.multihash.size]
  const out = new Uint8Array(parts.reduce((acc, n) => acc + varint.encodingLength(n), 0))
  let offset = 0
  for (const n of parts) {
    varint.encodeUint8Array(n, out, offset)
    offset += varint.encodingLength(n)
  }
  return out
}

export function samePrefix (a: BlockPrefix, cid: CID): boolean {
  return a.version === cid.version && a.codec === cid.code && a.hashCode === cid.multihash.code && a.hashLength === cid.multihash.size
}

/**
 * Decodes one Bitswap message (without its length prefix). Throws
 * `InvalidMessageError` for bytes that are not a Bitswap message and
 * `WantlistTooLargeError` for too many entries; an entry that cannot be used
 * (a CID that does not decode or cannot be verified, an unknown want type,
 * a bad block prefix) is skipped and counted in `invalidEntries`, so the
 * valid entries beside it are still served.
 */
export function decodeMessage (bytes: Uint8Array | Uint8ArrayList, options: DecodeOptions): DecodedMessage {
  let message: BitswapMessage
  try {
    message = BitswapMessage.decode(bytes, {
      limits: {
        wantlist: {
          entries: options.maxEntries
        }
      }
    })
  } catch (err: any) {
    if (err.name === 'MaxLengthError') {
      throw new WantlistTooLargeError(`A message carried more than ${options.maxEntries} wantlist entries`)
    }
    throw new InvalidMessageError(`Invalid Bitswap message: ${err.message}`)
  }

  let invalidEntries = 0
  const usable = (bytes: Uint8Array): CID | undefined => {
    try {
      return checkCid(bytes, options)
    } catch {
      invalidEntries++
      return undefined
    }
  }

  const wants: Want[] = []
  for (const entry of message.wantlist?.entries ?? []) {
    const wantType = wantKindOf(entry.wantType)
    if (wantType == null) {
      invalidEntries++
      continue
    }
    const cid = usable(entry.cid)
    if (cid == null) {
      continue
    }
    wants.push({
      cid,
      key: keyOf(cid),
      priority: entry.priority,
      cancel: entry.cancel === true,
      wantType,
      sendDontHave: entry.sendDontHave === true
    })
  }

  const blocks: ReceivedBlock[] = []
  for (const data of message.rawBlocks) {
    blocks.push({ prefix: V0_PREFIX, data })
  }
  for (const block of message.blocks) {
    let prefix: BlockPrefix
    try {
      prefix = parsePrefix(block.prefix)
    } catch {
      invalidEntries++
      continue
    }
    if (!options.canVerify(prefix.hashCode)) {
      invalidEntries++
      continue
    }
    blocks.push({ prefix, data: block.data })
  }

  const presences: Presence[] = []
  for (const presence of message.blockPresences) {
    const cid = usable(presence.cid)
    if (cid == null) {
      continue
    }
    presences.push({
      cid,
      key: keyOf(cid),
      type: presence.type === BlockPresenceType.DoNotHaveBlock ? 'dont-have' : 'have'
    })
  }

  return {
    full: message.wantlist?.full === true,
    hasWantlist: message.wantlist != null,
    wants,
    blocks,
    presences,
    invalidEntries
  }
}

/**
 * A want as the forwarder sends it
 */
export interface OutgoingWant {
  cid: CID
  priority: number
  cancel: boolean
  wantType: WantKind
  sendDontHave: boolean
}

export interface OutgoingBlock {
  cid: CID
  data: Uint8Array
}

export interface OutgoingPresence {
  cid: CID
  type: PresenceKind
}

export interface OutgoingMessage {
  wants: OutgoingWant[]
  blocks: OutgoingBlock[]
  presences: OutgoingPresence[]
}

function fieldLength (length: number): number {
  // one tag byte (every field number here is below 16)
  return 1 + varint.encodingLength(length) + length
}

function clampPriority (priority: number): number {
  return Math.max(0, Math.min(priority, 0x7fffffff))
}

/**
 * An upper bound on the bytes `want` adds to an encoded message
 */
export function wantSize (want: OutgoingWant, version: BitswapVersion): number {
  let size = fieldLength(want.cid.bytes.byteLength) + 1 + varint.encodingLength(clampPriority(want.priority))
  if (want.cancel) {
    size += 2
  }
  if (version === '1.2.0') {
    size += 4
  }
  return fieldLength(size)
}

/**
 * An upper bound on the bytes `block` adds to an encoded message
 */
export function blockSize (block: OutgoingBlock, version: BitswapVersion): number {
  if (version === '1.0.0') {
    return fieldLength(block.data.byteLength)
  }
  // prefix is at most four 5-byte varints
  return fieldLength(fieldLength(20) + fieldLength(block.data.byteLength))
}

/**
 * An upper bound on the bytes `presence` adds to an encoded message
 */
export function presenceSize (presence: OutgoingPresence): number {
  return fieldLength(fieldLength(presence.cid.bytes.byteLength) + 2)
}

/**
 * Bytes reserved in every message for the wantlist wrapper and the rest
 */
export const MESSAGE_OVERHEAD = 16

/** The wire value of a want type (`WantType` of message.proto) */
const WANT_BLOCK = 0
const WANT_HAVE = 1

function wantTypeOf (kind: WantKind): number {
  return kind === 'have' ? WANT_HAVE : WANT_BLOCK
}

/** Absent means want-block; `undefined` for a value no version defines */
function wantKindOf (value: number | undefined): WantKind | undefined {
  if (value == null || value === WANT_BLOCK) {
    return 'block'
  }
  return value === WANT_HAVE ? 'have' : undefined
}

/**
 * Encodes a message for a peer that speaks `version`. What that version
 * cannot express is left out: 1.0.0 and 1.1.0 carry no block presences, no
 * want types (every want is a want-block) and no send-dont-have; 1.0.0 sends
 * blocks as bare bytes.
 */
export function encodeMessage (message: OutgoingMessage, version: BitswapVersion): Uint8Array {
  const v12 = version === '1.2.0'
  const entries: WantlistEntry[] = message.wants.map(want => ({
    cid: version === '1.0.0' && want.cid.version === 1 && want.cid.code === DAG_PB && want.cid.multihash.code === SHA2_256
      ? want.cid.toV0().bytes
      : want.cid.bytes,
    priority: clampPriority(want.priority),
    cancel: want.cancel ? true : undefined,
    wantType: v12 ? wantTypeOf(want.wantType) : undefined,
    sendDontHave: v12 ? want.sendDontHave : undefined
  }))

  const blocks: Block[] = []
  const rawBlocks: Array<Uint8Array<ArrayBuffer>> = []
  for (const block of message.blocks) {
    const data = block.data as Uint8Array<ArrayBuffer>
    if (version === '1.0.0') {
      rawBlocks.push(data)
    } else {
      blocks.push({ prefix: encodePrefix(block.cid) as Uint8Array<ArrayBuffer>, data })
    }
  }

  const blockPresences: BlockPresence[] = v12
    ? message.presences.map(presence => ({
      cid: presence.cid.bytes,
      type: presence.type === 'have' ? BlockPresenceType.HaveBlock : BlockPresenceType.DoNotHaveBlock
    }))
    : []

  return BitswapMessage.encode({
    wantlist: entries.length > 0 ? { entries } : undefined,
    rawBlocks,
    blocks,
    blockPresences,
    pendingBytes: 0
  })
}
