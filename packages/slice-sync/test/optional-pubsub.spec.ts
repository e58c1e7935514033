import { bytesToHex, createAddressFromString } from '@ethereumjs/util'
import { createTestNode } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { genesisSource, sliceOf, sliceSync } from '../src/index.ts'
import { EvmChain } from './evm.ts'
import { createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc, SliceSyncInit } from '../src/index.ts'

const K = 1

/** A real libp2p node with slice-sync and no pubsub service at all */
async function createNodeWithoutPubsub (init: SliceSyncInit): Promise<SliceNode> {
  return await createTestNode({ services: { sliceSync: sliceSync(init) } }) as unknown as SliceNode
}

describe('slice-sync without a pubsub service, and light peers (maxSlices: 0)', function () {
  this.timeout(90_000)
  let evm: EvmChain
  let alloc: GenesisAlloc
  let genesisRoot: string
  let bridge: SliceNode | undefined
  const nodes: Array<SliceNode | undefined> = []

  before(async () => {
    alloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 200)))
    evm = await EvmChain.create(alloc)
    genesisRoot = bytesToHex(evm.head.header.stateRoot)
    bridge = await createSliceNode({ sliceNibbles: K, source: genesisSource(alloc, evm.genesisHeader) })
  })

  after(async () => {
    await stopAll([bridge, ...nodes])
  })

  it('a node without pubsub starts, syncs its slices from a connected peer and answers with proofs, but gets no deltas: it stays at its trusted root while a gossiping peer follows the block', async () => {
    const quiet = await createNodeWithoutPubsub({ sliceNibbles: K, radius: 1, replication: 0, trustedRoot: genesisRoot })
    nodes.push(quiet)
    const gossiping = await createSliceNode({ sliceNibbles: K, radius: 1, replication: 0, trustedRoot: genesisRoot })
    nodes.push(gossiping)
    await quiet.dial(bridge!.getMultiaddrs()[0])
    await gossiping.dial(bridge!.getMultiaddrs()[0])
    await waitSynced([quiet, gossiping])
    expect(quiet.services.sliceSync.heldSlices()).to.have.length(2)
    expect(quiet.services.sliceSync.progress().accounts).to.be.greaterThan(0)
    // nothing announced, nothing heard
    expect(quiet.services.sliceSync.knownPeers()).to.be.empty()

    const held = new Set(quiet.services.sliceSync.heldSlices())
    const address = Object.keys(alloc).find(a => !held.has(sliceOf(keccak256(createAddressFromString(a).bytes), K)))
    expect(address).to.be.a('string')
    const account = await quiet.services.sliceSync.getAccount(address as string)
    expect(account?.balance).to.equal(BigInt(alloc[address as string] as string))
    expect(account?.stateRoot).to.equal(genesisRoot)

    const { block, update } = await evm.block([{ to: createAddressFromString(address as string), value: 7n }])
    await bridge!.services.sliceSync.applyBlock(update)
    const next = bytesToHex(block.header.stateRoot)
    await waitFor(() => bytesToHex(gossiping.services.sliceSync.stateRoot ?? new Uint8Array()) === next, 30_000, 'the gossiping peer at block 1')
    expect(bytesToHex(quiet.services.sliceSync.stateRoot ?? new Uint8Array())).to.equal(genesisRoot)
    // it can still ask for the new state explicitly, with a proof
    const after = await quiet.services.sliceSync.getAccount(address as string, { root: next })
    expect(after?.balance).to.equal(BigInt(alloc[address as string] as string) + 7n)
  })

  it('a light peer (maxSlices: 0, no pubsub) holds, syncs and announces nothing, and answers every query from a peer\'s proof', async () => {
    const light = await createNodeWithoutPubsub({ sliceNibbles: K, maxSlices: 0, trustedRoot: genesisRoot })
    nodes.push(light)
    expect(light.services.sliceSync.targetSlices()).to.be.empty()
    await light.dial(bridge!.getMultiaddrs()[0])
    for (const address of Object.keys(alloc).slice(0, 5)) {
      const account = await light.services.sliceSync.getAccount(address, { root: genesisRoot })
      expect(account?.balance).to.equal(BigInt(alloc[address] as string))
      expect(account?.proof.length).to.be.greaterThan(0)
    }
    expect(light.services.sliceSync.heldSlices()).to.be.empty()
    expect(light.services.sliceSync.progress().accounts).to.equal(0)
  })

  it('a light peer with pubsub is never announced, so gossiping peers do not count it as a holder', async () => {
    const light = await createSliceNode({ sliceNibbles: K, maxSlices: 0, trustedRoot: genesisRoot })
    nodes.push(light)
    const holder = await createSliceNode({ sliceNibbles: K, radius: 0, replication: 0, trustedRoot: genesisRoot })
    nodes.push(holder)
    await light.dial(bridge!.getMultiaddrs()[0])
    await holder.dial(bridge!.getMultiaddrs()[0])
    await holder.dial(light.getMultiaddrs()[0])
    await waitSynced([holder])
    // the bridge hears the holder's announcement (and the light peer hears both) ...
    await waitFor(() => bridge!.services.sliceSync.knownPeers().some(p => p.peer.equals(holder.peerId)), 30_000, 'the holder announced')
    await waitFor(() => light.services.sliceSync.knownPeers().some(p => p.peer.equals(holder.peerId)), 30_000, 'the light peer heard the holder')
    // ... but never the light peer's
    expect(bridge!.services.sliceSync.knownPeers().some(p => p.peer.equals(light.peerId))).to.equal(false)
    expect(holder.services.sliceSync.knownPeers().some(p => p.peer.equals(light.peerId))).to.equal(false)
    expect(light.services.sliceSync.heldSlices()).to.be.empty()
  })

  it('maxSlices takes 0 and 1 at its edge and refuses a negative value', async () => {
    await expect(createSliceNode({ maxSlices: -1 })).to.eventually.be.rejectedWith(/maxSlices must be an integer >= 0/)
    const one = await createSliceNode({ sliceNibbles: K, radius: 3, maxSlices: 1, replication: 0, trustedRoot: genesisRoot })
    nodes.push(one)
    expect(one.services.sliceSync.targetSlices()).to.have.length(1)
  })
})
