import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Request {
  type: Request.Type
  root: Uint8Array<ArrayBuffer>
  origin: Uint8Array<ArrayBuffer>
  limit: Uint8Array<ArrayBuffer>
  maxBytes: number
  maxCount: number
  hashes: Uint8Array<ArrayBuffer>[]
  key: Uint8Array<ArrayBuffer>
  slots: Uint8Array<ArrayBuffer>[]
  forwarded: boolean
}

export namespace Request {
  export enum Type {
    ACCOUNT_RANGE = 'ACCOUNT_RANGE',
    STORAGE_RANGE = 'STORAGE_RANGE',
    BYTE_CODES = 'BYTE_CODES',
    ACCOUNT_PROOF = 'ACCOUNT_PROOF',
    HEADERS = 'HEADERS',
    LARGE_ACCOUNTS = 'LARGE_ACCOUNTS'
  }

  enum __TypeValues {
    ACCOUNT_RANGE = 0,
    STORAGE_RANGE = 1,
    BYTE_CODES = 2,
    ACCOUNT_PROOF = 3,
    HEADERS = 4,
    LARGE_ACCOUNTS = 5
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<Request>

  export const codec = (): Codec<Request> => {
    if (_codec == null) {
      _codec = message<Request>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(8)
          Request.Type.codec().encode(obj.type, w)
        }

        if ((obj.root != null && obj.root.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.root)
        }

        if ((obj.origin != null && obj.origin.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.origin)
        }

        if ((obj.limit != null && obj.limit.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.limit)
        }

        if ((obj.maxBytes != null && obj.maxBytes !== 0)) {
          w.uint32(40)
          w.uint32(obj.maxBytes)
        }

        if ((obj.maxCount != null && obj.maxCount !== 0)) {
          w.uint32(48)
          w.uint32(obj.maxCount)
        }

        if (obj.hashes != null && obj.hashes.length > 0) {
          for (const value of obj.hashes) {
            w.uint32(58)
            w.bytes(value)
          }
        }

        if ((obj.key != null && obj.key.byteLength > 0)) {
          w.uint32(66)
          w.bytes(obj.key)
        }

        if (obj.slots != null && obj.slots.length > 0) {
          for (const value of obj.slots) {
            w.uint32(74)
            w.bytes(value)
          }
        }

        if ((obj.forwarded != null && obj.forwarded !== false)) {
          w.uint32(80)
          w.bool(obj.forwarded)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          type: Type.ACCOUNT_RANGE,
          root: uint8ArrayAlloc(0),
          origin: uint8ArrayAlloc(0),
          limit: uint8ArrayAlloc(0),
          maxBytes: 0,
          maxCount: 0,
          hashes: [],
          key: uint8ArrayAlloc(0),
          slots: [],
          forwarded: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.type = Request.Type.codec().decode(reader)
              break
            }
            case 2: {
              obj.root = reader.bytes()
              break
            }
            case 3: {
              obj.origin = reader.bytes()
              break
            }
            case 4: {
              obj.limit = reader.bytes()
              break
            }
            case 5: {
              obj.maxBytes = reader.uint32()
              break
            }
            case 6: {
              obj.maxCount = reader.uint32()
              break
            }
            case 7: {
              if (opts.limits?.hashes != null && obj.hashes.length === opts.limits.hashes) {
                throw new MaxLengthError('Decode error - repeated field "hashes" had too many elements')
              }

              obj.hashes.push(reader.bytes())
              break
            }
            case 8: {
              obj.key = reader.bytes()
              break
            }
            case 9: {
              if (opts.limits?.slots != null && obj.slots.length === opts.limits.slots) {
                throw new MaxLengthError('Decode error - repeated field "slots" had too many elements')
              }

              obj.slots.push(reader.bytes())
              break
            }
            case 10: {
              obj.forwarded = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          hashes: 0,
          slots: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.type`,
                value: Request.Type.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.root`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.origin`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.limit`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.maxBytes`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.maxCount`,
                value: reader.uint32()
              }
              break
            }
            case 7: {
              if (opts.limits?.hashes != null && obj.hashes === opts.limits.hashes) {
                throw new MaxLengthError('Streaming decode error - repeated field "hashes" had too many elements')
              }

              yield {
                field: `${prefix}.hashes[]`,
                index: obj.hashes,
                value: reader.bytes()
              }

              obj.hashes++

              break
            }
            case 8: {
              yield {
                field: `${prefix}.key`,
                value: reader.bytes()
              }
              break
            }
            case 9: {
              if (opts.limits?.slots != null && obj.slots === opts.limits.slots) {
                throw new MaxLengthError('Streaming decode error - repeated field "slots" had too many elements')
              }

              yield {
                field: `${prefix}.slots[]`,
                index: obj.slots,
                value: reader.bytes()
              }

              obj.slots++

              break
            }
            case 10: {
              yield {
                field: `${prefix}.forwarded`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RequestTypeFieldEvent {
    field: '$.type'
    value: Request.Type
  }

  export interface RequestRootFieldEvent {
    field: '$.root'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestOriginFieldEvent {
    field: '$.origin'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestLimitFieldEvent {
    field: '$.limit'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestMaxBytesFieldEvent {
    field: '$.maxBytes'
    value: number
  }

  export interface RequestMaxCountFieldEvent {
    field: '$.maxCount'
    value: number
  }

  export interface RequestHashesFieldEvent {
    field: '$.hashes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestSlotsFieldEvent {
    field: '$.slots[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface RequestForwardedFieldEvent {
    field: '$.forwarded'
    value: boolean
  }

  export function encode (obj: Partial<Request>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Request.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Request {
    return decodeMessage(buf, Request.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Generator<RequestTypeFieldEvent | RequestRootFieldEvent | RequestOriginFieldEvent | RequestLimitFieldEvent | RequestMaxBytesFieldEvent | RequestMaxCountFieldEvent | RequestHashesFieldEvent | RequestKeyFieldEvent | RequestSlotsFieldEvent | RequestForwardedFieldEvent> {
    return streamMessage(buf, Request.codec(), opts)
  }
}

export interface Entry {
  key: Uint8Array<ArrayBuffer>
  value: Uint8Array<ArrayBuffer>
}

export namespace Entry {
  let _codec: Codec<Entry>

  export const codec = (): Codec<Entry> => {
    if (_codec == null) {
      _codec = message<Entry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.key != null && obj.key.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.key)
        }

        if ((obj.value != null && obj.value.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.value)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          key: uint8ArrayAlloc(0),
          value: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.key = reader.bytes()
              break
            }
            case 2: {
              obj.value = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.key`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface EntryKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export interface EntryValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Entry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Entry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Entry>): Entry {
    return decodeMessage(buf, Entry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Entry>): Generator<EntryKeyFieldEvent | EntryValueFieldEvent> {
    return streamMessage(buf, Entry.codec(), opts)
  }
}

export interface Response {
  status: Response.Status
  error: string
  entries: Entry[]
  proof: Uint8Array<ArrayBuffer>[]
  complete: boolean
  codes: Uint8Array<ArrayBuffer>[]
  headers: Uint8Array<ArrayBuffer>[]
  storageProof: Uint8Array<ArrayBuffer>[]
  root: Uint8Array<ArrayBuffer>
}

export namespace Response {
  export enum Status {
    OK = 'OK',
    ERROR = 'ERROR',
    NOT_HELD = 'NOT_HELD',
    BAD_REQUEST = 'BAD_REQUEST'
  }

  enum __StatusValues {
    OK = 0,
    ERROR = 1,
    NOT_HELD = 2,
    BAD_REQUEST = 3
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<Response>

  export const codec = (): Codec<Response> => {
    if (_codec == null) {
      _codec = message<Response>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          Response.Status.codec().encode(obj.status, w)
        }

        if ((obj.error != null && obj.error !== '')) {
          w.uint32(18)
          w.string(obj.error)
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(26)
            Entry.codec().encode(value, w)
          }
        }

        if (obj.proof != null && obj.proof.length > 0) {
          for (const value of obj.proof) {
            w.uint32(34)
            w.bytes(value)
          }
        }

        if ((obj.complete != null && obj.complete !== false)) {
          w.uint32(40)
          w.bool(obj.complete)
        }

        if (obj.codes != null && obj.codes.length > 0) {
          for (const value of obj.codes) {
            w.uint32(50)
            w.bytes(value)
          }
        }

        if (obj.headers != null && obj.headers.length > 0) {
          for (const value of obj.headers) {
            w.uint32(58)
            w.bytes(value)
          }
        }

        if (obj.storageProof != null && obj.storageProof.length > 0) {
          for (const value of obj.storageProof) {
            w.uint32(66)
            w.bytes(value)
          }
        }

        if ((obj.root != null && obj.root.byteLength > 0)) {
          w.uint32(74)
          w.bytes(obj.root)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.OK,
          error: '',
          entries: [],
          proof: [],
          complete: false,
          codes: [],
          headers: [],
          storageProof: [],
          root: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = Response.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.error = reader.string()
              break
            }
            case 3: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
              }))
              break
            }
            case 4: {
              if (opts.limits?.proof != null && obj.proof.length === opts.limits.proof) {
                throw new MaxLengthError('Decode error - repeated field "proof" had too many elements')
              }

              obj.proof.push(reader.bytes())
              break
            }
            case 5: {
              obj.complete = reader.bool()
              break
            }
            case 6: {
              if (opts.limits?.codes != null && obj.codes.length === opts.limits.codes) {
                throw new MaxLengthError('Decode error - repeated field "codes" had too many elements')
              }

              obj.codes.push(reader.bytes())
              break
            }
            case 7: {
              if (opts.limits?.headers != null && obj.headers.length === opts.limits.headers) {
                throw new MaxLengthError('Decode error - repeated field "headers" had too many elements')
              }

              obj.headers.push(reader.bytes())
              break
            }
            case 8: {
              if (opts.limits?.storageProof != null && obj.storageProof.length === opts.limits.storageProof) {
                throw new MaxLengthError('Decode error - repeated field "storageProof" had too many elements')
              }

              obj.storageProof.push(reader.bytes())
              break
            }
            case 9: {
              obj.root = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          entries: 0,
          proof: 0,
          codes: 0,
          headers: 0,
          storageProof: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: Response.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.error`,
                value: reader.string()
              }
              break
            }
            case 3: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

              break
            }
            case 4: {
              if (opts.limits?.proof != null && obj.proof === opts.limits.proof) {
                throw new MaxLengthError('Streaming decode error - repeated field "proof" had too many elements')
              }

              yield {
                field: `${prefix}.proof[]`,
                index: obj.proof,
                value: reader.bytes()
              }

              obj.proof++

              break
            }
            case 5: {
              yield {
                field: `${prefix}.complete`,
                value: reader.bool()
              }
              break
            }
            case 6: {
              if (opts.limits?.codes != null && obj.codes === opts.limits.codes) {
                throw new MaxLengthError('Streaming decode error - repeated field "codes" had too many elements')
              }

              yield {
                field: `${prefix}.codes[]`,
                index: obj.codes,
                value: reader.bytes()
              }

              obj.codes++

              break
            }
            case 7: {
              if (opts.limits?.headers != null && obj.headers === opts.limits.headers) {
                throw new MaxLengthError('Streaming decode error - repeated field "headers" had too many elements')
              }

              yield {
                field: `${prefix}.headers[]`,
                index: obj.headers,
                value: reader.bytes()
              }

              obj.headers++

              break
            }
            case 8: {
              if (opts.limits?.storageProof != null && obj.storageProof === opts.limits.storageProof) {
                throw new MaxLengthError('Streaming decode error - repeated field "storageProof" had too many elements')
              }

              yield {
                field: `${prefix}.storageProof[]`,
                index: obj.storageProof,
                value: reader.bytes()
              }

              obj.storageProof++

              break
            }
            case 9: {
              yield {
                field: `${prefix}.root`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ResponseStatusFieldEvent {
    field: '$.status'
    value: Response.Status
  }

  export interface ResponseErrorFieldEvent {
    field: '$.error'
    value: string
  }

  export interface ResponseEntriesKeyFieldEvent {
    field: '$.entries[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseEntriesValueFieldEvent {
    field: '$.entries[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface ResponseProofFieldEvent {
    field: '$.proof[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseCompleteFieldEvent {
    field: '$.complete'
    value: boolean
  }

  export interface ResponseCodesFieldEvent {
    field: '$.codes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseHeadersFieldEvent {
    field: '$.headers[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseStorageProofFieldEvent {
    field: '$.storageProof[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseRootFieldEvent {
    field: '$.root'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Response>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Response.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Response {
    return decodeMessage(buf, Response.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Generator<ResponseStatusFieldEvent | ResponseErrorFieldEvent | ResponseEntriesKeyFieldEvent | ResponseEntriesValueFieldEvent | ResponseProofFieldEvent | ResponseCompleteFieldEvent | ResponseCodesFieldEvent | ResponseHeadersFieldEvent | ResponseStorageProofFieldEvent | ResponseRootFieldEvent> {
    return streamMessage(buf, Response.codec(), opts)
  }
}

export interface Announce {
  slices: Uint8Array<ArrayBuffer>
  root: Uint8Array<ArrayBuffer>
  full: boolean
  sliceNibbles: number
  addrs: Uint8Array<ArrayBuffer>[]
}

export namespace Announce {
  let _codec: Codec<Announce>

  export const codec = (): Codec<Announce> => {
    if (_codec == null) {
      _codec = message<Announce>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.slices != null && obj.slices.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.slices)
        }

        if ((obj.root != null && obj.root.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.root)
        }

        if ((obj.full != null && obj.full !== false)) {
          w.uint32(24)
          w.bool(obj.full)
        }

        if ((obj.sliceNibbles != null && obj.sliceNibbles !== 0)) {
          w.uint32(32)
          w.uint32(obj.sliceNibbles)
        }

        if (obj.addrs != null && obj.addrs.length > 0) {
          for (const value of obj.addrs) {
            w.uint32(42)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          slices: uint8ArrayAlloc(0),
          root: uint8ArrayAlloc(0),
          full: false,
          sliceNibbles: 0,
          addrs: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.slices = reader.bytes()
              break
            }
            case 2: {
              obj.root = reader.bytes()
              break
            }
            case 3: {
              obj.full = reader.bool()
              break
            }
            case 4: {
              obj.sliceNibbles = reader.uint32()
              break
            }
            case 5: {
              if (opts.limits?.addrs != null && obj.addrs.length === opts.limits.addrs) {
                throw new MaxLengthError('Decode error - repeated field "addrs" had too many elements')
              }

              obj.addrs.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          addrs: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.slices`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.root`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.full`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.sliceNibbles`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              if (opts.limits?.addrs != null && obj.addrs === opts.limits.addrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "addrs" had too many elements')
              }

              yield {
                field: `${prefix}.addrs[]`,
                index: obj.addrs,
                value: reader.bytes()
              }

              obj.addrs++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface AnnounceSlicesFieldEvent {
    field: '$.slices'
    value: Uint8Array<ArrayBuffer>
  }

  export interface AnnounceRootFieldEvent {
    field: '$.root'
    value: Uint8Array<ArrayBuffer>
  }

  export interface AnnounceFullFieldEvent {
    field: '$.full'
    value: boolean
  }

  export interface AnnounceSliceNibblesFieldEvent {
    field: '$.sliceNibbles'
    value: number
  }

  export interface AnnounceAddrsFieldEvent {
    field: '$.addrs[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Announce>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Announce.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Announce>): Announce {
    return decodeMessage(buf, Announce.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Announce>): Generator<AnnounceSlicesFieldEvent | AnnounceRootFieldEvent | AnnounceFullFieldEvent | AnnounceSliceNibblesFieldEvent | AnnounceAddrsFieldEvent> {
    return streamMessage(buf, Announce.codec(), opts)
  }
}

export interface Delta {
  header: Uint8Array<ArrayBuffer>
  stateRoot: Uint8Array<ArrayBuffer>
  group: number
  accounts: Entry[]
  nodes: Uint8Array<ArrayBuffer>[]
  codes: Uint8Array<ArrayBuffer>[]
  part: number
  parts: number
}

export namespace Delta {
  let _codec: Codec<Delta>

  export const codec = (): Codec<Delta> => {
    if (_codec == null) {
      _codec = message<Delta>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.header != null && obj.header.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.header)
        }

        if ((obj.stateRoot != null && obj.stateRoot.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.stateRoot)
        }

        if ((obj.group != null && obj.group !== 0)) {
          w.uint32(24)
          w.uint32(obj.group)
        }

        if (obj.accounts != null && obj.accounts.length > 0) {
          for (const value of obj.accounts) {
            w.uint32(34)
            Entry.codec().encode(value, w)
          }
        }

        if (obj.nodes != null && obj.nodes.length > 0) {
          for (const value of obj.nodes) {
            w.uint32(42)
            w.bytes(value)
          }
        }

        if (obj.codes != null && obj.codes.length > 0) {
          for (const value of obj.codes) {
            w.uint32(50)
            w.bytes(value)
          }
        }

        if ((obj.part != null && obj.part !== 0)) {
          w.uint32(56)
          w.uint32(obj.part)
        }

        if ((obj.parts != null && obj.parts !== 0)) {
          w.uint32(64)
          w.uint32(obj.parts)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          header: uint8ArrayAlloc(0),
          stateRoot: uint8ArrayAlloc(0),
          group: 0,
          accounts: [],
          nodes: [],
          codes: [],
          part: 0,
          parts: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.header = reader.bytes()
              break
            }
            case 2: {
              obj.stateRoot = reader.bytes()
              break
            }
            case 3: {
              obj.group = reader.uint32()
              break
            }
            case 4: {
              if (opts.limits?.accounts != null && obj.accounts.length === opts.limits.accounts) {
                throw new MaxLengthError('Decode error - repeated field "accounts" had too many elements')
              }

              obj.accounts.push(Entry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.accounts$
              }))
              break
            }
            case 5: {
              if (opts.limits?.nodes != null && obj.nodes.length === opts.limits.nodes) {
                throw new MaxLengthError('Decode error - repeated field "nodes" had too many elements')
              }

              obj.nodes.push(reader.bytes())
              break
            }
            case 6: {
              if (opts.limits?.codes != null && obj.codes.length === opts.limits.codes) {
                throw new MaxLengthError('Decode error - repeated field "codes" had too many elements')
              }

              obj.codes.push(reader.bytes())
              break
            }
            case 7: {
              obj.part = reader.uint32()
              break
            }
            case 8: {
              obj.parts = reader.uint32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          accounts: 0,
          nodes: 0,
          codes: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.header`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.stateRoot`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.group`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              if (opts.limits?.accounts != null && obj.accounts === opts.limits.accounts) {
                throw new MaxLengthError('Streaming decode error - repeated field "accounts" had too many elements')
              }

              for (const evt of Entry.codec().stream(reader, reader.uint32(), `${prefix}.accounts[]`, {
                limits: opts.limits?.accounts$
              })) {
                yield {
                  ...evt,
                  index: obj.accounts
                }
              }

              obj.accounts++

              break
            }
            case 5: {
              if (opts.limits?.nodes != null && obj.nodes === opts.limits.nodes) {
                throw new MaxLengthError('Streaming decode error - repeated field "nodes" had too many elements')
              }

              yield {
                field: `${prefix}.nodes[]`,
                index: obj.nodes,
                value: reader.bytes()
              }

              obj.nodes++

              break
            }
            case 6: {
              if (opts.limits?.codes != null && obj.codes === opts.limits.codes) {
                throw new MaxLengthError('Streaming decode error - repeated field "codes" had too many elements')
              }

              yield {
                field: `${prefix}.codes[]`,
                index: obj.codes,
                value: reader.bytes()
              }

              obj.codes++

              break
            }
            case 7: {
              yield {
                field: `${prefix}.part`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.parts`,
                value: reader.uint32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface DeltaHeaderFieldEvent {
    field: '$.header'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaStateRootFieldEvent {
    field: '$.stateRoot'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaGroupFieldEvent {
    field: '$.group'
    value: number
  }

  export interface DeltaAccountsKeyFieldEvent {
    field: '$.accounts[].key'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface DeltaAccountsValueFieldEvent {
    field: '$.accounts[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface DeltaNodesFieldEvent {
    field: '$.nodes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaCodesFieldEvent {
    field: '$.codes[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface DeltaPartFieldEvent {
    field: '$.part'
    value: number
  }

  export interface DeltaPartsFieldEvent {
    field: '$.parts'
    value: number
  }

  export function encode (obj: Partial<Delta>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Delta.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Delta>): Delta {
    return decodeMessage(buf, Delta.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Delta>): Generator<DeltaHeaderFieldEvent | DeltaStateRootFieldEvent | DeltaGroupFieldEvent | DeltaAccountsKeyFieldEvent | DeltaAccountsValueFieldEvent | DeltaNodesFieldEvent | DeltaCodesFieldEvent | DeltaPartFieldEvent | DeltaPartsFieldEvent> {
    return streamMessage(buf, Delta.codec(), opts)
  }
}
