import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { DELTA_DECODE_LIMITS, MAX_DELTA_PARTS, SEEN_DELTAS } from './constants.ts'
import { InvalidMessageError, InvalidProofError, MissingNodeError } from './errors.ts'
import { decodeHeader } from './headers.ts'
import { Delta } from './pb/slice-sync.ts'
import { sliceBounds, sliceOf } from './slices.ts'
import { decodeAccount, MissingStorage } from './state.ts'
import { addNodes, OverlayNodes, TrieReader } from './trie.ts'
import { ACCEPT, IGNORE, REJECT } from './util.ts'
import type { HeaderInfo } from './headers.ts'
import type { NodeState } from './node-state.ts'
import type { SliceSyncer } from './slice-syncer.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * The receiving side of deltas: the topic validator that checks a delta
 * against its header's state root and applies it to the held slices
 */
export class DeltaValidator {
  private readonly state: NodeState
  private readonly syncer: SliceSyncer
  private readonly seen = new Set<string>()
  /** Parts seen of a delta cut in parts, by header and group */
  private readonly partsSeen = new Map<string, Set<number>>()
  /** Headers (hash) a `block` event was emitted for: once each */
  private readonly blocksEmitted = new Set<string>()

  constructor (state: NodeState, syncer: SliceSyncer) {
    this.state = state
    this.syncer = syncer
  }

  async validate (peer: PeerId, message: any, group: number): Promise<any> {
    const state = this.state
    let delta: Delta
    let header: HeaderInfo
    try {
      delta = Delta.decode(message.data, { limits: DELTA_DECODE_LIMITS })
      header = decodeHeader(delta.header)
      if (delta.group !== group || !equalsBytes(header.stateRoot, delta.stateRoot)) {
        throw new InvalidMessageError('delta group or state root does not match')
      }
      if (delta.parts > MAX_DELTA_PARTS || delta.parts === 1 || (delta.parts === 0 ? delta.part !== 0 : delta.part >= delta.parts)) {
        throw new InvalidMessageError(`delta part ${delta.part} of ${delta.parts}`)
      }
    } catch (err: any) {
      state.penalise(peer, `malformed delta: ${err.message}`, 'malformed')
      state.metrics.delta('rejected')
      return REJECT
    }
    // by content, not by header/group/part: a forged or trimmed delta for a
    // real header must not shadow the honest one
    const id = `${group}/${bytesToHex(keccak256(message.data))}`
    if (this.seen.has(id)) {
      return IGNORE
    }
    let verdict
    try {
      verdict = state.chain.offer(header)
    } catch (err: any) {
      state.penalise(peer, err.message, 'header')
      state.metrics.delta('rejected')
      return REJECT
    }
    if (verdict === 'unknown-parent') {
      // cannot be checked: its header does not link to a header we follow
      state.metrics.delta('ignored')
      state.events.safeDispatchEvent('delta:ignored', { detail: { peer, reason: 'unknown header' } })
      return IGNORE
    }
    const overlay = new OverlayNodes(state.store.nodes)
    addNodes(overlay.top, delta.nodes)
    const reader = new TrieReader(overlay)
    const codes = new Map<string, Uint8Array>()
    for (const code of delta.codes) {
      codes.set(bytesToHex(keccak256(code)), code)
    }
    try {
      this.check(delta, header, group, reader, codes)
    } catch (err: any) {
      state.penalise(peer, err.message, 'delta')
      state.metrics.delta('rejected')
      state.events.safeDispatchEvent('delta:rejected', { detail: { peer, reason: err.message } })
      return REJECT
    }
    this.seen.add(id)
    if (this.seen.size > SEEN_DELTAS) {
      this.seen.delete(this.seen.values().next().value as string)
    }
    this.apply(delta, header, group, overlay, reader, codes)
    return ACCEPT
  }

  /** Whether every part of a delta cut in parts has been seen (a whole one: true) */
  private allParts (delta: Delta, header: HeaderInfo, group: number): boolean {
    if (delta.parts === 0) {
      return true
    }
    const id = `${bytesToHex(header.hash)}/${group}`
    const seen = this.partsSeen.get(id) ?? new Set<number>()
    seen.add(delta.part)
    this.partsSeen.set(id, seen)
    if (this.partsSeen.size > SEEN_DELTAS) {
      this.partsSeen.delete(this.partsSeen.keys().next().value as string)
    }
    return seen.size >= delta.parts
  }

