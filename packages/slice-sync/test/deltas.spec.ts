import { bytesToHex, createAddressFromString, setLengthLeft } from '@ethereumjs/util'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { buildDeltas } from '../src/delta-builder.ts'
import { decodeHeader } from '../src/headers.ts'
import { genesisSource, sliceOf } from '../src/index.ts'
import { Delta } from '../src/pb/slice-sync.ts'
import { StateStore } from '../src/state.ts'
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
  const extra: SliceNode[] = []
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
    await stopAll([bridge, rogue, ...peers, ...extra])
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

  it('an empty and a trimmed delta for the real header, sent first, are rejected and their sender penalised; the honest delta still applies with no range sync', async () => {
    // the honest deltas of the next block, built apart from the bridge
    const store = bridge?.services.sliceSync.store as StateStore
    const scratch = new StateStore(new Map(store.nodes), new Map(store.codes))
    const root = bridge?.services.sliceSync.stateRoot as Uint8Array
    const served = new Set(peers.flatMap(p => p.services.sliceSync.heldSlices()))
    const target = Object.keys(mainnet).slice(0, 300).map(a => createAddressFromString(a)).find(a => served.has(sliceOf(keccak256(a.bytes), K)))
    if (target == null) {
      throw new Error('no funded account in a held slice')
    }
    const group = sliceOf(keccak256(target.bytes), K)
    const { update, block } = await evm.block([{ to: target, value: 4242n }])
    const { changed } = await scratch.apply(root, update.changes)
    const header = decodeHeader(update.header)
    const honest = buildDeltas(scratch, { sliceNibbles: K, groupNibbles: 1, maxDeltaBytes: 1024 * 1024 }, header, changed, new Map()).find(d => d.group === group)
    if (honest == null) {
      throw new Error('no honest delta for the group')
    }
    // two front-runners (one fault is enough to be dropped): one sends an
    // empty delta, the other the honest one without its accounts and its last node
    const front = await Promise.all([0, 1].map(async () => createSliceNode({ sliceNibbles: K, radius: 0, replication: 0, trustedRoot: genesisRoot })))
    extra.push(...front)
    for (const f of front) {
      for (const p of peers) {
        await f.dial(p.getMultiaddrs()[0])
      }
    }
    const holders = peers.filter(p => p.services.sliceSync.heldSlices().includes(group))
    const subscribed = (f: SliceNode): boolean => {
      const ids: string[] = f.services.pubsub.getSubscribers(TOPIC(group)).map((id: any) => id.toString())
      return holders.some(h => ids.includes(h.peerId.toString()))
    }
    await waitFor(() => front.every(subscribed), 20_000, 'front-runners see a holder on the delta topic')
    const before = peers.map(p => p.services.sliceSync.stats().ranges)
    const rejected: string[] = []
    for (const p of peers) {
      p.services.sliceSync.addEventListener('delta:rejected', (evt) => { rejected.push(evt.detail.reason) })
    }
    await front[0].services.pubsub.publish(TOPIC(group), Delta.encode({ ...honest, accounts: [], nodes: [], codes: [] }))
    await front[1].services.pubsub.publish(TOPIC(group), Delta.encode({ ...honest, accounts: [], nodes: honest.nodes.slice(0, -1) }))
    await waitFor(() => front.every(f => penalisedBySome(holders, f)), 10_000, 'both front-runners penalised')
    expect(rejected.length).to.be.at.least(2)
    expect(rejected.every(r => /incomplete/.test(r))).to.be.true()

    await bridge?.services.sliceSync.applyBlock(update)
    await expectViews(bytesToHex(block.header.stateRoot))
    // the views moved by the honest delta, not by range requests
    expect(peers.map(p => p.services.sliceSync.stats().ranges)).to.deep.equal(before)
  })

  it('a delta with extra junk nodes: its changes apply, the junk is not stored; with the honest copy too, one block event per peer', async () => {
    const store = bridge?.services.sliceSync.store as StateStore
    const scratch = new StateStore(new Map(store.nodes), new Map(store.codes))
    const root = bridge?.services.sliceSync.stateRoot as Uint8Array
    const group = peers[0].services.sliceSync.heldSlices()[0]
    const target = Object.keys(mainnet).slice(0, 300).map(a => createAddressFromString(a)).find(a => sliceOf(keccak256(a.bytes), K) === group)
    if (target == null) {
      throw new Error('no funded account in a held slice')
    }
    const { update, block } = await evm.block([{ to: target, value: 99n }])
    const { changed } = await scratch.apply(root, update.changes)
    const honest = buildDeltas(scratch, { sliceNibbles: K, groupNibbles: 1, maxDeltaBytes: 1024 * 1024 }, decodeHeader(update.header), changed, new Map()).find(d => d.group === group) as Delta
    const junk = [new Uint8Array(40).fill(7), new Uint8Array(100).fill(9)]
    const junkIds = junk.map(j => bytesToHex(keccak256(j)).slice(2))
    const applied: number[] = []
    peers[0].services.sliceSync.addEventListener('delta:applied', (evt) => { if (evt.detail.group === group) { applied.push(evt.detail.slices) } })
    const blocks = peers.map(() => 0)
    peers.forEach((p, i) => { p.services.sliceSync.addEventListener('block', (evt) => { if (evt.detail.number === block.header.number) { blocks[i]++ } }) })
    await rogue?.services.pubsub.publish(TOPIC(group), Delta.encode({ ...honest, nodes: [...honest.nodes, ...junk] }))
    await waitFor(() => applied.length > 0, 10_000, 'the padded delta applied')
    expect(applied[0]).to.be.at.least(1)
    await bridge?.services.sliceSync.applyBlock(update)
    await expectViews(bytesToHex(block.header.stateRoot))
    // the padded copy and the honest one both applied on peers[0]
    await waitFor(() => applied.length >= 2, 10_000, 'the honest delta applied as well')
    // one more copy, with other junk, once every peer is at the new root
    await rogue?.services.pubsub.publish(TOPIC(group), Delta.encode({ ...honest, nodes: [...honest.nodes, new Uint8Array(33).fill(3)] }))
    await waitFor(() => applied.length >= 3, 10_000, 'the second padded copy applied')
    // peers[0] applied three copies of its group's delta and emitted one block event
    expect(blocks[0]).to.equal(1)
    expect(blocks.every(n => n <= 1)).to.be.true()
    for (const p of peers) {
      for (const id of junkIds) {
        expect(p.services.sliceSync.store.nodes.has(id)).to.be.false()
      }
    }
    expect((await peers[0].services.sliceSync.getAccount(target.bytes))?.balance).to.equal(await evm.balance(target))
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
