import { bytesToHex } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { InvalidMessageError, MissingNodeError } from './errors.ts'
import { Request, Response } from './pb/slice-sync.ts'
import { decodeAccount } from './state.ts'
import { dedupe, emptyResponse, hexBytes } from './util.ts'
import type { ServedType } from './metrics.ts'
import type { NodeState } from './node-state.ts'
import type { Queries } from './queries.ts'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

/**
 * The answering side of `/kitsune/slice-sync/1.0.0`: one request per
 * stream, answered from the node store (or, for a single account this peer
 * does not hold, from a holder's proof)
 */
export class Server {
  private readonly state: NodeState
  private readonly queries: Queries

  constructor (state: NodeState, queries: Queries) {
    this.state = state
    this.queries = queries
  }

  async handleStream (stream: Stream, connection: Connection): Promise<void> {
    const { limits, controller, requestTimeout } = this.state
    const lp = lpStream(stream, { maxDataLength: limits.maxMessageSize })
    // the asker hanging up (a reset stream) ends the work done for it
    const hungUp = new AbortController()
    const onClose = (): void => { hungUp.abort(new Error('the asker closed the stream')) }
    stream.addEventListener('close', onClose, { once: true })
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(requestTimeout), hungUp.signal])
    let response: Response
    let type: ServedType = 'bad_request'
    try {
      let bytes
      try {
        bytes = await lp.read({ signal })
      } catch (err: any) {
        if (err.name === 'InvalidDataLengthError') {
          throw new InvalidMessageError(`request larger than maxMessageSize (${limits.maxMessageSize} bytes)`)
        }
        throw err
      }
      let request: Request
      try {
        request = Request.decode(bytes, { limits: { hashes: limits.maxHashesPerRequest, slots: limits.maxHashesPerRequest } })
      } catch (err: any) {
        throw new InvalidMessageError(`not a slice-sync request: ${err.message}`)
      }
      type = servedType(request.type)
      response = await this.answer(request, { signal })
    } catch (err: any) {
      if (err instanceof InvalidMessageError) {
        this.state.log('bad request from %p: %s', connection.remotePeer, err.message)
        type = 'bad_request'
        response = emptyResponse(Response.Status.BAD_REQUEST, err.message)
      } else if (err.name === 'AbortError' || err.name === 'TimeoutError') {
        stream.abort(err)
        return
      } else {
        response = emptyResponse(Response.Status.ERROR, err.message)
      }
    }
    try {
      let encoded = Response.encode(response)
      if (encoded.byteLength + 8 > limits.maxMessageSize) {
        encoded = Response.encode(emptyResponse(Response.Status.ERROR, 'response would exceed maxMessageSize'))
      }
      this.state.metrics.requestServed(type, encoded.byteLength)
      await lp.write(encoded, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err)
    }
  }

  async answer (request: Request, options: AbortOptions = {}): Promise<Response> {
    switch (request.type) {
      case Request.Type.ACCOUNT_RANGE:
      case Request.Type.STORAGE_RANGE:
        return this.answerRange(request)
      case Request.Type.BYTE_CODES: {
        const codes: Uint8Array[] = []
        for (const hash of request.hashes) {
          const code = this.state.store.codes.get(bytesToHex(hash))
          if (code != null) {
            codes.push(code)
          }
        }
        return { ...emptyResponse(Response.Status.OK), codes } as Response
      }
      case Request.Type.ACCOUNT_PROOF:
        return this.answerProof(request, options)
      case Request.Type.LARGE_ACCOUNTS:
        return this.answerLarge(request)
      case Request.Type.HEADERS: {
        return {
          ...emptyResponse(Response.Status.OK),
          headers: this.state.chain.list().slice(-this.state.limits.maxResponseCount).map(h => h.rlp),
          root: this.state.root ?? new Uint8Array(0)
        } as Response
      }
      default:
        throw new InvalidMessageError(`unknown request type ${request.type as number}`)
    }
  }

  private answerRange (request: Request): Response {
    const { limits, store } = this.state
    const reader = store.reader
    if (request.root.length !== 32 || request.origin.length !== 32 || request.limit.length !== 32) {
      throw new InvalidMessageError('root, origin and limit must be 32 bytes')
    }
    const maxCount = Math.min(request.maxCount === 0 ? limits.maxResponseCount : request.maxCount, limits.maxResponseCount)
    const maxBytes = Math.min(request.maxBytes === 0 ? limits.maxResponseBytes : request.maxBytes, limits.maxResponseBytes)
    try {
      const { entries, complete } = reader.range(request.root, request.origin, request.limit, { maxCount, maxBytes })
      const last = complete ? request.limit : entries[entries.length - 1].key
      const proof = dedupe([...reader.prove(request.root, request.origin), ...reader.prove(request.root, last)])
      return { ...emptyResponse(Response.Status.OK), entries, proof, complete } as Response
    } catch (err: any) {
      if (err instanceof MissingNodeError) {
        return emptyResponse(Response.Status.NOT_HELD, 'range not held at this root')
      }
      throw err
    }
  }

  /**
   * The large accounts (storage sliced on their own) this peer knows at the
   * root, with the proofs of their accounts
   */
  private answerLarge (request: Request): Response {
    const reader = this.state.store.reader
    if (request.root.length !== 32) {
      throw new InvalidMessageError('root must be 32 bytes')
    }
    const entries: Array<{ key: Uint8Array, value: Uint8Array }> = []
    const proof: Uint8Array[] = []
    for (const keyHex of [...this.state.large.keys()].sort()) {
      if (entries.length >= this.state.limits.maxResponseCount) {
        break
      }
      const key = hexBytes(keyHex)
      try {
        const value = reader.get(request.root, key)
        if (value != null && this.state.isSliced(decodeAccount(value).storageRoot)) {
          entries.push({ key, value })
          proof.push(...reader.prove(request.root, key))
        }
      } catch (err: any) {
        if (!(err instanceof MissingNodeError)) {
          throw err
        }
      }
    }
    return { ...emptyResponse(Response.Status.OK), entries, proof: dedupe(proof), complete: true } as Response
  }

  private async answerProof (request: Request, options: AbortOptions): Promise<Response> {
    const reader = this.state.store.reader
    if (request.root.length !== 32 || request.key.length !== 32 || request.slots.some(s => s.length !== 32)) {
      throw new InvalidMessageError('root, key and slots must be 32 bytes')
    }
    try {
      const value = reader.get(request.root, request.key)
      const proof = reader.prove(request.root, request.key)
      const storageProof: Uint8Array[] = []
      if (value != null) {
        const { storageRoot } = decodeAccount(value)
        for (const s of request.slots) {
          storageProof.push(...reader.prove(storageRoot, s))
        }
      }
      return { ...emptyResponse(Response.Status.OK), proof, storageProof: dedupe(storageProof) } as Response
    } catch (err: any) {
      if (!(err instanceof MissingNodeError)) {
        throw err
      }
      if (request.forwarded) {
        return emptyResponse(Response.Status.NOT_HELD, 'account not held at this root')
      }
    }
    // not held here: ask a holder on the requester's behalf; the requester
    // verifies the proof itself
    try {
      const { proof, storageProof } = await this.queries.fetchAccount(request.root, request.key, request.slots, { forwarded: true, signal: options.signal })
      return { ...emptyResponse(Response.Status.OK), proof, storageProof } as Response
    } catch (err: any) {
      // the reason once: the asker wraps this answer in its own error
      this.state.log('no holder answered for %s: %s', bytesToHex(request.key), err.message)
      return emptyResponse(Response.Status.NOT_HELD, 'account not held at this root by this peer or the peers it asked')
    }
  }
}

function servedType (type: Request.Type): ServedType {
  switch (type) {
    case Request.Type.ACCOUNT_RANGE: return 'account_range'
    case Request.Type.STORAGE_RANGE: return 'storage_range'
    case Request.Type.BYTE_CODES: return 'byte_codes'
    case Request.Type.ACCOUNT_PROOF: return 'account_proof'
    case Request.Type.HEADERS: return 'headers'
    case Request.Type.LARGE_ACCOUNTS: return 'large_accounts'
    default: return 'bad_request'
  }
}
