import { createMPT } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, createAccount, createAccountFromRLP, KECCAK256_NULL, MapDB, ValueEncoding } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { addNodes, buildTrie, EMPTY_TRIE_ROOT, TrieReader } from './trie.ts'
import type { NodeMap, TrieEntry } from './trie.ts'

/**
 * One account of a state, as a source gives it
 */
export interface AccountInit {
  /** 20-byte address */
  address: Uint8Array
  nonce?: bigint
  balance?: bigint
  /** Runtime bytecode */
  code?: Uint8Array
  /** Storage slots: 32-byte slot → value (big-endian, leading zeros allowed) */
  storage?: Array<[slot: Uint8Array, value: Uint8Array]>
}

/**
 * A change to one account in a block
 */
export interface AccountChange {
  /** 20-byte address */
  address: Uint8Array
  /** The account after the block; null when it was deleted */
  account: { nonce: bigint, balance: bigint, codeHash?: Uint8Array } | null
  /** New code (when the account got code in this block) */
  code?: Uint8Array
  /** Changed storage slots: 32-byte slot → value (zero or empty deletes) */
  storage?: Array<[slot: Uint8Array, value: Uint8Array]>
}

/**
 * The decoded body of an account leaf
 */
export interface AccountBody {
  nonce: bigint
  balance: bigint
  storageRoot: Uint8Array
  codeHash: Uint8Array
}

export const EMPTY_CODE_HASH = KECCAK256_NULL

export function decodeAccount (value: Uint8Array): AccountBody {
  const account = createAccountFromRLP(value)
  return { nonce: account.nonce, balance: account.balance, storageRoot: account.storageRoot, codeHash: account.codeHash }
}

export function encodeAccount (body: AccountBody): Uint8Array {
  return createAccount(body).serialize()
}

function trimZeros (value: Uint8Array): Uint8Array {
  let i = 0
  while (i < value.length && value[i] === 0) {
    i++
  }
  return value.subarray(i)
}

function pad32 (slot: Uint8Array): Uint8Array {
  if (slot.length === 32) {
    return slot
  }
  const out = new Uint8Array(32)
  out.set(slot.subarray(Math.max(0, slot.length - 32)), Math.max(0, 32 - slot.length))
  return out
}

/**
 * The storage trie key of a slot
 */
export function slotKey (slot: Uint8Array): Uint8Array {
  return keccak256(pad32(slot))
}

/**
 * Trie nodes and contract code of every root a peer keeps
 */
export class StateStore {
  readonly nodes: NodeMap
  readonly codes: Map<string, Uint8Array>
  readonly reader: TrieReader

  constructor (nodes: NodeMap = new Map(), codes: Map<string, Uint8Array> = new Map()) {
    this.nodes = nodes
    this.codes = codes
    this.reader = new TrieReader(nodes)
  }

  /**
   * Builds the whole state (storage tries, code, account trie); returns the
   * state root and the number of accounts
   */
  load (accounts: AccountInit[]): { root: Uint8Array, accounts: number } {
    const entries: TrieEntry[] = []
    for (const a of accounts) {
      let storageRoot = EMPTY_TRIE_ROOT
      if (a.storage != null && a.storage.length > 0) {
        const slots: TrieEntry[] = []
        for (const [slot, value] of a.storage) {
          const trimmed = trimZeros(value)
          if (trimmed.length > 0) {
            slots.push({ key: slotKey(slot), value: RLP.encode(trimmed) })
          }
        }
        storageRoot = buildTrie(this.nodes, slots)
      }
      let codeHash = EMPTY_CODE_HASH
      if (a.code != null && a.code.length > 0) {
        codeHash = keccak256(a.code)
        this.codes.set(bytesToHex(codeHash), a.code)
      }
      entries.push({
        key: keccak256(a.address),
        value: encodeAccount({ nonce: a.nonce ?? 0n, balance: a.balance ?? 0n, storageRoot, codeHash })
      })
    }
    return { root: buildTrie(this.nodes, entries), accounts: entries.length }
  }

