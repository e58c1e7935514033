import * as lp from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeMessage, encodePrefix } from './codec.ts'
import { MAX_LENGTH_PREFIX_BYTES } from './constants.ts'
import { FrameBudgetError, InvalidMessageError, MessageTooLargeError } from './errors.ts'
import type { BitswapVersion, OutgoingMessage } from './codec.ts'
import type { LengthDecoderFunction } from 'it-length-prefixed'

/**
 * Reads a length prefix as Bitswap peers write it: a minimal varint of at
 * most `MAX_LENGTH_PREFIX_BYTES`. Ours because the default decoder of
 * `it-length-prefixed` accepts a non-minimal varint and then mis-frames the
 * rest of the stream.
 */
const minimalVarint: LengthDecoderFunction = Object.assign((data: Uint8Array | Uint8ArrayList): number => {
  let value = 0
  for (let i = 0; i < data.byteLength; i++) {
    if (i >= MAX_LENGTH_PREFIX_BYTES) {
      throw new InvalidMessageError('Invalid varint length prefix')
    }
    const byte = data instanceof Uint8ArrayList ? data.get(i) : data[i]
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) {
      if (i > 0 && byte === 0) {
        throw new InvalidMessageError('Invalid varint length prefix (not minimal)')
      }
      minimalVarint.bytes = i + 1
      return value
    }
  }
  // it-length-prefixed waits for more bytes on a RangeError
  throw new RangeError('Incomplete length prefix')
}, { bytes: 0 })

function options (maxMessageSize: number): lp.DecoderOptions {
  return { maxDataLength: maxMessageSize, maxLengthLength: MAX_LENGTH_PREFIX_BYTES, lengthDecoder: minimalVarint }
}

/**
 * it-length-prefixed's errors as the forwarder's named errors
 */
function framingError (err: any, maxMessageSize: number): Error {
  switch (err?.name) {
    case 'InvalidDataLengthError':
      return new MessageTooLargeError(`Message larger than the limit of ${maxMessageSize} bytes`)
    case 'InvalidDataLengthLengthError':
    case 'InvalidMessageLengthError':
      return new InvalidMessageError('Invalid varint length prefix')
    case 'UnexpectedEOFError':
      return new InvalidMessageError('The stream ended inside a message')
    default:
      return err
  }
}

/**
 * Where a stream's bytes are accounted while they are not yet a whole
 * message
 */
export interface FrameGuard {
  /** Bytes arrived; throws (and counts nothing) when they do not fit */
  take(bytes: number): void
  /** Bytes left the buffer, as a whole message or because the stream ended */
  give(bytes: number): void
  /** A message started arriving (true) or the buffer emptied (false) */
  inProgress?(started: boolean): void
}

/**
 * The process-wide budget for bytes of incomplete inbound messages, with a
 * share per peer: each peer's streams read through a guard from `guard()`
 */
export class FrameBudget {
  /** Bytes buffered now, all peers */
  used = 0
  private readonly max: number
  private readonly maxPerPeer: number

  constructor (max: number, maxPerPeer: number) {
    this.max = max
    this.maxPerPeer = maxPerPeer
  }

  /**
   * A guard that counts against the budget and against `holder`, the
   * peer's own tally
   */
  guard (holder: { frameBytes: number }): FrameGuard {
    return {
      take: (bytes) => {
        if (holder.frameBytes + bytes > this.maxPerPeer) {
          throw new FrameBudgetError(`The peer's incomplete messages would pass ${this.maxPerPeer} bytes (maxInboundFrameBytesPerPeer)`)
        }
        if (this.used + bytes > this.max) {
          throw new FrameBudgetError(`Incomplete messages of all peers would pass ${this.max} bytes (maxInboundFrameBytes)`)
        }
        holder.frameBytes += bytes
        this.used += bytes
      },
      give: (bytes) => {
        holder.frameBytes -= bytes
        this.used -= bytes
      }
    }
  }
}

/**
 * Counts every byte read from `source` into the guard until it leaves as
 * part of a whole message, and says when a message is in progress
 */
