import { bytesToHex, createAddressFromString, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { decodeAccount, MissingNodeError, PROTOCOL, sliceOf } from '../src/index.ts'
import { Request, Response } from '../src/pb/slice-sync.ts'
import { EvmChain } from './evm.ts'
import { connectAll, createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { AccountInit, GenesisAlloc } from '../src/index.ts'
import type { Block } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'

const K = 1
const THRESHOLD = 8
const SLOTS = 40

/**
 * Init code that stores i at slot i for i = 40 … 1 (and deploys no runtime):
 * PUSH1 40; loop: DUP1 DUP1 SSTORE; PUSH1 1 SWAP1 SUB; DUP1 PUSH1 2 JUMPI; STOP
 */
const FILL_40 = hexToBytes('0x60285b808055600190038060025700')

const slot = (i: number): Uint8Array => setLengthLeft(new Uint8Array([i]), 32)

describe('large storage tries sliced on their own', function () {
  this.timeout(60_000)
  const nodes: Array<SliceNode | undefined> = []

  after(async () => {
    await stopAll(nodes)
  })

  let evm: EvmChain
  let block: Block
  let contract: Address
  const accounts: AccountInit[] = []

  before(async () => {
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 100)))
    evm = await EvmChain.create(alloc)
    const built = await evm.block([{ data: FILL_40, gasLimit: 2_000_000n }], Array.from({ length: SLOTS }, (_, i) => i + 1))
    block = built.block
    contract = built.created[0]
    expect(await evm.storage(contract, SLOTS)).to.equal(bytesToHex(new Uint8Array([SLOTS])))
    // the EVM's post-state as the bridge's source, checked against the block's header
    const addresses = new Set([...Object.keys(alloc), ...(evm.history.get(1n)?.touched ?? [])])
    for (const hex of addresses) {
      const address = createAddressFromString(hex)
      const account = await evm.vm.stateManager.getAccount(address)
      if (account == null) {
        continue
      }
      const storage: Array<[Uint8Array, Uint8Array]> = []
      if (address.equals(contract)) {
        for (let i = 1; i <= SLOTS; i++) {
          storage.push([slot(i), await evm.vm.stateManager.getStorage(address, slot(i))])
        }
      }
      accounts.push({ address: address.bytes, nonce: account.nonce, balance: account.balance, storage })
    }
  })

  it(`maxInlineStorageSlots at its edge: a storage trie of exactly the limit (${SLOTS} slots) travels with its account; with the limit one lower it is sliced`, async () => {
    const header = block.header.serialize()
    const client = await createSliceNode({ sliceNibbles: K, maxSlices: 0, trustedHeader: header })
    nodes.push(client)
    const large = async (maxInlineStorageSlots: number): Promise<number> => {
      const bridge = await createSliceNode({ sliceNibbles: K, maxInlineStorageSlots, source: { load: async () => ({ accounts, header }) } })
      nodes.push(bridge)
      const stream = await client.dialProtocol(bridge.getMultiaddrs()[0], PROTOCOL)
      const framed = lpStream(stream)
      await framed.write(Request.encode({ type: Request.Type.LARGE_ACCOUNTS, root: block.header.stateRoot } as any))
      const response = Response.decode(await framed.read())
      expect(response.status).to.equal(Response.Status.OK)
      return response.entries.length
    }
    expect(await large(SLOTS)).to.equal(0)
    expect(await large(SLOTS - 1)).to.equal(1)
  })

  it(`a contract that wrote ${SLOTS} slots (maxInlineStorageSlots ${THRESHOLD}) is spread by storage slice over different peers, and every slot is readable, verified, through any peer`, async () => {
    const header = block.header.serialize()
    const bridge = await createSliceNode({ sliceNibbles: K, maxInlineStorageSlots: THRESHOLD, source: { load: async () => ({ accounts, header }) } })
    const peers = await Promise.all(Array.from({ length: 4 }, async () => createSliceNode({ sliceNibbles: K, radius: 3, replication: 1, maxInlineStorageSlots: THRESHOLD, trustedHeader: header })))
    nodes.push(bridge, ...peers)
    await connectAll([bridge, ...peers])
    await waitSynced(peers)

    const key = keccak256(contract.bytes)
    const keyHex = bytesToHex(key)
    const storageRoot = decodeAccount(bridge.services.sliceSync.store.reader.get(block.header.stateRoot, key) as Uint8Array).storageRoot
    // the storage slices that hold slots
    const used = new Set(Array.from({ length: SLOTS }, (_, i) => sliceOf(keccak256(slot(i + 1)), K)))
    const holders = (i: number): SliceNode[] => peers.filter(p => (p.services.sliceSync as any).state.storageHeld.get(`${keyHex}/${i}`) === bytesToHex(storageRoot))
    await waitFor(() => [...used].every(i => holders(i).length > 0) && peers.every(p => p.services.sliceSync.isSynced()), 30_000, 'every storage slice held')

    for (const i of used) {
      // storage slice i sits at position (i + prefix(h)) mod 16: its holders are responsible for that slice
      const position = (i + sliceOf(key, K)) % 16
      for (const p of holders(i)) {
        expect(p.services.sliceSync.targetSlices()).to.include(position)
      }
    }
    // spread: more than one peer holds a part, and none holds all of it
    const holding = peers.filter(p => [...used].some(i => holders(i).includes(p)))
    expect(holding.length).to.be.at.least(2)
    for (const p of peers) {
      expect([...used].every(i => holders(i).includes(p)), `${p.peerId} holds every storage slice`).to.be.false()
      expect(() => p.services.sliceSync.store.reader.range(storageRoot, new Uint8Array(32), new Uint8Array(32).fill(0xff))).to.throw(MissingNodeError)
    }

    // every slot through every peer, each answer verified against the state root
    for (const p of peers) {
      for (let i = 1; i <= SLOTS; i++) {
        expect(bytesToHex(await p.services.sliceSync.getStorage(contract.bytes, slot(i))), `slot ${i} through ${p.peerId}`).to.equal(bytesToHex(new Uint8Array([i])))
      }
    }
  })

  it('pruning keeps the storage slices held without their account slice (headerHistory 2, four more blocks)', async () => {
    const header = block.header.serialize()
    const bridge = await createSliceNode({ sliceNibbles: K, maxInlineStorageSlots: THRESHOLD, source: { load: async () => ({ accounts, header }) } })
    const peers = await Promise.all(Array.from({ length: 4 }, async () => createSliceNode({ sliceNibbles: K, radius: 3, replication: 1, maxInlineStorageSlots: THRESHOLD, headerHistory: 2, trustedHeader: header })))
    nodes.push(bridge, ...peers)
    await connectAll([bridge, ...peers])
    await waitSynced(peers)
    const key = keccak256(contract.bytes)
    const keyHex = bytesToHex(key)
    const accountSlice = sliceOf(key, K)
    const storageRoot = decodeAccount(bridge.services.sliceSync.store.reader.get(block.header.stateRoot, key) as Uint8Array).storageRoot
    const used = [...new Set(Array.from({ length: SLOTS }, (_, i) => sliceOf(keccak256(slot(i + 1)), K)))]
    const state = (p: SliceNode): any => (p.services.sliceSync as any).state
    // a peer holding a storage slice of the contract but not the contract's account slice
    await waitFor(() => peers.some(p => !p.services.sliceSync.heldSlices().includes(accountSlice) && used.some(i => state(p).storageHeld.get(`${keyHex}/${i}`) === bytesToHex(storageRoot))), 30_000, 'a storage slice held apart from its account')
    const holder = peers.find(p => !p.services.sliceSync.heldSlices().includes(accountSlice) && used.some(i => state(p).storageHeld.get(`${keyHex}/${i}`) === bytesToHex(storageRoot))) as SliceNode
    const i = used.find(i => state(holder).storageHeld.get(`${keyHex}/${i}`) === bytesToHex(storageRoot)) as number
    const { sliceBounds } = await import('../src/index.ts')
    const bounds = sliceBounds(i, K)
    // four blocks that do not touch the contract: the genesis header leaves the history
    const recipient = createAddressFromString(Object.keys(mainnet)[2])
    for (let n = 0; n < 4; n++) {
      const { update, block: b } = await evm.block([{ to: recipient, value: BigInt(n + 1) }])
      await bridge.services.sliceSync.applyBlock(update)
      await waitFor(() => bytesToHex(holder.services.sliceSync.stateRoot ?? new Uint8Array()) === bytesToHex(b.header.stateRoot), 30_000, `the holder at block ${b.header.number}`)
    }
    expect(state(holder).storageHeld.get(`${keyHex}/${i}`)).to.equal(bytesToHex(storageRoot))
    // still held means still readable: the storage slice reads completely
    expect(holder.services.sliceSync.store.reader.range(storageRoot, bounds.start, bounds.end).entries.length).to.be.greaterThan(0)
  })
})
