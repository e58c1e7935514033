/**
 * The little of the Bitswap 1.2.0 wire format the memory benchmark's raw
 * upstream peers need: encode one wantlist, read length-prefixed messages
 * off a stream, and pull the blocks and presences out of them.
 *
 * Written here on purpose rather than imported: `@kitsune/bitswap-forwarder`
 * does not export its codec, and a measuring peer that shares the code under
 * test would not notice when that code is wrong. Field numbers follow
 * https://specs.ipfs.tech/bitswap-protocol/ (message.proto of 1.2.0).
 */

/** @param {number} n */
function varintLength (n) {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    length++
  }
  return length
}

/**
 * @param {number} n
 * @param {Uint8Array} out
 * @param {number} offset
 * @returns {number} the offset after the varint
 */
function writeVarint (n, out, offset) {
  while (n >= 0x80) {
    out[offset++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  out[offset++] = n
  return offset
}

/**
 * @param {Uint8Array} bytes
 * @param {number} offset
 * @returns {[number, number] | undefined} value and the offset after it, or
 * undefined when the varint is not complete yet
 */
function readVarint (bytes, offset) {
  let value = 0
  let shift = 1
  for (let i = offset; i < bytes.byteLength; i++) {
    const b = bytes[i]
    value += (b & 0x7f) * shift
    if (b < 0x80) {
      return [value, i + 1]
    }
    shift *= 128
    if (i - offset > 8) {
      throw new Error('varint too long')
    }
  }
  return undefined
}

/**
 * A length-delimited field (wire type 2): tag, length, the bytes
 *
 * @param {number} field
 * @param {Uint8Array[]} parts
 */
function lengthDelimited (field, parts) {
  const length = parts.reduce((acc, p) => acc + p.byteLength, 0)
  const out = new Uint8Array(1 + varintLength(length) + length)
  let offset = writeVarint(length, out, writeVarint((field << 3) | 2, out, 0))
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

/**
 * A varint field (wire type 0)
 *
 * @param {number} field
 * @param {number} value
 */
function varintField (field, value) {
  const out = new Uint8Array(1 + varintLength(value))
  writeVarint(value, out, writeVarint(field << 3, out, 0))
  return out
}

/**
 * One framed (uvarint length prefix) Bitswap 1.2.0 message holding one
 * wantlist update (not `full`): a want-block (or, with `wantType: 'have'`,
 * a want-have) with send-dont-have for every CID
 *
 * @param {import('multiformats/cid').CID[]} cids
 * @param {{ priority?: number, sendDontHave?: boolean, wantType?: 'block' | 'have' }} [options]
 */
export function wantlistFrame (cids, options = {}) {
  const entries = cids.map(cid => lengthDelimited(1, [
    lengthDelimited(1, [cid.bytes]), // cid
    varintField(2, options.priority ?? 1), // priority
    // wantType 4: absent for want-block, 1 for want-have
    ...(options.wantType === 'have' ? [varintField(4, 1)] : []),
    varintField(5, options.sendDontHave === false ? 0 : 1) // sendDontHave
  ]))
  // Message { wantlist (1): Wantlist { entries (1): repeated Entry } }
  const message = lengthDelimited(1, entries)
  const prefix = new Uint8Array(varintLength(message.byteLength))
  writeVarint(message.byteLength, prefix, 0)
  const out = new Uint8Array(prefix.byteLength + message.byteLength)
  out.set(prefix, 0)
  out.set(message, prefix.byteLength)
  return out
}

/**
 * Walks the fields of one protobuf message
 *
 * @param {Uint8Array} bytes
 * @param {(field: number, value: Uint8Array | number) => void} onField
 */
function fields (bytes, onField) {
  let offset = 0
  while (offset < bytes.byteLength) {
    const tag = readVarint(bytes, offset)
    if (tag == null) {
      throw new Error('truncated tag')
    }
    offset = tag[1]
    const field = Math.floor(tag[0] / 8)
    const wireType = tag[0] & 7
    if (wireType === 0) {
      const v = readVarint(bytes, offset)
      if (v == null) {
        throw new Error('truncated varint')
      }
      offset = v[1]
      onField(field, v[0])
    } else if (wireType === 2) {
      const length = readVarint(bytes, offset)
      if (length == null || length[1] + length[0] > bytes.byteLength) {
        throw new Error('truncated field')
      }
      offset = length[1] + length[0]
      onField(field, bytes.subarray(length[1], offset))
    } else if (wireType === 5) {
      offset += 4
    } else if (wireType === 1) {
      offset += 8
    } else {
      throw new Error(`unexpected wire type ${wireType}`)
    }
  }
}

/**
 * The parts of a Bitswap message a fetching peer cares about
 *
 * @param {Uint8Array} bytes one message, without its length prefix
 * @returns {{ blocks: Uint8Array[], presences: Array<{ cid: Uint8Array, dontHave: boolean }>, wants: number }}
 */
export function decodeMessage (bytes) {
  const out = { blocks: [], presences: [], wants: 0 }
  fields(bytes, (field, value) => {
    if (field === 1 && value instanceof Uint8Array) {
      // wantlist: count its entries (a proxy must not pass on its
      // downstreams' wants)
      fields(value, (f) => { if (f === 1) { out.wants++ } })
    } else if (field === 2 && value instanceof Uint8Array) {
      out.blocks.push(value) // 1.0.0 raw block
    } else if (field === 3 && value instanceof Uint8Array) {
      fields(value, (f, v) => { if (f === 2 && v instanceof Uint8Array) { out.blocks.push(v) } })
    } else if (field === 4 && value instanceof Uint8Array) {
      const presence = { cid: new Uint8Array(0), dontHave: false }
      fields(value, (f, v) => {
        if (f === 1 && v instanceof Uint8Array) { presence.cid = v }
        if (f === 2) { presence.dontHave = v === 1 }
      })
      out.presences.push(presence)
    }
  })
  return out
}

/**
 * Splits a byte stream into length-prefixed messages. Chunks are kept as
 * they arrive and copied once, when a message is complete.
 *
 * @param {number} [maxMessageSize]
 */
export function frameReader (maxMessageSize = 8 * 1024 * 1024) {
  /** @type {Uint8Array[]} */
  let chunks = []
  let buffered = 0
  /** @type {number | undefined} */
  let need

  const take = (n) => {
    const out = new Uint8Array(n)
    let offset = 0
    while (offset < n) {
      const c = chunks[0]
      const k = Math.min(c.byteLength, n - offset)
      out.set(c.subarray(0, k), offset)
      offset += k
      if (k === c.byteLength) {
        chunks.shift()
      } else {
        chunks[0] = c.subarray(k)
      }
    }
    buffered -= n
    return out
  }

  return {
    /**
     * @param {Uint8Array | { subarray(): Uint8Array }} chunk
     * @returns {Uint8Array[]} the messages completed by this chunk
     */
    push (chunk) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      chunks.push(bytes)
      buffered += bytes.byteLength
      const messages = []
      for (;;) {
        if (need == null) {
          // a length prefix is at most 10 bytes; look at the head only
          const head = chunks.length === 1 ? chunks[0] : concatHead(chunks, 10)
          const v = readVarint(head, 0)
          if (v == null) {
            break
          }
          if (v[0] > maxMessageSize) {
            throw new Error(`message of ${v[0]} bytes`)
          }
          take(v[1])
          need = v[0]
        }
        if (buffered < need) {
          break
        }
        messages.push(take(need))
        need = undefined
      }
      if (buffered === 0) {
        chunks = []
      }
      return messages
    }
  }
}

/**
 * @param {Uint8Array[]} chunks
 * @param {number} n
 */
function concatHead (chunks, n) {
  const parts = []
  let length = 0
  for (const c of chunks) {
    if (length >= n) {
      break
    }
    parts.push(c.subarray(0, n - length))
    length += parts[parts.length - 1].byteLength
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}
