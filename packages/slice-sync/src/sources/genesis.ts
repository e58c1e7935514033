import { hexBytes } from '../util.ts'
import type { StateSource } from '../index.ts'
import type { AccountInit } from '../state.ts'

/**
 * A genesis allocation as `@ethereumjs/genesis` and geth genesis files give
 * it: address → balance (hex), or address → `[balance, code?, storage?,
 * nonce?]`
 */
export type GenesisAlloc = Record<string, string | [string, string?, Array<[string, string]>?, string?]>

function big (hex: string | undefined): bigint {
  return hex == null || hex === '' || hex === '0x' ? 0n : BigInt(hex)
}

/**
 * The accounts of a genesis allocation
 */
export function genesisAccounts (alloc: GenesisAlloc): AccountInit[] {
  return Object.entries(alloc).map(([address, value]) => {
    if (typeof value === 'string') {
      return { address: hexBytes(address), balance: big(value) }
    }
    const [balance, code, storage, nonce] = value
    return {
      address: hexBytes(address),
      balance: big(balance),
      nonce: big(nonce),
      code: code == null || code === '' ? undefined : hexBytes(code),
      storage: storage?.map(([slot, v]) => [hexBytes(slot), hexBytes(v)])
    }
  })
}

/**
 * A state source holding a genesis allocation (and optionally its RLP
 * header, whose state root must be the allocation's)
 */
export function genesisSource (alloc: GenesisAlloc, header?: Uint8Array): StateSource {
  return {
    async load () {
      return { accounts: genesisAccounts(alloc), header }
    }
  }
}
