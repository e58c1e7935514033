import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { MissingNodeError } from './errors.ts'

/**
 * Trie nodes by hash: the unprefixed hex of a node's keccak256 to the node's
 * RLP bytes. One store holds the nodes of every root a peer keeps (account
 * trie and storage tries alike); nodes are content-addressed, so roots share
 * what did not change.
 */
export type NodeMap = Map<string, Uint8Array>

/**
 * What a {@link TrieReader} reads nodes from
 */
export interface NodeSource {
  get(key: string): Uint8Array | undefined
  has(key: string): boolean
}

/**
 * Nodes of `top` (say, from a message being checked) over those of `base`;
 * writes go to `top`
 */
export class OverlayNodes implements NodeSource {
  readonly top: NodeMap
  readonly base: NodeSource
  /** Keys of `top` that a read used (the nodes worth keeping) */
  readonly touched = new Set<string>()

  constructor (base: NodeSource, top: NodeMap = new Map()) {
    this.base = base
    this.top = top
  }

  get (key: string): Uint8Array | undefined {
    const node = this.top.get(key)
    if (node != null) {
      this.touched.add(key)
      return node
    }
    return this.base.get(key)
  }

  has (key: string): boolean {
    return this.top.has(key) || this.base.has(key)
  }
}

/**
 * The root of an empty trie: keccak256(rlp(''))
 */
export const EMPTY_TRIE_ROOT = keccak256(RLP.encode(new Uint8Array(0)))

type RawNode = Uint8Array | RawNode[]

/** Splits bytes into nibbles */
export function toNibbles (key: Uint8Array): number[] {
  const out = new Array<number>(key.length * 2)
  for (let i = 0; i < key.length; i++) {
    out[i * 2] = key[i] >> 4
    out[i * 2 + 1] = key[i] & 0x0f
  }
  return out
}

function decodePath (encoded: Uint8Array): { nibbles: number[], leaf: boolean } {
  const all = toNibbles(encoded)
  const flag = all[0]
  const leaf = flag >= 2
  const odd = (flag & 1) === 1
  return { nibbles: all.slice(odd ? 1 : 2), leaf }
}

function compareNibbles (a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      return a[i] - b[i]
    }
  }
  return a.length - b.length
}

function nibblesToBytes (nibbles: number[]): Uint8Array {
  const out = new Uint8Array(nibbles.length / 2)
  for (let i = 0; i < out.length; i++) {
    out[i] = (nibbles[i * 2] << 4) | nibbles[i * 2 + 1]
  }
  return out
}

export interface TrieEntry {
  key: Uint8Array
  value: Uint8Array
}

export interface RangeOptions {
  /** Stop after this many entries */
  maxCount?: number
  /** Stop once the entries' key+value bytes reach this many */
  maxBytes?: number
}

export interface RangeResult {
  entries: TrieEntry[]
  /** true when every entry in [origin, limit] is in `entries` */
  complete: boolean
}

/**
 * Reads tries out of a {@link NodeMap}. Unlike a walk of `@ethereumjs/mpt`,
 * every read throws {@link MissingNodeError} when a node it needs is absent, so
 * a successful read is complete: it is what the root commits to.
 */
export class TrieReader {
  readonly nodes: NodeSource

  constructor (nodes: NodeSource) {
    this.nodes = nodes
  }

  has (hash: Uint8Array): boolean {
    return equalsBytes(hash, EMPTY_TRIE_ROOT) || this.nodes.has(bytesToHex(hash).slice(2))
  }

  private resolve (ref: RawNode): RawNode[] | undefined {
    if (Array.isArray(ref)) {
      return ref
    }
    if (ref.length === 0) {
      return undefined
    }
    if (ref.length !== 32) {
      throw new MissingNodeError(`bad node reference of ${ref.length} bytes`)
    }
    const bytes = this.nodes.get(bytesToHex(ref).slice(2))
    if (bytes == null) {
      throw new MissingNodeError(`missing trie node ${bytesToHex(ref)}`)
    }
    return RLP.decode(bytes) as RawNode[]
  }

  private rootRef (root: Uint8Array): RawNode {
    return equalsBytes(root, EMPTY_TRIE_ROOT) ? new Uint8Array(0) : root
  }

  /**
   * The value at `key` (null if absent)
   */
  get (root: Uint8Array, key: Uint8Array): Uint8Array | null {
    const path = toNibbles(key)
    let node = this.resolve(this.rootRef(root))
    let depth = 0
    while (node != null) {
      if (node.length === 17) {
        if (depth === path.length) {
          const v = node[16] as Uint8Array
          return v.length === 0 ? null : v
        }
        node = this.resolve(node[path[depth]])
        depth++
      } else if (node.length === 2) {
        const { nibbles, leaf } = decodePath(node[0] as Uint8Array)
        for (let i = 0; i < nibbles.length; i++) {
          if (path[depth + i] !== nibbles[i]) {
            return null
          }
        }
        depth += nibbles.length
        if (leaf) {
          return depth === path.length ? node[1] as Uint8Array : null
        }
        node = this.resolve(node[1])
      } else {
        throw new MissingNodeError('malformed trie node')
      }
    }
    return null
  }

