import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { InvalidProofError, RemoteError } from '../errors.ts'
import { decodeHeader } from '../headers.ts'
import { readProof } from '../protocol.ts'
import { decodeAccount, EMPTY_CODE_HASH, slotKey } from '../state.ts'
import { EMPTY_TRIE_ROOT } from '../trie.ts'
import { hexBytes } from '../util.ts'
import { genesisAccounts } from './genesis.ts'
import type { GenesisAlloc } from './genesis.ts'
import type { BlockUpdate, StateSource } from '../index.ts'
import type { AccountChange } from '../state.ts'
import type { AbortOptions } from '@libp2p/interface'

export interface JsonRpcSourceInit {
  /** The execution client's JSON-RPC endpoint */
  url: string
  /** The state the chain starts from (the client's genesis allocation) */
  genesis: GenesisAlloc
  /**
   * Time between polls for new blocks (ms)
   *
   * @default 1000
   */
  pollInterval?: number
  /**
   * Time for one JSON-RPC call (ms)
   *
   * @default 10000
   */
  callTimeout?: number
  /**
   * Largest JSON-RPC answer read, in bytes
   *
   * @default 16777216
   */
  maxResponseBytes?: number
}

function quantity (n: bigint): string {
  return `0x${n.toString(16)}`
}

/**
 * A state source that follows an Ethereum execution client over JSON-RPC: the
 * starting state is the genesis allocation (its root must be the client's
 * block 0 state root); each new block's header comes from
 * `debug_getRawHeader` (checked against the block hash of
 * `eth_getBlockByNumber`), the accounts and slots it changed from
 * `debug_traceBlockByNumber` with geth's `prestateTracer` in diff mode, and
 * their values from `eth_getProof`, whose proofs are checked against the
 * header's state root before anything is used.
 */
export function jsonRpcSource (init: JsonRpcSourceInit): StateSource {
  const pollInterval = init.pollInterval ?? 1000
  const callTimeout = init.callTimeout ?? 10_000
  const maxResponseBytes = init.maxResponseBytes ?? 16 * 1024 * 1024
  let id = 0

  const call = async (method: string, params: unknown[], options: AbortOptions = {}): Promise<any> => {
    const signal = AbortSignal.any([AbortSignal.timeout(callTimeout), ...(options.signal == null ? [] : [options.signal])])
    const response = await fetch(init.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
      signal
    })
    const text = await response.text()
    if (text.length > maxResponseBytes) {
      throw new RemoteError(`${method}: answer larger than ${maxResponseBytes} bytes`)
    }
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      throw new RemoteError(`${method}: HTTP ${response.status}, not JSON`)
    }
    if (body?.error != null) {
      throw new RemoteError(`${method}: ${body.error.message ?? JSON.stringify(body.error)}`)
    }
    return body?.result
  }

  const header = async (n: bigint, options: AbortOptions): Promise<Uint8Array> => {
    const block = await call('eth_getBlockByNumber', [quantity(n), false], options)
    const raw = hexBytes(await call('debug_getRawHeader', [quantity(n)], options))
    if (block?.hash == null || bytesToHex(keccak256(raw)) !== block.hash.toLowerCase()) {
      throw new InvalidProofError(`block ${n}: debug_getRawHeader does not hash to the block hash`)
    }
    return raw
  }

  const changes = async (n: bigint, stateRoot: Uint8Array, options: AbortOptions): Promise<AccountChange[]> => {
    const traces: any[] = await call('debug_traceBlockByNumber', [quantity(n), { tracer: 'prestateTracer', tracerConfig: { diffMode: true } }], options)
    const slots = new Map<string, Set<string>>()
    const inPost = new Set<string>()
    for (const trace of traces ?? []) {
      const result = trace?.result ?? trace
      for (const side of ['pre', 'post'] as const) {
        for (const [address, state] of Object.entries<any>(result?.[side] ?? {})) {
          const key = address.toLowerCase()
          if (side === 'post') {
            inPost.add(key)
          }
          const set = slots.get(key) ?? new Set<string>()
          for (const slot of Object.keys(state?.storage ?? {})) {
            set.add(slot.toLowerCase())
          }
          slots.set(key, set)
        }
      }
    }
    const out: AccountChange[] = []
    for (const [address, slotSet] of slots) {
      const slotList = [...slotSet]
      const proof = await call('eth_getProof', [address, slotList, quantity(n)], options)
      const key = keccak256(hexBytes(address))
      const value = readProof(stateRoot, key, (proof.accountProof as string[]).map(hexBytes))
      if (value == null) {
        out.push({ address: hexBytes(address), account: null })
        continue
      }
      const account = decodeAccount(value)
      if (account.balance !== BigInt(proof.balance) || account.nonce !== BigInt(proof.nonce)) {
        throw new InvalidProofError(`eth_getProof of ${address}: the values do not match the proof`)
      }
      const storage: Array<[Uint8Array, Uint8Array]> = []
      for (const entry of proof.storageProof ?? []) {
        const slot = hexBytes(entry.key)
        const proven = equalsBytes(account.storageRoot, EMPTY_TRIE_ROOT) ? null : readProof(account.storageRoot, slotKey(slot), (entry.proof as string[]).map(hexBytes))
        const claimed = BigInt(entry.value)
        const provenValue = proven == null ? 0n : BigInt(bytesToHex(rlpString(proven)) === '0x' ? 0 : bytesToHex(rlpString(proven)))
        if (provenValue !== claimed) {
          throw new InvalidProofError(`eth_getProof of ${address} slot ${entry.key as string}: the value does not match the proof`)
        }
        storage.push([slot, proven == null ? new Uint8Array(0) : rlpString(proven)])
      }
      let code: Uint8Array | undefined
      if (!equalsBytes(account.codeHash, EMPTY_CODE_HASH)) {
        code = hexBytes(await call('eth_getCode', [address, quantity(n)], options))
        if (!equalsBytes(keccak256(code), account.codeHash)) {
          throw new InvalidProofError(`eth_getCode of ${address} does not hash to its code hash`)
        }
      }
      out.push({ address: hexBytes(address), account: { nonce: account.nonce, balance: account.balance, codeHash: account.codeHash }, code, storage })
    }
    return out
  }

  return {
    async load () {
      return { accounts: genesisAccounts(init.genesis), header: await header(0n, {}) }
    },
    async * blocks (options: AbortOptions = {}): AsyncGenerator<BlockUpdate> {
      let next = 1n
      while (options.signal?.aborted !== true) {
        const head = BigInt(await call('eth_blockNumber', [], options))
        while (next <= head) {
          const rlp = await header(next, options)
          const info = decodeHeader(rlp)
          yield { header: rlp, changes: await changes(next, info.stateRoot, options) }
          next++
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollInterval)
          options.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
        })
      }
    }
  }
}

function rlpString (value: Uint8Array): Uint8Array {
  // a storage leaf holds rlp(value)
  if (value.length === 1 && value[0] < 0x80) {
    return value
  }
  if (value[0] >= 0x80 && value[0] <= 0xb7) {
    return value.subarray(1)
  }
  throw new InvalidProofError('a storage value is not a short RLP string')
}
