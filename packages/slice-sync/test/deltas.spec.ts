import { bytesToHex, createAddressFromString, setLengthLeft } from '@ethereumjs/util'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { genesisSource, sliceOf } from '../src/index.ts'
import { Delta } from '../src/pb/slice-sync.ts'
import { CONTRACT_INIT, EvmChain } from './evm.ts'
import { connectAll, createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc } from '../src/index.ts'

const K = 1

function penalisedBySome (peers: SliceNode[], rogue?: SliceNode): boolean {
  return peers.some(p => p.services.sliceSync.penalisedPeers().some(id => id.equals(rogue?.peerId)))
}
const TOPIC = (g: number): string => `/kitsune/slice-sync/1/mainnet/delta/${g}`

describe('blocks executed by @ethereumjs/vm reach every peer as verified deltas', function () {
  this.timeout(90_000)
  let evm: EvmChain
  let bridge: SliceNode | undefined
  let rogue: SliceNode | undefined
  let peers: SliceNode[] = []
  let genesisRoot: string
  const recipient = createAddressFromString(Object.keys(mainnet)[5])
  const newcomer = createAddressFromString('0x00000000000000000000000000000000000c0ffe')

  before(async () => {
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 300)))
    evm = await EvmChain.create(alloc)
    genesisRoot = bytesToHex(evm.head.header.stateRoot)
    // the bridge checks the genesis header's state root (the EVM's) against the trie it builds
    bridge = await createSliceNode({ sliceNibbles: K, source: genesisSource(alloc, evm.genesisHeader) })
    peers = await Promise.all(Array.from({ length: 4 }, async () => createSliceNode({ sliceNibbles: K, radius: 1, replication: 2, trustedRoot: genesisRoot })))
    rogue = await createSliceNode({ sliceNibbles: K, radius: 0, replication: 0, trustedRoot: genesisRoot })
    await connectAll([bridge, ...peers, rogue])
    await waitSynced(peers)
    await waitFor(() => peers.every(p => p.services.sliceSync.isSynced()), 30_000, 'peers synced after adoption')
  })

  after(async () => {
    await stopAll([bridge, rogue, ...peers])
  })

  async function expectViews (root: string): Promise<void> {
    await waitFor(() => peers.every(p => bytesToHex(p.services.sliceSync.stateRoot ?? new Uint8Array()) === root && p.services.sliceSync.isSynced()), 30_000, `every peer at ${root}`)
  }

  it('transfers and a contract deployment: every peer applies the deltas and its view matches the EVM post-state root', async () => {
    const { update, block, created } = await evm.block([
      { to: recipient, value: 10n ** 18n },
      { to: newcomer, value: 12345n },
      { data: CONTRACT_INIT }
    ])
    const root = bytesToHex(block.header.stateRoot)
    expect(root).to.not.equal(genesisRoot)
    const counts = { resynced: 0, applied: 0 }
    for (const p of peers) {
      p.services.sliceSync.addEventListener('slice:synced', () => { counts.resynced++ })
      p.services.sliceSync.addEventListener('delta:applied', (evt) => { counts.applied += evt.detail.slices })
    }
    await bridge?.services.sliceSync.applyBlock(update)
    expect(bytesToHex(bridge?.services.sliceSync.stateRoot as Uint8Array)).to.equal(root)
    await expectViews(root)
    // the views moved by deltas alone: no slice was fetched again
    expect(counts.resynced).to.equal(0)
    expect(counts.applied).to.equal(peers.reduce((n, p) => n + p.services.sliceSync.heldSlices().length, 0))
    for (const peer of peers) {
      const a = await peer.services.sliceSync.getAccount(recipient.bytes)
      expect(a?.balance).to.equal(await evm.balance(recipient))
      const b = await peer.services.sliceSync.getAccount(newcomer.bytes)
      expect(b?.balance).to.equal(12345n)
      expect(bytesToHex(await peer.services.sliceSync.getStorage(created[0].bytes, setLengthLeft(new Uint8Array([0]), 32)))).to.equal('0x2a')
    }
  })

  it("a contract's storage write: getStorage through every peer gives the EVM's value", async () => {
    const contract = createAddressFromString(bytesToHex((await import('@ethereumjs/util')).createContractAddress(evm.sender, 2n).bytes))
    const { update, block } = await evm.block([
      { to: contract, data: setLengthLeft(new Uint8Array([0x12, 0x34]), 32) },
      { to: recipient, value: 1n }
    ])
    await bridge?.services.sliceSync.applyBlock(update)
    await expectViews(bytesToHex(block.header.stateRoot))
    expect(await evm.storage(contract, 1)).to.equal('0x1234')
    for (const peer of peers) {
      expect(bytesToHex(await peer.services.sliceSync.getStorage(contract.bytes, setLengthLeft(new Uint8Array([1]), 32)))).to.equal('0x1234')
    }
  })

  it('a delta for an unknown header is ignored; a delta whose values do not match its root is rejected and its sender penalised; the honest delta still arrives', async () => {
    const peer = peers[0]
    const ignored: string[] = []
    const rejected: string[] = []
    for (const p of peers) {
      p.services.sliceSync.addEventListener('delta:ignored', (evt) => { ignored.push(evt.detail.reason) })
      p.services.sliceSync.addEventListener('delta:rejected', (evt) => { rejected.push(evt.detail.reason) })
    }
    // peer ids are random, so which slices the peers serve differs from run
    // to run: take a funded account in a slice one of them serves
    const served = new Set(peers.flatMap(p => p.services.sliceSync.targetSlices()))
    const target = Object.keys(mainnet).slice(0, 300).map(a => createAddressFromString(a)).find(a => served.has(sliceOf(keccak256(a.bytes), K)))
    if (target == null) {
      throw new Error(`no funded account in the served slices ${[...served].join(', ')}`)
    }
    const group = sliceOf(keccak256(target.bytes), K)

    // a header whose parent nobody follows
    const { update: next, block } = await evm.block([{ to: target, value: 777n }])
    const orphan = (await import('@ethereumjs/rlp')).RLP.decode(next.header) as Uint8Array[]
    orphan[0] = new Uint8Array(32).fill(0xee)
    const orphanRlp = (await import('@ethereumjs/rlp')).RLP.encode(orphan)
    await rogue?.services.pubsub.publish(TOPIC(group), Delta.encode({ header: orphanRlp, stateRoot: orphan[3], group, accounts: [], nodes: [], codes: [] } as any))
    await waitFor(() => ignored.length > 0, 10_000, 'the orphan delta ignored')
    expect(ignored[0]).to.equal('unknown header')

    // the real next header with a forged balance
    const forged = (await import('../src/index.ts')).encodeAccount({ nonce: 0n, balance: 10n ** 30n, storageRoot: (await import('../src/index.ts')).EMPTY_TRIE_ROOT, codeHash: (await import('../src/index.ts')).EMPTY_CODE_HASH })
    await rogue?.services.pubsub.publish(TOPIC(group), Delta.encode({ header: next.header, stateRoot: block.header.stateRoot, group, accounts: [{ key: keccak256(target.bytes), value: forged }], nodes: [], codes: [] } as any))
    await waitFor(() => rejected.length > 0, 10_000, 'the forged delta rejected')
    await waitFor(() => penalisedBySome(peers, rogue), 10_000, 'rogue penalised')

    // the bridge's honest delta for the same block still applies everywhere
    await bridge?.services.sliceSync.applyBlock(next)
    await expectViews(bytesToHex(block.header.stateRoot))
    const account = await peer.services.sliceSync.getAccount(target.bytes)
    expect(account?.balance).to.equal(await evm.balance(target))
  })
})
