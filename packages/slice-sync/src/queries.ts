import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import * as C from './constants.ts'
import { InvalidMessageError, InvalidOptionError, InvalidProofError, MissingNodeError, NoProviderError, UnknownRootError } from './errors.ts'
import { decodeHeader } from './headers.ts'
import { Request, Response } from './pb/slice-sync.ts'
import { exchange, readProof } from './protocol.ts'
import { sliceOf } from './slices.ts'
import { decodeAccount, slotKey } from './state.ts'
import { EMPTY_TRIE_ROOT } from './trie.ts'
import { decodeSlot, hexBytes, LAST_KEY, ZERO_KEY } from './util.ts'
import type { HeaderInfo } from './headers.ts'
import type { AccountQueryOptions, VerifiedAccount } from './index.ts'
import type { NodeState } from './node-state.ts'
import type { AccountBody } from './state.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'

/**
 * The fields of a request a caller sets; the rest are empty
 */
export interface RequestInit {
  type: Request.Type
  root?: Uint8Array
  origin?: Uint8Array
  limit?: Uint8Array
  maxBytes?: number
  maxCount?: number
  hashes?: Uint8Array[]
  key?: Uint8Array
  slots?: Uint8Array[]
  forwarded?: boolean
}

/**
 * An account read out of a peer's proof
 */
export interface FetchedAccount {
  value: Uint8Array | null
  proof: Uint8Array[]
  storageProof: Uint8Array[]
  storage: Array<Uint8Array | null>
}

/**
 * The asking side: one request to one peer, and the verified queries
 * (`getAccount`, `getStorage`, headers) built on it
 */
export class Queries {
  private readonly state: NodeState

  constructor (state: NodeState) {
    this.state = state
  }

  /** Sends one request on a new stream and returns the (OK) answer */
  async request (peer: PeerId, request: RequestInit, options: AbortOptions = {}): Promise<Response> {
    const state = this.state
    const signal = AbortSignal.any([state.controller.signal, AbortSignal.timeout(state.requestTimeout), ...(options.signal == null ? [] : [options.signal])])
    const stream = await state.components.connectionManager.openStream(peer, C.PROTOCOL, { signal })
    const response = await exchange(stream, ({
      root: new Uint8Array(0),
      origin: new Uint8Array(0),
      limit: new Uint8Array(0),
      maxBytes: 0,
      maxCount: 0,
      hashes: [],
      key: new Uint8Array(0),
      slots: [],
      forwarded: false,
      ...request
    } as any) as Request, state.limits, { signal })
    state.counters.requests++
    const bytes = Response.encode(response).byteLength
    state.counters.responseBytes += bytes
    state.metrics.responseReceived(bytes)
    for (const e of response.entries) {
      state.counters.entryBytes += e.key.byteLength + e.value.byteLength
    }
    return response
  }

  async getAccount (address: Uint8Array | string, options: AccountQueryOptions = {}): Promise<VerifiedAccount | null> {
    const addr = typeof address === 'string' ? hexBytes(address) : address
    if (addr.length !== 20) {
      throw new InvalidOptionError('an address is 20 bytes')
    }
    const root = this.state.queryRoot(options.root)
    const key = keccak256(addr)
    const local = this.readLocal(root, key)
    if (local !== undefined) {
      return local == null ? null : { address: bytesToHex(addr), ...local, stateRoot: bytesToHex(root), proof: this.state.store.reader.prove(root, key) }
    }
    const { value, proof } = await this.fetchAccount(root, key, [], options)
    if (value == null) {
      return null
    }
    return { address: bytesToHex(addr), ...decodeAccount(value), stateRoot: bytesToHex(root), proof }
  }

  async getStorage (address: Uint8Array | string, slot: Uint8Array | string, options: AccountQueryOptions = {}): Promise<Uint8Array> {
    const addr = typeof address === 'string' ? hexBytes(address) : address
    const slotBytes = typeof slot === 'string' ? hexBytes(slot) : slot
    const root = this.state.queryRoot(options.root)
    const key = keccak256(addr)
    const sKey = slotKey(slotBytes)
    const local = this.readLocal(root, key)
    if (local !== undefined) {
      if (local == null) {
        return new Uint8Array(0)
      }
      const value = this.readSlot(local.storageRoot, sKey)
      if (value !== undefined) {
        return value == null ? new Uint8Array(0) : decodeSlot(value)
      }
    }
    const { value, storage } = await this.fetchAccount(root, key, [sKey], options)
    if (value == null) {
      return new Uint8Array(0)
    }
    const v = storage[0]
    return v == null ? new Uint8Array(0) : decodeSlot(v)
  }

  /** A slot from the local store; undefined when its storage slice is not here */
  private readSlot (storageRoot: Uint8Array, sKey: Uint8Array): Uint8Array | null | undefined {
    try {
      return this.state.store.reader.get(storageRoot, sKey)
    } catch (err: any) {
      if (err instanceof MissingNodeError) {
        return undefined
      }
      throw err
    }
  }