  private async trieAt (root: Uint8Array): Promise<Awaited<ReturnType<typeof createMPT>>> {
    return createMPT({
      useKeyHashing: false,
      db: new MapDB<string, Uint8Array>(this.nodes as Map<string, any>),
      valueEncoding: ValueEncoding.Bytes,
      root
    })
  }

  /**
   * Applies one block's changes to the state at `root`; returns the new state
   * root and, per changed account key, the storage slot keys that changed
   */
  async apply (root: Uint8Array, changes: AccountChange[]): Promise<{ root: Uint8Array, changed: Map<string, Uint8Array[]> }> {
    const trie = await this.trieAt(root)
    const changed = new Map<string, Uint8Array[]>()
    for (const change of changes) {
      const key = keccak256(change.address)
      const keys: Uint8Array[] = []
      changed.set(bytesToHex(key), keys)
      if (change.account == null) {
        await trie.del(key)
        continue
      }
      const before = this.reader.get(root, key)
      const old = before == null ? undefined : decodeAccount(before)
      let storageRoot = old?.storageRoot ?? EMPTY_TRIE_ROOT
      if (change.storage != null && change.storage.length > 0) {
        const storage = await this.trieAt(storageRoot)
        for (const [slot, value] of change.storage) {
          const k = slotKey(slot)
          keys.push(k)
          const trimmed = trimZeros(value)
          if (trimmed.length === 0) {
            await storage.del(k)
          } else {
            await storage.put(k, RLP.encode(trimmed))
          }
        }
        storageRoot = storage.root()
      }
      let codeHash = change.account.codeHash ?? old?.codeHash ?? EMPTY_CODE_HASH
      if (change.code != null && change.code.length > 0) {
        codeHash = keccak256(change.code)
        this.codes.set(bytesToHex(codeHash), change.code)
      }
      await trie.put(key, encodeAccount({ nonce: change.account.nonce, balance: change.account.balance, storageRoot, codeHash }))
    }
    return { root: trie.root(), changed }
  }

  /**
   * Stores the nodes of a verified range: the proof nodes and the trie built
   * from the entries (together they hold every node of a whole slice)
   */
  importRange (entries: TrieEntry[], proof: Uint8Array[]): void {
    addNodes(this.nodes, proof)
    if (entries.length > 0) {
      buildTrie(this.nodes, entries)
    }
  }

  /**
   * Throws MissingNodeError unless every account in [start, end] at `root` is
   * here, with its storage trie (unless `sliced` says the trie is sliced on
   * its own) and code
   */
  checkComplete (root: Uint8Array, start: Uint8Array, end: Uint8Array, reader: TrieReader = this.reader, codes?: Map<string, Uint8Array>, sliced?: (storageRoot: Uint8Array) => boolean): number {
    const { entries } = reader.range(root, start, end)
    for (const entry of entries) {
      const account = decodeAccount(entry.value)
      if (sliced?.(account.storageRoot) === true) {
        // a large storage trie: its storage slices are held apart
      } else if (!reader.has(account.storageRoot)) {
        throw new MissingStorage(account.storageRoot)
      } else {
        reader.range(account.storageRoot, new Uint8Array(32), new Uint8Array(32).fill(0xff))
      }
      const codeHash = bytesToHex(account.codeHash)
      if (!equalsHex(account.codeHash, EMPTY_CODE_HASH) && !this.codes.has(codeHash) && codes?.has(codeHash) !== true) {
        throw new MissingStorage(account.codeHash, 'code')
      }
    }
    return entries.length
  }
}

function equalsHex (a: Uint8Array, b: Uint8Array): boolean {
  return bytesToHex(a) === bytesToHex(b)
}

/**
 * A storage trie or code of an account is not here
 */
export class MissingStorage extends Error {
  static name = 'MissingNodeError'
  name = 'MissingNodeError'
  readonly hash: Uint8Array
  readonly kind: 'storage' | 'code'

  constructor (hash: Uint8Array, kind: 'storage' | 'code' = 'storage') {
    super(`missing ${kind} ${bytesToHex(hash)}`)
    this.hash = hash
    this.kind = kind
  }
}
