import { RLP } from '@ethereumjs/rlp'
import { bytesToHex } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { Key } from 'interface-datastore'
import { decodeHeader } from './headers.ts'
import { sliceBounds } from './slices.ts'
import type { NodeState } from './node-state.ts'
import type { Datastore } from 'interface-datastore'

/**
 * A map that reports its writes (so they can be persisted)
 */
export class WriteThroughMap<K, V> extends Map<K, V> {
  onSet?: (key: K, value: V) => void
  onDelete?: (key: K) => void

  set (key: K, value: V): this {
    super.set(key, value)
    this.onSet?.(key, value)
    return this
  }

  delete (key: K): boolean {
    const had = super.delete(key)
    if (had) {
      this.onDelete?.(key)
    }
    return had
  }
}

/**
 * What a resume found in the datastore
 */
export interface ResumeResult {
  /** Trie nodes and codes loaded (each checked against its hash) */
  loaded: number
  /** Records whose value did not hash to their key: dropped */
  tampered: number
  /** Slices held again, complete and verified at the resumed root */
  slices: number[]
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/**
 * Keeps a node's slices in the libp2p datastore (`persist: true`): every
 * trie node, code, held-slice record, the headers kept and the root followed
 * are written through under `/kitsune/slice-sync/<network>/`, and read back
 * on start. Nothing read back is trusted: a node or code must hash to its
 * key, headers must link to the trust anchor, and a held slice must read
 * completely from the root down, or it is fetched again.
 */
export class Persistence {
  private readonly state: NodeState
  private readonly datastore: Datastore
  private readonly prefix: string
  private readonly pending = new Map<string, Uint8Array | null>()
  private scheduled = false
  private flushing: Promise<void> = Promise.resolve()
  private writtenRoot?: string
  private writtenHead?: string

  constructor (state: NodeState, datastore: Datastore) {
    this.state = state
    this.datastore = datastore
    this.prefix = `/kitsune/slice-sync/${state.init.network ?? 'mainnet'}`
  }

  private key (...parts: string[]): Key {
    return new Key(`${this.prefix}/${parts.join('/')}`)
  }

  /**
   * Reads back what an earlier run wrote, checks it, and then writes every
   * change through
   */
  async resume (): Promise<ResumeResult> {
    const state = this.state
    const { nodes, codes } = state.store
    let loaded = 0
    let tampered = 0
    for (const [kind, map] of [['node', nodes], ['code', codes]] as const) {
      for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/${kind}/` })) {
        const hash = key.baseNamespace()
        if (bytesToHex(keccak256(value)).slice(2) !== hash) {
          tampered++
          this.pending.set(key.toString(), null)
          continue
        }
        // nodes are keyed by their unprefixed hash, codes by their 0x hash
        Map.prototype.set.call(map, kind === 'node' ? hash : `0x${hash}`, value)
        loaded++
      }
    }
    // headers: only those that link to the trust anchor are kept
    const headers = await this.get(this.key('headers'))
    if (headers != null) {
      try {
        const list = (RLP.decode(headers) as Uint8Array[]).map(rlp => decodeHeader(rlp))
        for (const header of list.sort((a, b) => Number(a.number - b.number))) {
          state.chain.offer(header)
        }
      } catch (err: any) {
        state.log('persisted headers unusable: %s', err.message)
      }
    }
    const root = await this.get(this.key('root'))
    if (root?.length === 32 && state.chain.knowsRoot(root) && !state.full) {
      state.root = root
    }
    const slices: number[] = []
    const rootHex = state.rootHex
    for await (const { key, value } of this.datastore.query({ prefix: `${this.prefix}/held/` })) {
      const slice = Number(key.baseNamespace())
      if (rootHex == null || textDecoder.decode(value) !== rootHex || !Number.isInteger(slice)) {
        this.pending.set(key.toString(), null)
        continue
      }
      const { start, end } = sliceBounds(slice, state.sliceNibbles)
      try {
        state.sliceAccounts.set(slice, state.store.checkComplete(state.root as Uint8Array, start, end, state.store.reader, undefined, r => state.isSliced(r)))
        Map.prototype.set.call(state.heldAt, slice, rootHex)
        slices.push(slice)
      } catch (err: any) {
        state.log('persisted slice %d incomplete, fetching it again: %s', slice, err.message)
        this.pending.set(key.toString(), null)
      }
    }
    state.accountsHeld = state.countAccounts()
    this.writtenRoot = rootHex
    this.watch()
    this.schedule()
    return { loaded, tampered, slices }
  }

  private async get (key: Key): Promise<Uint8Array | undefined> {
    try {
      return await this.datastore.get(key)
    } catch {
      return undefined
    }
  }

  private watch (): void {
    const { store, heldAt } = this.state
    const put = (key: Key, value: Uint8Array | null): void => {
      this.pending.set(key.toString(), value)
      this.schedule()
    }
    const nodes = store.nodes as WriteThroughMap<string, Uint8Array>
    const codes = store.codes as WriteThroughMap<string, Uint8Array>
    const held = heldAt as WriteThroughMap<number, string>
    nodes.onSet = (hash, node) => { put(this.key('node', hash), node) }
    nodes.onDelete = (hash) => { put(this.key('node', hash), null) }
    codes.onSet = (hash, code) => { put(this.key('code', hash.slice(2)), code) }
    codes.onDelete = (hash) => { put(this.key('code', hash.slice(2)), null) }
    held.onSet = (slice, root) => { put(this.key('held', String(slice)), textEncoder.encode(root)) }
    held.onDelete = (slice) => { put(this.key('held', String(slice)), null) }
  }

  private schedule (): void {
    if (this.scheduled) {
      return
    }
    this.scheduled = true
    setTimeout(() => { void this.flush() }, 0)
  }

  /** Writes what changed since the last flush (one batch) */
  async flush (): Promise<void> {
    this.scheduled = false
    this.flushing = this.flushing.then(async () => {
      const state = this.state
      const batch = this.datastore.batch()
      let writes = 0
      for (const [key, value] of this.pending) {
        if (value == null) {
          batch.delete(new Key(key))
        } else {
          batch.put(new Key(key), value)
        }
        writes++
      }
      this.pending.clear()
      const head = state.chain.head == null ? undefined : bytesToHex(state.chain.head.hash)
      if (head !== this.writtenHead) {
        batch.put(this.key('headers'), RLP.encode(state.chain.list().map(h => h.rlp)))
        this.writtenHead = head
        writes++
      }
      if (state.root != null && state.rootHex !== this.writtenRoot) {
        batch.put(this.key('root'), state.root)
        this.writtenRoot = state.rootHex
        writes++
      }
      if (writes > 0) {
        await batch.commit()
      }
    }).catch((err: any) => {
      this.state.log.error('persisting slices failed: %s', err.message)
    })
    await this.flushing
  }
}
