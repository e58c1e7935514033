import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { MAX_DELTA_PARTS } from './delta-builder.ts'
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

/** Deltas remembered (by header and group) so that a repeat is ignored */
const SEEN_DELTAS = 4096

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

  constructor (state: NodeState, syncer: SliceSyncer) {
    this.state = state
    this.syncer = syncer
  }

  async validate (peer: PeerId, message: any, group: number): Promise<any> {
    const state = this.state
    let delta: Delta
    let header: HeaderInfo
    try {
      delta = Delta.decode(message.data, { limits: { accounts: 65536, nodes: 65536, codes: 1024 } })
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
    const id = `${bytesToHex(header.hash)}/${group}/${delta.part}`
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
    try {
      this.check(delta, header, group, reader)
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
    this.apply(delta, header, group, overlay, reader)
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

  /** Every changed account of the delta must read out of its proof nodes */
  private check (delta: Delta, header: HeaderInfo, group: number, reader: TrieReader): void {
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
  private apply (delta: Delta, header: HeaderInfo, group: number, overlay: OverlayNodes, reader: TrieReader): void {
    const state = this.state
    const complete = this.allParts(delta, header, group)
    const root = header.stateRoot
    const codes = new Map<string, Uint8Array>()
    for (const code of delta.codes) {
      codes.set(bytesToHex(keccak256(code)), code)
    }
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
    for (const [hash, bytes] of overlay.top) {
      state.store.nodes.set(hash, bytes)
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
    if (state.isSynced()) {
      state.accountsHeld = state.countAccounts()
      state.events.safeDispatchEvent('block', { detail: { number: header.number, hash: bytesToHex(header.hash), stateRoot: rootHex } })
    } else if (complete) {
      // every part is here and a slice still does not read: fetch it
      this.syncer.scheduleSync()
    }
  }
}
