import { createBlock } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex, createAddressFromPrivateKey, createAddressFromString, createContractAddress, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { buildBlock, createVM } from '@ethereumjs/vm'
import type { BlockUpdate, GenesisAlloc, AccountChange } from '../src/index.ts'
import type { Block } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'
import type { VM } from '@ethereumjs/vm'

/**
 * Stores 0x2a at slot 0; its runtime stores the first calldata word at slot 1
 */
export const CONTRACT_INIT = hexToBytes('0x602a6000556007601160003960076000f360003560015500')

const KEY = hexToBytes('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318')

export interface TxSpec {
  to?: Address
  value?: bigint
  data?: Uint8Array
  gasLimit?: bigint
}

/**
 * A real EVM (`@ethereumjs/vm`) on a genesis state, building blocks of real
 * transactions from one funded key
 */
export class EvmChain {
  readonly vm: VM
  readonly common: Common
  readonly sender: Address
  head: Block
  private nonce = 0n
  /** Per block number: the block, and the accounts and slots it touched */
  readonly history = new Map<bigint, { block: Block, touched: string[], slots: string[] }>()

  private constructor (vm: VM, common: Common, head: Block) {
    this.vm = vm
    this.common = common
    this.head = head
    this.sender = createAddressFromPrivateKey(KEY)
  }

  static fund (alloc: GenesisAlloc): GenesisAlloc {
    return { ...alloc, [createAddressFromPrivateKey(KEY).toString()]: '0x56bc75e2d63100000' }
  }

  static async create (alloc: GenesisAlloc): Promise<EvmChain> {
    const common = new Common({ chain: Mainnet, hardfork: Hardfork.Shanghai })
    const vm = await createVM({ common })
    await (vm.stateManager as any).generateCanonicalGenesis(alloc)
    const stateRoot = await vm.stateManager.getStateRoot()
    const genesis = createBlock({
      header: { number: 0n, stateRoot, gasLimit: 30_000_000n, baseFeePerGas: 1_000_000_000n, timestamp: 1n },
      withdrawals: []
    }, { common })
    const chain = new EvmChain(vm, common, genesis)
    chain.history.set(0n, { block: genesis, touched: [], slots: [] })
    return chain
  }

  get genesisHeader (): Uint8Array {
    return this.head.header.serialize()
  }

  /**
   * Builds and executes a block; returns the update a bridge applies (the
   * header and every touched account read back from the EVM's state, with
   * the given storage slots of contracts)
   */
  async block (txs: TxSpec[], slots: number[] = [0, 1]): Promise<{ update: BlockUpdate, block: Block, created: Address[] }> {
    const coinbase = createAddressFromPrivateKey(setLengthLeft(hexToBytes('0x07'), 32))
    const builder = await buildBlock(this.vm, {
      parentBlock: this.head,
      headerData: { timestamp: this.head.header.timestamp + 12n, coinbase, gasLimit: 30_000_000n },
      withdrawals: [],
      blockOpts: { putBlockIntoBlockchain: false }
    })
    const touched = new Set<string>([this.sender.toString(), coinbase.toString()])
    const created: Address[] = []
    for (const spec of txs) {
      const tx = createFeeMarket1559Tx({
        nonce: this.nonce,
        maxFeePerGas: 10_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
        gasLimit: spec.gasLimit ?? 200_000n,
        to: spec.to,
        value: spec.value ?? 0n,
        data: spec.data ?? new Uint8Array(0)
      }, { common: this.common }).sign(KEY)
      if (spec.to == null) {
        created.push(createContractAddress(this.sender, this.nonce))
      }
      this.nonce++
      await builder.addTransaction(tx)
      touched.add((spec.to ?? created[created.length - 1]).toString())
    }
    const { block } = await builder.build()
    this.head = block
    this.history.set(block.header.number, { block, touched: [...touched], slots: [] })
    const changes: AccountChange[] = []
    for (const hex of touched) {
      const address = createAddressFromString(hex)
      const account = await this.vm.stateManager.getAccount(address)
      const code = await this.vm.stateManager.getCode(address)
      const storage: Array<[Uint8Array, Uint8Array]> = []
      if (code.length > 0) {
        this.history.get(block.header.number)?.slots.push(hex)
        for (const slot of slots) {
          const key = setLengthLeft(new Uint8Array([slot]), 32)
          storage.push([key, await this.vm.stateManager.getStorage(address, key)])
        }
      }
      changes.push({
        address: address.bytes,
        account: account == null ? null : { nonce: account.nonce, balance: account.balance },
        code: code.length > 0 ? code : undefined,
        storage
      })
    }
    return { update: { header: block.header.serialize(), changes }, block, created }
  }

  async balance (address: Address): Promise<bigint> {
    return (await this.vm.stateManager.getAccount(address))?.balance ?? 0n
  }

  async storage (address: Address, slot: number): Promise<string> {
    return bytesToHex(await this.vm.stateManager.getStorage(address, setLengthLeft(new Uint8Array([slot]), 32)))
  }
}