  /**
   * Every changed account of the delta must read out of its proof nodes,
   * and (for a whole delta, not a part) the account trie of every held
   * slice of the group must read completely under the new root from the
   * delta's nodes and the held ones. An empty or trimmed delta for a real header fails here.
   */
  private check (delta: Delta, header: HeaderInfo, group: number, reader: TrieReader, codes: Map<string, Uint8Array>): void {
    this.checkEntries(delta, header, group, reader)
    const state = this.state
    const parent = state.chain.get(header.parentHash)
    const parentRoot = parent == null ? undefined : bytesToHex(parent.stateRoot)
    if (delta.parts !== 0) {
      // a part may carry only some of a slice's changed accounts (the rest
      // in other parts): completeness is checked once the slice is applied
      return
    }
    for (const [slice, at] of state.heldAt) {
      if (state.groupOf(slice) !== group || at !== parentRoot) {
        continue
      }
      const { start, end } = sliceBounds(slice, state.sliceNibbles)
      try {
        // the account trie of the slice: a storage trie or code still
        // missing is fetched after the delta, as before
        reader.range(header.stateRoot, start, end)
      } catch (err: any) {
        if (!(err instanceof MissingNodeError)) {
          throw err
        }
        throw new InvalidProofError(`delta leaves held slice ${slice} incomplete: ${err.message}`)
      }
    }
  }

  /** Every changed account of the delta must read out of its proof nodes */
  private checkEntries (delta: Delta, header: HeaderInfo, group: number, reader: TrieReader): void {
    for (const entry of delta.accounts) {
      if (entry.key.length !== 32 || this.state.groupOf(sliceOf(entry.key, this.state.sliceNibbles)) !== group) {
        throw new InvalidProofError('delta entry outside its group')
      }
      let value: Uint8Array | null
      try {
        value = reader.get(header.stateRoot, entry.key)
      } catch (err: any) {
        throw new InvalidProofError(`delta proof is incomplete: ${err.message}`)
      }
      if (entry.value.length === 0 ? value != null : (value == null || !equalsBytes(value, entry.value))) {
        throw new InvalidProofError(`delta value of ${bytesToHex(entry.key)} does not match the state root`)
      }
    }
  }

  /** A large account's new storage root: its storage slices follow it */
  private followLarge (delta: Delta): void {
    const large = this.state.large
    for (const entry of delta.accounts) {
      const keyHex = bytesToHex(entry.key)
      if (!large.has(keyHex)) {
        continue
      }
      if (entry.value.length === 0) {
        large.delete(keyHex)
      } else {
        large.set(keyHex, decodeAccount(entry.value).storageRoot)
      }
    }
  }

  /** Moves the held slices of the group to the new root where they read completely */
  private apply (delta: Delta, header: HeaderInfo, group: number, overlay: OverlayNodes, reader: TrieReader, codes: Map<string, Uint8Array>): void {
    const state = this.state
    const complete = this.allParts(delta, header, group)
    const root = header.stateRoot
    this.followLarge(delta)
    const parent = state.chain.get(header.parentHash)
    const parentRoot = parent == null ? undefined : bytesToHex(parent.stateRoot)
    const rootHex = bytesToHex(root)
    let applied = 0
    for (const [slice, at] of state.heldAt) {
      if (state.groupOf(slice) !== group || (at !== parentRoot && at !== rootHex)) {
        continue
      }
      const { start, end } = sliceBounds(slice, state.sliceNibbles)
      try {
        state.sliceAccounts.set(slice, state.store.checkComplete(root, start, end, reader, codes, r => state.isSliced(r)))
        state.heldAt.set(slice, rootHex)
        applied++
      } catch (err: any) {
        if (!(err instanceof MissingNodeError || err instanceof MissingStorage)) {
          throw err
        }
        state.log('slice %d not complete after delta %s/%d: %s', slice, bytesToHex(header.hash), group, err.message)
      }
    }
    // only the nodes a read used: junk a sender added is not kept
    for (const hash of overlay.touched) {
      state.store.nodes.set(hash, overlay.top.get(hash) as Uint8Array)
    }
    for (const [hash, code] of codes) {
      state.store.codes.set(hash, code)
    }
    if (state.chain.head === header || (state.root != null && parentRoot === bytesToHex(state.root))) {
      if (state.root == null || !equalsBytes(state.root, root)) {
        state.root = root
      }
    }
    state.pruner.maybePrune()
    state.metrics.delta('applied')
    state.events.safeDispatchEvent('delta:applied', { detail: { group, number: header.number, stateRoot: rootHex, slices: applied } })
    const hashHex = bytesToHex(header.hash)
    if (state.isSynced()) {
      state.accountsHeld = state.countAccounts()
      if (!this.blocksEmitted.has(hashHex)) {
        this.blocksEmitted.add(hashHex)
        if (this.blocksEmitted.size > SEEN_DELTAS) {
          this.blocksEmitted.delete(this.blocksEmitted.values().next().value as string)
        }
        state.events.safeDispatchEvent('block', { detail: { number: header.number, hash: hashHex, stateRoot: rootHex } })
      }
    } else if (complete) {
      // every part is here and a slice still does not read: fetch it
      this.syncer.scheduleSync()
    }
  }
}