  /**
   * The proof of `key` (of its value or of its absence): every node stored by
   * hash on its path, root first
   */
  prove (root: Uint8Array, key: Uint8Array): Uint8Array[] {
    const path = toNibbles(key)
    const proof: Uint8Array[] = []
    let ref: RawNode = this.rootRef(root)
    let depth = 0
    while (true) {
      if (ref instanceof Uint8Array && ref.length === 32) {
        const bytes = this.nodes.get(bytesToHex(ref).slice(2))
        if (bytes == null) {
          throw new MissingNodeError(`missing trie node ${bytesToHex(ref)}`)
        }
        proof.push(bytes)
      }
      const node = this.resolve(ref)
      if (node == null) {
        return proof
      }
      if (node.length === 17) {
        if (depth === path.length) {
          return proof
        }
        ref = node[path[depth]]
        depth++
      } else {
        const { nibbles, leaf } = decodePath(node[0] as Uint8Array)
        for (let i = 0; i < nibbles.length; i++) {
          if (path[depth + i] !== nibbles[i]) {
            return proof
          }
        }
        if (leaf) {
          return proof
        }
        depth += nibbles.length
        ref = node[1]
      }
    }
  }

  /**
   * Entries with `origin <= key <= limit` in key order, up to the limits.
   * Throws {@link MissingNodeError} if a node inside the range is absent.
   */
  range (root: Uint8Array, origin: Uint8Array, limit: Uint8Array, options: RangeOptions = {}): RangeResult {
    const lo = toNibbles(origin)
    const hi = toNibbles(limit)
    const maxCount = options.maxCount ?? Infinity
    const maxBytes = options.maxBytes ?? Infinity
    const entries: TrieEntry[] = []
    let bytes = 0
    let stopped = false

    // prefix: the nibbles of the path so far. loTight/hiTight: whether the
    // prefix equals the bound's first nibbles (so the bound still constrains)
    const visit = (ref: RawNode, prefix: number[], loTight: boolean, hiTight: boolean): void => {
      if (stopped) {
        return
      }
      const node = this.resolve(ref)
      if (node == null) {
        return
      }
      if (node.length === 17) {
        const d = prefix.length
        const from = loTight ? lo[d] : 0
        const to = hiTight ? hi[d] : 15
        for (let i = from; i <= to; i++) {
          if (stopped) {
            break
          }
          const child = node[i]
          if (child instanceof Uint8Array && child.length === 0) {
            continue
          }
          visit(child, [...prefix, i], loTight && i === from, hiTight && i === to)
        }
        return
      }
      const { nibbles, leaf } = decodePath(node[0] as Uint8Array)
      const full = [...prefix, ...nibbles]
      const n = full.length
      const cmpLo = loTight ? compareNibbles(full, lo.slice(0, n)) : 1
      const cmpHi = hiTight ? compareNibbles(full, hi.slice(0, n)) : -1
      if (cmpLo < 0 || cmpHi > 0) {
        return
      }
      if (leaf) {
        if (full.length !== lo.length) {
          throw new MissingNodeError('leaf with a key of the wrong length')
        }
        if (entries.length >= maxCount || (entries.length > 0 && bytes >= maxBytes)) {
          stopped = true
          return
        }
        const value = node[1] as Uint8Array
        entries.push({ key: nibblesToBytes(full), value })
        bytes += value.length + full.length / 2
        return
      }
      visit(node[1], full, cmpLo === 0, cmpHi === 0)
    }

    visit(this.rootRef(root), [], true, true)
    return { entries, complete: !stopped }
  }
}

function encodePath (nibbles: number[], leaf: boolean): Uint8Array {
  const odd = nibbles.length % 2 === 1
  const flag = (leaf ? 2 : 0) + (odd ? 1 : 0)
  const all = odd ? [flag, ...nibbles] : [flag, 0, ...nibbles]
  return nibblesToBytes(all)
}

/**
 * Builds the trie of `entries` (any order, unique keys of equal length) into
 * `nodes` and returns its root. Only the final nodes are written, so this is
 * much faster than putting keys one by one.
 */
export function buildTrie (nodes: NodeMap, entries: TrieEntry[]): Uint8Array {
  if (entries.length === 0) {
    return EMPTY_TRIE_ROOT
  }
  const items = entries.map(e => ({ path: toNibbles(e.key), value: e.value }))
  items.sort((a, b) => compareNibbles(a.path, b.path))

  const store = (raw: RawNode[]): RawNode => {
    const encoded = RLP.encode(raw as any)
    if (encoded.length < 32) {
      return raw
    }
    const hash = keccak256(encoded)
    nodes.set(bytesToHex(hash).slice(2), encoded)
    return hash
  }

  const build = (from: number, to: number, depth: number): RawNode[] => {
    if (to - from === 1) {
      return [encodePath(items[from].path.slice(depth), true), items[from].value]
    }
    const first = items[from].path
    const last = items[to - 1].path
    let common = depth
    while (common < first.length && first[common] === last[common]) {
      common++
    }
    if (common > depth) {
      const child = store(build(from, to, common))
      return [encodePath(first.slice(depth, common), false), child]
    }
    const branch: RawNode[] = new Array(17).fill(new Uint8Array(0))
    let i = from
    while (i < to) {
      const nibble = items[i].path[depth]
      let j = i
      while (j < to && items[j].path[depth] === nibble) {
        j++
      }
      branch[nibble] = store(build(i, j, depth + 1))
      i = j
    }
    return branch
  }

  const root = build(0, items.length, 0)
  const encoded = RLP.encode(root as any)
  const hash = keccak256(encoded)
  nodes.set(bytesToHex(hash).slice(2), encoded)
  return hash
}

/**
 * Adds proof nodes to the store under their hashes
 */
export function addNodes (nodes: NodeMap, proof: Uint8Array[]): void {
  for (const node of proof) {
    nodes.set(bytesToHex(keccak256(node)).slice(2), node)
  }
}