async function * guarded (source: AsyncIterable<Uint8Array | Uint8ArrayList>, guard: FrameGuard, tally: { buffered: number }): AsyncGenerator<Uint8Array | Uint8ArrayList> {
  for await (const chunk of source) {
    guard.take(chunk.byteLength)
    if (tally.buffered === 0 && chunk.byteLength > 0) {
      guard.inProgress?.(true)
    }
    tally.buffered += chunk.byteLength
    yield chunk
  }
}

/**
 * Splits a stream into length-prefixed messages. A message larger than
 * `maxMessageSize` throws `MessageTooLargeError` as soon as its length prefix
 * is read; a malformed prefix throws `InvalidMessageError` at once. With a
 * guard, bytes not yet part of a whole message are counted in it.
 */
export async function * readFrames (source: AsyncIterable<Uint8Array | Uint8ArrayList>, maxMessageSize: number, guard?: FrameGuard): AsyncGenerator<Uint8ArrayList> {
  if (guard == null) {
    try {
      yield * lp.decode(source, options(maxMessageSize))
    } catch (err: any) {
      throw framingError(err, maxMessageSize)
    }
    return
  }

  const tally = { buffered: 0 }
  try {
    for await (const message of lp.decode(guarded(source, guard, tally), options(maxMessageSize))) {
      const bytes = message.byteLength + varint.encodingLength(message.byteLength)
      tally.buffered -= bytes
      guard.give(bytes)
      // the next message's first bytes may have come with this one's last
      guard.inProgress?.(false)
      if (tally.buffered > 0) {
        guard.inProgress?.(true)
      }
      yield message
    }
  } catch (err: any) {
    throw framingError(err, maxMessageSize)
  } finally {
    guard.give(tally.buffered)
    guard.inProgress?.(false)
  }
}

/**
 * `readFrames` for bytes already at hand
 */
export function * splitFrames (chunks: Iterable<Uint8Array | Uint8ArrayList>, maxMessageSize: number): Generator<Uint8ArrayList> {
  try {
    yield * lp.decode(chunks, options(maxMessageSize))
  } catch (err: any) {
    throw framingError(err, maxMessageSize)
  }
}

/**
 * Adds the varint length prefix
 */
export function frame (message: Uint8Array | Uint8ArrayList): Uint8ArrayList {
  return lp.encode.single(message)
}

/**
 * A field header (tag of a length-delimited field, then the length)
 * followed by `extra`, in one small buffer
 */
function fieldHeader (field: number, length: number, ...extra: Uint8Array[]): Uint8Array {
  const extraLength = extra.reduce((acc, e) => acc + e.byteLength, 0)
  const out = new Uint8Array(1 + varint.encodingLength(length) + extraLength)
  out[0] = (field << 3) | 2
  varint.encodeUint8Array(length, out, 1)
  let offset = 1 + varint.encodingLength(length)
  for (const e of extra) {
    out.set(e, offset)
    offset += e.byteLength
  }
  return out
}

/**
 * Encodes and frames a message without copying block data: the result
 * references each block's bytes, with small header buffers between them.
 * Equivalent to `frame(encodeMessage(message, version))`. Ours because
 * protons copies every block into one new buffer.
 */
export function encodeFrame (message: OutgoingMessage, version: BitswapVersion): Uint8ArrayList {
  const parts = new Uint8ArrayList(encodeMessage({ wants: message.wants, presences: message.presences, blocks: [] }, version))

  for (const { cid, data } of message.blocks) {
    if (version === '1.0.0') {
      parts.append(fieldHeader(2, data.byteLength))
    } else {
      const prefix = encodePrefix(cid)
      const prefixField = fieldHeader(1, prefix.byteLength, prefix)
      const dataHeader = fieldHeader(2, data.byteLength)
      parts.append(fieldHeader(3, prefixField.byteLength + dataHeader.byteLength + data.byteLength, prefixField, dataHeader))
    }
    parts.append(data)
  }

  return frame(parts)
}
