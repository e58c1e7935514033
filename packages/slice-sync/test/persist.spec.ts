import { bytesToHex, createAddressFromString } from '@ethereumjs/util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import { MemoryDatastore } from 'datastore-core'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { Key } from 'interface-datastore'
import { genesisSource, sliceOf } from '../src/index.ts'
import { EvmChain } from './evm.ts'
import { createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc, SliceSyncInit } from '../src/index.ts'
import type { PrivateKey } from '@libp2p/interface'

const K = 1
const PREFIX = '/kitsune/slice-sync/mainnet'

async function records (datastore: MemoryDatastore, kind: string): Promise<number> {
  const keys = []
  for await (const key of datastore.queryKeys({ prefix: `${PREFIX}/${kind}/` })) {
    keys.push(key)
  }
  return keys.length
}

describe('persist: slices in the node\'s datastore', function () {
  this.timeout(60_000)
  const nodes: Array<SliceNode | undefined> = []

  after(async () => {
    await stopAll(nodes)
  })

  it('a restarted peer (same datastore and peer id) resumes at its last root with zero range requests; a tampered node record is detected and its slice fetched again', async () => {
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 200)))
    const evm = await EvmChain.create(alloc)
    const genesisRoot = bytesToHex(evm.head.header.stateRoot)
    const bridge = await createSliceNode({ sliceNibbles: K, source: genesisSource(alloc, evm.genesisHeader) })
    nodes.push(bridge)
    const datastore = new MemoryDatastore()
    const privateKey: PrivateKey = await generateKeyPair('Ed25519')
    const init: SliceSyncInit = { sliceNibbles: K, radius: 1, replication: 0, trustedRoot: genesisRoot, persist: true }
    const start = async (): Promise<SliceNode> => {
      const node = await createSliceNode(init, { datastore, privateKey })
      nodes.push(node)
      return node
    }

    // first run: sync, then follow a block so that the root to resume is not the trusted one
    const first = await start()
    await first.dial(bridge.getMultiaddrs()[0])
    await waitSynced([first])
    const held = first.services.sliceSync.heldSlices()
    const target = Object.keys(alloc).map(a => createAddressFromString(a)).find(a => held.includes(sliceOf(keccak256(a.bytes), K)))
    if (target == null) {
      throw new Error('no account in the held slices')
    }
    const { update, block } = await evm.block([{ to: target, value: 99n }])
    const root = bytesToHex(block.header.stateRoot)
    await bridge.services.sliceSync.applyBlock(update)
    await waitFor(() => bytesToHex(first.services.sliceSync.stateRoot ?? new Uint8Array()) === root && first.services.sliceSync.isSynced(), 30_000, 'the first run at block 1')
    expect(first.services.sliceSync.stats().ranges).to.be.greaterThan(0)
    await first.stop()
    expect(await records(datastore, 'node')).to.be.greaterThan(0)
    expect(await records(datastore, 'held')).to.equal(held.length)

    // second run, connected to nobody: synced from the datastore alone
    const second = await start()
    await waitSynced([second])
    const s = second.services.sliceSync
    expect(bytesToHex(s.stateRoot as Uint8Array)).to.equal(root)
    expect(s.heldSlices()).to.deep.equal(held)
    expect(s.stats().ranges).to.equal(0)
    expect(s.stats().requests).to.equal(0)
    expect(second.getConnections()).to.be.empty()
    expect((await s.getAccount(target.bytes))?.balance).to.equal(await evm.balance(target))
    const leaf = s.store.reader.prove(block.header.stateRoot, keccak256(target.bytes)).at(-1) as Uint8Array
    await second.stop()

    // tamper with the account's leaf on disk: the third run drops it, fetches its slice again (only that one) and rewrites the record
    const leafKey = new Key(`${PREFIX}/node/${bytesToHex(keccak256(leaf)).slice(2)}`)
    const forged = new Uint8Array(leaf)
    forged[forged.length - 1] ^= 0xff
    await datastore.put(leafKey, forged)
    const third = await start()
    const refetched: number[] = []
    third.services.sliceSync.addEventListener('slice:synced', (evt) => { refetched.push(evt.detail.slice) })
    expect(third.services.sliceSync.heldSlices()).to.deep.equal(held.filter(sl => sl !== sliceOf(keccak256(target.bytes), K)))
    await third.dial(bridge.getMultiaddrs()[0])
    await waitSynced([third])
    expect(refetched).to.deep.equal([sliceOf(keccak256(target.bytes), K)])
    expect(third.services.sliceSync.stats().ranges).to.be.greaterThan(0)
    expect((await third.services.sliceSync.getAccount(target.bytes))?.balance).to.equal(await evm.balance(target))
    await third.stop()
    expect(bytesToHex(keccak256(await datastore.get(leafKey)))).to.equal(bytesToHex(keccak256(leaf)))
  })

  it('persist defaults to off: a node with a datastore writes no slice records to it', async () => {
    const datastore = new MemoryDatastore()
    const bridge = await createSliceNode({ sliceNibbles: K, source: genesisSource(Object.fromEntries(Object.entries(mainnet).slice(0, 50))) }, { datastore })
    nodes.push(bridge)
    expect(await records(datastore, 'node')).to.equal(0)
  })
})
