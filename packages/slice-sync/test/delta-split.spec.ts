import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, createAddressFromString } from '@ethereumjs/util'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { buildDeltas } from '../src/delta-builder.ts'
import { decodeHeader, genesisAccounts, genesisSource, sliceOf, StateStore } from '../src/index.ts'
import { Delta } from '../src/pb/slice-sync.ts'
import { readProof } from '../src/protocol.ts'
import { EvmChain } from './evm.ts'
import { connectAll, createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc } from '../src/index.ts'

const K = 1

/** A header (15 fields) whose only meaningful field is its state root */
function headerWith (stateRoot: Uint8Array): ReturnType<typeof decodeHeader> {
  const fields: Uint8Array[] = Array.from({ length: 15 }, () => new Uint8Array(0))
  fields[0] = new Uint8Array(32).fill(1)
  fields[3] = stateRoot
  fields[8] = new Uint8Array([1])
  return decodeHeader(RLP.encode(fields))
}

describe('deltas over maxDeltaBytes travel in parts', function () {
  this.timeout(60_000)
  const nodes: Array<SliceNode | undefined> = []

  after(async () => {
    await stopAll(nodes)
  })

  it('maxDeltaBytes at its edge: a delta of exactly the limit is sent whole, one byte less cuts it into parts that each fit and each prove their accounts', async () => {
    const alloc = Object.fromEntries(Object.entries(mainnet).slice(0, 600)) as GenesisAlloc
    const store = new StateStore()
    const { root } = store.load(genesisAccounts(alloc))
    const changes = Object.keys(alloc).slice(0, 120).map((a, i) => ({ address: createAddressFromString(a).bytes, account: { nonce: 1n, balance: BigInt(i + 1) } }))
    const { root: next, changed } = await store.apply(root, changes)
    expect(bytesToHex(next)).to.not.equal(bytesToHex(root))
    const header = headerWith(next)
    const split = (maxDeltaBytes: number): Delta[] => buildDeltas(store, { sliceNibbles: K, groupNibbles: 1, maxDeltaBytes }, header, changed, new Map())
    const whole = split(2 ** 30)
    expect(whole).to.have.length(16)
    const biggest = whole.reduce((a, b) => (a.accounts.length >= b.accounts.length ? a : b))
    const size = Delta.encode(biggest).byteLength

    const atLimit = split(size).filter(d => d.group === biggest.group)
    expect(atLimit).to.have.length(1)
    expect(atLimit[0].parts).to.equal(0)
    expect(Delta.encode(atLimit[0]).byteLength).to.equal(size)

    const under = split(size - 1).filter(d => d.group === biggest.group)
    expect(under.length).to.be.at.least(2)
    const keys: string[] = []
    under.forEach((part, i) => {
      expect(part.part).to.equal(i)
      expect(part.parts).to.equal(under.length)
      expect(Delta.encode(part).byteLength).to.be.at.most(size - 1)
      for (const entry of part.accounts) {
        // each part proves its own accounts against the new root
        expect(bytesToHex(readProof(next, entry.key, part.nodes) ?? new Uint8Array())).to.equal(bytesToHex(entry.value))
        keys.push(bytesToHex(entry.key))
      }
    })
    expect(keys.sort()).to.deep.equal(biggest.accounts.map(e => bytesToHex(e.key)).sort())
  })

  it('a block whose delta is over maxDeltaBytes reaches every peer in parts: each message fits, every part verifies, the views match the EVM and no slice is fetched again', async () => {
    const MAX = 4096
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 400)))
    const evm = await EvmChain.create(alloc)
    const bridge = await createSliceNode({ sliceNibbles: K, maxDeltaBytes: MAX, source: genesisSource(alloc, evm.genesisHeader) })
    const peers = await Promise.all(Array.from({ length: 2 }, async () => createSliceNode({ sliceNibbles: K, radius: 15, replication: 0, trustedRoot: bytesToHex(evm.head.header.stateRoot) })))
    nodes.push(bridge, ...peers)
    await connectAll([bridge, ...peers])
    await waitSynced(peers)

    // 25 transfers into one slice: its delta is several times the limit
    const slice = sliceOf(keccak256(createAddressFromString(Object.keys(alloc)[0]).bytes), K)
    const recipients = Object.keys(alloc).map(a => createAddressFromString(a)).filter(a => sliceOf(keccak256(a.bytes), K) === slice).slice(0, 25)
    expect(recipients).to.have.length(25)
    const sizes: number[] = []
    const applied: number[] = []
    const refetched: number[] = []
    peers[0].services.pubsub.addEventListener('message', (evt: any) => {
      if (evt.detail.topic === `/kitsune/slice-sync/1/mainnet/delta/${slice}`) {
        sizes.push(evt.detail.data.byteLength)
      }
    })
    for (const p of peers) {
      p.services.sliceSync.addEventListener('delta:applied', (evt) => { if (evt.detail.group === slice) { applied.push(evt.detail.number === 1n ? 1 : 0) } })
      p.services.sliceSync.addEventListener('slice:synced', (evt) => { refetched.push(evt.detail.slice) })
    }
    const { update, block } = await evm.block(recipients.map((to, i) => ({ to, value: BigInt(1000 + i) })))
    await bridge.services.sliceSync.applyBlock(update)
    const root = bytesToHex(block.header.stateRoot)
    await waitFor(() => peers.every(p => bytesToHex(p.services.sliceSync.stateRoot ?? new Uint8Array()) === root && p.services.sliceSync.isSynced()), 30_000, 'the peers at block 1')
    expect(sizes.length).to.be.at.least(2)
    expect(Math.max(...sizes)).to.be.at.most(MAX)
    expect(applied.length).to.equal(sizes.length * 2)
    expect(refetched).to.be.empty()
    for (const p of peers) {
      for (const to of recipients.slice(0, 5)) {
        expect((await p.services.sliceSync.getAccount(to.bytes))?.balance).to.equal(await evm.balance(to))
      }
    }
  })
})
