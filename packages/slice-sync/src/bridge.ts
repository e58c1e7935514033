import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { buildDeltas } from './delta-builder.ts'
import { InvalidOptionError, InvalidProofError, UnknownRootError } from './errors.ts'
import { decodeHeader } from './headers.ts'
import { Delta } from './pb/slice-sync.ts'
import { sliceCount } from './slices.ts'
import { decodeAccount } from './state.ts'
import { LAST_KEY, ZERO_KEY } from './util.ts'
import type { Gossip } from './gossip.ts'
import type { HeaderInfo } from './headers.ts'
import type { BlockUpdate, StateSource } from './index.ts'
import type { NodeState } from './node-state.ts'

/**
 * A bridge: holds the whole state from its source, applies the source's
 * blocks and publishes their headers and deltas
 */
export class Bridge {
  private readonly state: NodeState
  private readonly gossip: Gossip
  /** Blocks are applied one at a time, whether from `follow` or `applyBlock` */
  private queue: Promise<unknown> = Promise.resolve()

  constructor (state: NodeState, gossip: Gossip) {
    this.state = state
    this.gossip = gossip
  }

  /** Loads the source's starting state; its root must be its header's */
  async load (source: StateSource): Promise<void> {
    const state = this.state
    const { accounts, header } = await source.load({ signal: state.controller.signal })
    const { root, accounts: count } = state.store.load(accounts)
    if (header != null) {
      const info = state.chain.trustHeader(header)
      if (!equalsBytes(info.stateRoot, root)) {
        throw new InvalidProofError(`the source's state has root ${bytesToHex(root)}, its header says ${bytesToHex(info.stateRoot)}`)
      }
    } else {
      state.chain.trustRoot(root)
    }
    state.root = root
    state.full = true
    state.accountsHeld = count
    this.holdAll(bytesToHex(root))
    for (const account of accounts) {
      if ((account.storage?.length ?? 0) > state.maxInlineStorageSlots) {
        this.classify(root, keccak256(account.address))
      }
    }
  }

  /** Whether an account's storage trie is large (sliced on its own) */
  private classify (root: Uint8Array, key: Uint8Array): void {
    const state = this.state
    const value = state.store.reader.get(root, key)
    const keyHex = bytesToHex(key)
    if (value == null) {
      state.large.delete(keyHex)
      return
    }
    const { storageRoot } = decodeAccount(value)
    const { entries } = state.store.reader.range(storageRoot, ZERO_KEY, LAST_KEY, { maxCount: state.maxInlineStorageSlots + 1 })
    if (entries.length > state.maxInlineStorageSlots) {
      state.large.set(keyHex, storageRoot)
    } else {
      state.large.delete(keyHex)
    }
  }

  private holdAll (rootHex: string): void {
    for (let s = 0; s < sliceCount(this.state.sliceNibbles); s++) {
      this.state.heldAt.set(s, rootHex)
    }
  }

  /**
   * Applies one block's changes and publishes the header and the deltas.
   * The new state root must be the header's.
   */
  async applyBlock (update: BlockUpdate): Promise<HeaderInfo> {
    const next = this.queue.then(async () => this.applyNow(update))
    this.queue = next.catch(() => {})
    return next
  }

  private async applyNow (update: BlockUpdate): Promise<HeaderInfo> {
    const state = this.state
    if (!state.full || state.root == null) {
      throw new InvalidOptionError('only a bridge (a node with a source) applies blocks')
    }
    const header = decodeHeader(update.header)
    const parent = state.chain.get(header.parentHash)
    if (parent == null || !equalsBytes(parent.stateRoot, state.root)) {
      throw new UnknownRootError(`block ${header.number} does not follow the bridge's head`)
    }
    const parentRoot = state.root
    const { root, changed } = await state.store.apply(state.root, update.changes)
    if (!equalsBytes(root, header.stateRoot)) {
      throw new InvalidProofError(`applying block ${header.number} gives ${bytesToHex(root)}, its header says ${bytesToHex(header.stateRoot)}`)
    }
    state.chain.offer(header)
    state.root = root
    const rootHex = bytesToHex(root)
    this.holdAll(rootHex)
    for (const change of update.changes) {
      if ((change.storage?.length ?? 0) > 0 || change.account == null) {
        this.classify(root, keccak256(change.address))
      }
    }
    state.pruner.maybePrune()
    await this.gossip.publish(this.gossip.topic('headers'), update.header)
    const codes = new Map<string, Uint8Array>()
    for (const c of update.changes) {
      if (c.code != null && c.code.length > 0) {
        codes.set(bytesToHex(keccak256(c.address)), c.code)
      }
    }
    for (const delta of buildDeltas(state.store, state, header, changed, codes, parentRoot)) {
      await this.gossip.publish(this.gossip.topic(`delta/${delta.group}`), Delta.encode(delta))
    }
    state.events.safeDispatchEvent('block', { detail: { number: header.number, hash: bytesToHex(header.hash), stateRoot: rootHex } })
    return header
  }

  /** Applies the source's blocks as they come, until the node stops */
  async follow (source: StateSource): Promise<void> {
    const state = this.state
    try {
      for await (const update of source.blocks?.({ signal: state.controller.signal }) ?? []) {
        await this.applyBlock(update)
      }
    } catch (err: any) {
      if (state.running) {
        state.log.error('state source failed: %s', err.message)
        state.events.safeDispatchEvent('source:error', { detail: err })
      }
    }
  }
}