  /** undefined: not held here; null: held and absent */
  readLocal (root: Uint8Array, key: Uint8Array): AccountBody | null | undefined {
    const slice = sliceOf(key, this.state.sliceNibbles)
    if (this.state.heldAt.get(slice) == null) {
      return undefined
    }
    const reader = this.state.store.reader
    try {
      const value = reader.get(root, key)
      if (value == null) {
        return null
      }
      const account = decodeAccount(value)
      if (!this.state.isSliced(account.storageRoot)) {
        // a small storage trie travels with its account
        reader.range(account.storageRoot, ZERO_KEY, LAST_KEY)
      }
      return account
    } catch (err: any) {
      if (err instanceof MissingNodeError) {
        return undefined
      }
      throw err
    }
  }

  /**
   * An account (and storage slots) with its proof from a peer: holders of
   * its slice first, then any peer (which asks a holder on our behalf); the
   * proof is checked here against `root`
   */
  async fetchAccount (root: Uint8Array, key: Uint8Array, slots: Uint8Array[], options: AccountQueryOptions & { forwarded?: boolean }): Promise<FetchedAccount> {
    const state = this.state
    const slice = sliceOf(key, state.sliceNibbles)
    const rootHex = bytesToHex(root)
    const candidates: PeerId[] = []
    // a large account's slots: the holders of their storage slices first
    const large = state.large.get(bytesToHex(key))
    if (large != null) {
      for (const s of slots) {
        for (const peer of state.providersOf(state.storagePosition(key, sliceOf(s, state.sliceNibbles)), rootHex)) {
          if (!candidates.some(p => p.equals(peer))) {
            candidates.push(peer)
          }
        }
      }
    }
    for (const peer of state.providersOf(slice, rootHex)) {
      if (!candidates.some(p => p.equals(peer))) {
        candidates.push(peer)
      }
    }
    // then connected peers and every announced peer: one that does not hold
    // the account asks a holder on our behalf (a forwarded request goes to
    // holders only, at most maxPeersPerSlice)
    const others = options.forwarded === true ? [] : [...state.components.connectionManager.getConnections().map(c => c.remotePeer), ...[...state.announcedPeers()].map(([id]) => id)]
    for (const peer of others) {
      if (!candidates.some(p => p.equals(peer)) && !state.isBad(peer) && candidates.length < state.maxPeersPerSlice * 2) {
        candidates.push(peer)
      }
    }
    let lastError: Error | undefined
    for (const peer of options.forwarded === true ? candidates.slice(0, state.maxPeersPerSlice) : candidates) {
      // the asker gave up: stop asking
      options.signal?.throwIfAborted()
      if (options.forwarded === true) {
        state.counters.forwarded++
      }
      try {
        const response = await this.request(peer, { type: Request.Type.ACCOUNT_PROOF, root, key, slots, forwarded: options.forwarded === true }, options)
        const value = readProof(root, key, response.proof)
        const storage: Array<Uint8Array | null> = []
        if (slots.length > 0) {
          const storageRoot = value == null ? EMPTY_TRIE_ROOT : decodeAccount(value).storageRoot
          for (const s of slots) {
            storage.push(equalsBytes(storageRoot, EMPTY_TRIE_ROOT) ? null : readProof(storageRoot, s, response.storageProof))
          }
        }
        return { value, proof: response.proof, storageProof: response.storageProof, storage }
      } catch (err: any) {
        lastError = err
        if (err instanceof InvalidProofError || err instanceof InvalidMessageError) {
          state.penalise(peer, err.message, 'account_proof')
        }
      }
    }
    throw new NoProviderError(`no peer answered for ${bytesToHex(key)} at ${rootHex}${lastError == null ? '' : `: ${lastError.message}`}`)
  }

  /**
   * Asks connected peers for their recent headers and follows them from the
   * trust anchor; returns the new head when the root followed moved to it
   */
  async catchUp (options: AbortOptions = {}): Promise<HeaderInfo | undefined> {
    const state = this.state
    for (const connection of state.components.connectionManager.getConnections()) {
      try {
        const response = await this.request(connection.remotePeer, { type: Request.Type.HEADERS, forwarded: false }, options)
        let advanced = false
        for (const rlp of response.headers) {
          const verdict = state.chain.offer(decodeHeader(rlp))
          advanced ||= verdict === 'accepted'
        }
        const head = state.chain.head
        if (advanced && head != null && (state.root == null || !equalsBytes(head.stateRoot, state.root))) {
          state.root = head.stateRoot
          return head
        }
      } catch (err: any) {
        state.log('no headers from %p: %s', connection.remotePeer, err.message)
      }
    }
    return undefined
  }

  /**
   * The state root a peer follows (its answer to a HEADERS request). Not
   * verified: use it only where the peer is trusted to name the root.
   */
  async peerStateRoot (peer: PeerId, options: AbortOptions = {}): Promise<Uint8Array> {
    const response = await this.request(peer, { type: Request.Type.HEADERS }, options)
    if (response.root.length !== 32) {
      throw new UnknownRootError(`${peer.toString()} follows no state root`)
    }
    return response.root
  }
}
