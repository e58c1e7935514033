import { RLP } from '@ethereumjs/rlp'
import { bytesToHex } from '@ethereumjs/util'
import { decodeAccount } from './state.ts'
import type { NodeState } from './node-state.ts'

type RawNode = Uint8Array | RawNode[]

/**
 * Drops the trie nodes that only roots older than the kept header history
 * reach, so that a peer's node store stays bounded however many blocks it
 * follows. The roots kept are the state roots of the kept headers and the
 * root followed, and the storage roots of the large accounts whose storage
 * slices are held; a node is kept when any of them reaches it (account
 * tries and the storage tries of their accounts). Codes are kept, and a
 * storage slice whose root is gone is no longer held.
 */
export class Pruner {
  private readonly state: NodeState
  private kept = new Set<string>()

  constructor (state: NodeState) {
    this.state = state
  }

  /** The state roots whose nodes are kept (hex) */
  keptRoots (): Set<string> {
    const roots = new Set<string>(this.state.chain.list().map(h => bytesToHex(h.stateRoot)))
    if (this.state.rootHex != null) {
      roots.add(this.state.rootHex)
    }
    return roots
  }

  /**
   * Prunes when a root left the kept set since the last call; returns the
   * number of nodes dropped
   */
  maybePrune (): number {
    const kept = this.keptRoots()
    const lost = [...this.kept].some(r => !kept.has(r))
    this.kept = kept
    if (!lost) {
      return 0
    }
    return this.prune(kept)
  }

  private prune (roots: Set<string>): number {
    const nodes = this.state.store.nodes
    const reachable = new Set<string>()
    for (const root of roots) {
      this.mark(root.slice(2), true, reachable)
    }
    // storage slices of large accounts may be held without the account's
    // slice: their storage roots are kept roots of their own
    const storageRoots = new Set<string>()
    for (const root of this.state.large.values()) {
      storageRoots.add(bytesToHex(root))
    }
    for (const at of this.state.storageHeld.values()) {
      if (storageRoots.has(at)) {
        this.mark(at.slice(2), false, reachable)
      }
    }
    let dropped = 0
    for (const hash of [...nodes.keys()]) {
      if (!reachable.has(hash)) {
        nodes.delete(hash)
        dropped++
      }
    }
    // slices held at a root that is gone are no longer held
    for (const [slice, at] of [...this.state.heldAt]) {
      if (!roots.has(at)) {
        this.state.heldAt.delete(slice)
      }
    }
    // storage slices held at a storage root that is gone are no longer held
    for (const [id, at] of [...this.state.storageHeld]) {
      if (!reachable.has(at.slice(2))) {
        this.state.storageHeld.delete(id)
      }
    }
    if (dropped > 0) {
      this.state.log('pruned %d trie nodes of roots older than the header history', dropped)
    }
    return dropped
  }

  /** Marks the node stored under `hash` and what it reaches (missing nodes are skipped) */
  private mark (hash: string, accounts: boolean, reachable: Set<string>): void {
    if (reachable.has(hash)) {
      return
    }
    const bytes = this.state.store.nodes.get(hash)
    if (bytes == null) {
      return
    }
    reachable.add(hash)
    this.walk(RLP.decode(bytes) as RawNode, accounts, reachable)
  }

  private walk (node: RawNode, accounts: boolean, reachable: Set<string>): void {
    if (!Array.isArray(node)) {
      return
    }
    if (node.length === 17) {
      for (let i = 0; i < 16; i++) {
        this.child(node[i], accounts, reachable)
      }
      return
    }
    if (node.length !== 2 || !(node[0] instanceof Uint8Array)) {
      return
    }
    const leaf = node[0].length > 0 && (node[0][0] >> 4) >= 2
    if (!leaf) {
      this.child(node[1], accounts, reachable)
      return
    }
    if (accounts && node[1] instanceof Uint8Array) {
      try {
        const { storageRoot } = decodeAccount(node[1])
        this.mark(bytesToHex(storageRoot).slice(2), false, reachable)
      } catch {
        // not an account: nothing below it
      }
    }
  }

  private child (ref: RawNode, accounts: boolean, reachable: Set<string>): void {
    if (Array.isArray(ref)) {
      this.walk(ref, accounts, reachable)
    } else if (ref.length === 32) {
      this.mark(bytesToHex(ref).slice(2), accounts, reachable)
    }
  }
}
