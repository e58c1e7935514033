import { RLP } from '@ethereumjs/rlp'
import { bytesToHex } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { MAX_DELTA_PARTS } from './constants.ts'
import { Delta } from './pb/slice-sync.ts'
import { sliceBounds, sliceOf } from './slices.ts'
import { decodeAccount } from './state.ts'
import { hexBytes } from './util.ts'
import type { HeaderInfo } from './headers.ts'
import type { StateStore } from './state.ts'

export { MAX_DELTA_PARTS }

/**
 * How deltas are cut: slices and groups of the network, and the largest
 * delta message
 */
export interface DeltaSplit {
  sliceNibbles: number
  groupNibbles: number
  maxDeltaBytes: number
}

interface Item {
  account?: { key: Uint8Array, value: Uint8Array }
  nodes: Uint8Array[]
  codes: Uint8Array[]
}

interface Part {
  accounts: Array<{ key: Uint8Array, value: Uint8Array }>
  nodes: Map<string, Uint8Array>
  codes: Uint8Array[]
  size: number
}

function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

/** Bytes of one `bytes` field (tag below 16) in a message */
function fieldSize (bytes: Uint8Array): number {
  return 1 + varintLength(bytes.length) + bytes.length
}

function groupOf (slice: number, split: DeltaSplit): number {
  return Math.floor(slice / 16 ** (split.sliceNibbles - split.groupNibbles))
}

/**
 * A bridge's deltas of one block, per group of slices: the changed accounts
 * and the nodes proving them (and every slice's edge, and the changed
 * storage slots) against the header's state root. A group's delta larger
 * than `maxDeltaBytes` is cut into parts, each with its own proof: whole
 * slices' edges and accounts, in key order (an account whose proof alone is
 * larger than the limit travels in a part of its own).
 */
export function buildDeltas (store: StateStore, split: DeltaSplit, header: HeaderInfo, changed: Map<string, Uint8Array[]>, codesByKey: Map<string, Uint8Array>, parentRoot?: Uint8Array): Delta[] {
  const root = header.stateRoot
  const reader = store.reader
  // per group: per slice, its edges then its changed accounts
  const items = new Map<number, Item[]>()
  const bySlice = new Map<number, string[]>()
  for (const keyHex of [...changed.keys()].sort()) {
    const slice = sliceOf(hexBytes(keyHex), split.sliceNibbles)
    bySlice.set(slice, [...(bySlice.get(slice) ?? []), keyHex])
  }
  for (let s = 0; s < 16 ** split.sliceNibbles; s++) {
    const g = groupOf(s, split)
    const list = items.get(g) ?? []
    items.set(g, list)
    const { start, end } = sliceBounds(s, split.sliceNibbles)
    list.push({ nodes: [...reader.prove(root, start), ...reader.prove(root, end)], codes: [] })
    for (const keyHex of bySlice.get(s) ?? []) {
      const key = hexBytes(keyHex)
      const value = reader.get(root, key)
      const nodes = reader.prove(root, key)
      if (value != null && parentRoot != null && reader.get(parentRoot, key) == null) {
        // a created account can move an existing leaf or extension one level
        // down, under a new branch: that re-encoded node is not on the new
        // key's path, yet a held slice needs it to read completely
        nodes.push(...movedSiblings(store, nodes))
      }
      if (value != null) {
        const { storageRoot } = decodeAccount(value)
        for (const slot of changed.get(keyHex) ?? []) {
          nodes.push(...reader.prove(storageRoot, slot))
        }
      }
      const code = codesByKey.get(keyHex)
      list.push({ account: { key, value: value ?? new Uint8Array(0) }, nodes, codes: code == null ? [] : [code] })
    }
  }
  const out: Delta[] = []
  for (const [group, list] of items) {
    out.push(...pack(header, group, list, split.maxDeltaBytes))
  }
  return out
}

/** The leaf and extension nodes (stored by hash) under the deepest branch of a proof */
function movedSiblings (store: StateStore, proof: Uint8Array[]): Uint8Array[] {
  for (let i = proof.length - 1; i >= 0; i--) {
    const node = RLP.decode(proof[i]) as Array<Uint8Array | unknown[]>
    if (node.length !== 17) {
      continue
    }
    const out: Uint8Array[] = []
    for (const child of node.slice(0, 16)) {
      if (child instanceof Uint8Array && child.length === 32) {
        const bytes = store.nodes.get(bytesToHex(child).slice(2))
        if (bytes != null && (RLP.decode(bytes) as unknown[]).length === 2) {
          out.push(bytes)
        }
      }
    }
    return out
  }
  return []
}

function toDelta (header: HeaderInfo, group: number, part: Part, index: number, parts: number): Delta {
  return {
    header: header.rlp,
    stateRoot: header.stateRoot,
    group,
    accounts: part.accounts,
    nodes: [...part.nodes.values()],
    codes: part.codes,
    part: parts > 1 ? index : 0,
    parts: parts > 1 ? parts : 0
  } as any
}

function newPart (base: number): Part {
  return { accounts: [], nodes: new Map(), codes: [], size: base }
}

function add (part: Part, item: Item, entrySize: number, ids: string[]): void {
  item.nodes.forEach((node, i) => {
    if (!part.nodes.has(ids[i])) {
      part.nodes.set(ids[i], node)
      part.size += fieldSize(node)
    }
  })
  if (item.account != null) {
    part.accounts.push(item.account)
    part.size += entrySize
  }
  for (const code of item.codes) {
    part.codes.push(code)
    part.size += fieldSize(code)
  }
}

/** One group's delta: whole when it fits in `maxBytes`, else in parts that each fit */
function pack (header: HeaderInfo, group: number, items: Item[], maxBytes: number): Delta[] {
  const empty = Delta.encode(toDelta(header, group, newPart(0), 0, 1)).byteLength
  const ids = items.map(item => item.nodes.map(n => bytesToHex(keccak256(n))))
  const entrySizes = items.map(item => item.account == null ? 0 : Delta.encode(toDelta(header, group, { ...newPart(0), accounts: [item.account] }, 0, 1)).byteLength - empty)
  const whole = newPart(empty)
  items.forEach((item, i) => { add(whole, item, entrySizes[i], ids[i]) })
  if (whole.size <= maxBytes) {
    return [toDelta(header, group, whole, 0, 1)]
  }
  // room for the part fields at their largest
  const base = Delta.encode(toDelta(header, group, newPart(0), MAX_DELTA_PARTS - 1, MAX_DELTA_PARTS)).byteLength
  const parts: Part[] = [newPart(base)]
  items.forEach((item, i) => {
    let part = parts[parts.length - 1]
    const trial = { ...part, nodes: new Map(part.nodes), accounts: [...part.accounts], codes: [...part.codes] }
    add(trial, item, entrySizes[i], ids[i])
    if (trial.size > maxBytes && (part.accounts.length > 0 || part.nodes.size > 0)) {
      part = newPart(base)
      parts.push(part)
    }
    add(part, item, entrySizes[i], ids[i])
  })
  return parts.slice(0, MAX_DELTA_PARTS).map((part, i) => toDelta(header, group, part, i, parts.length))
}
