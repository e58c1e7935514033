import { bytesToHex, createAddressFromString } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { genesisSource, MissingNodeError, PROTOCOL } from '../src/index.ts'
import { Request, Response } from '../src/pb/slice-sync.ts'
import { EvmChain } from './evm.ts'
import { connectAll, createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc } from '../src/index.ts'

const K = 1
const HISTORY = 3
const BLOCKS = 8

describe('old roots pruned', function () {
  this.timeout(60_000)
  const nodes: Array<SliceNode | undefined> = []

  after(async () => {
    await stopAll(nodes)
  })

  it(`after ${BLOCKS} blocks with headerHistory ${HISTORY} the node store stays bounded (a peer with the default history grows), old roots no longer answer and recent ones do`, async () => {
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 100)))
    const evm = await EvmChain.create(alloc)
    const genesisRoot = bytesToHex(evm.head.header.stateRoot)
    const bridge = await createSliceNode({ sliceNibbles: K, headerHistory: HISTORY, source: genesisSource(alloc, evm.genesisHeader) })
    // both peers hold every slice (radius 15 with k = 1)
    const pruned = await createSliceNode({ sliceNibbles: K, radius: 15, replication: 0, headerHistory: HISTORY, trustedRoot: genesisRoot })
    const control = await createSliceNode({ sliceNibbles: K, radius: 15, replication: 0, trustedRoot: genesisRoot })
    nodes.push(bridge, pruned, control)
    await connectAll([bridge, pruned, control])
    await waitSynced([pruned, control])

    const recipient = createAddressFromString(Object.keys(alloc)[3])
    const key = keccak256(recipient.bytes)
    const roots: Uint8Array[] = []
    const counts = { bridge: [] as number[], pruned: [] as number[], control: [] as number[] }
    for (let i = 1; i <= BLOCKS; i++) {
      // the same accounts change in every block: the same paths get new nodes
      const { update, block } = await evm.block([{ to: recipient, value: BigInt(i) }])
      roots.push(block.header.stateRoot)
      await bridge.services.sliceSync.applyBlock(update)
      const root = bytesToHex(block.header.stateRoot)
      await waitFor(() => [pruned, control].every(p => bytesToHex(p.services.sliceSync.stateRoot ?? new Uint8Array()) === root && p.services.sliceSync.isSynced()), 30_000, `the peers at block ${i}`)
      counts.bridge.push(bridge.services.sliceSync.store.nodes.size)
      counts.pruned.push(pruned.services.sliceSync.store.nodes.size)
      counts.control.push(control.services.sliceSync.store.nodes.size)
    }
    // once the history is full the pruned stores stay flat; the control's grows every block
    for (const series of [counts.bridge, counts.pruned]) {
      const steady = series.slice(HISTORY)
      expect(Math.max(...steady) - Math.min(...steady), `steady ${steady.join(',')}`).to.be.at.most(2)
    }
    for (let i = 1; i < BLOCKS; i++) {
      expect(counts.control[i]).to.be.greaterThan(counts.control[i - 1])
    }
    expect(counts.pruned[BLOCKS - 1]).to.be.lessThan(counts.control[BLOCKS - 1])

    // the oldest root is gone from the store, the last HISTORY roots read
    const reader = pruned.services.sliceSync.store.reader
    expect(() => reader.get(roots[0], key)).to.throw(MissingNodeError)
    for (const root of roots.slice(-HISTORY)) {
      expect(reader.get(root, key)).to.not.be.null()
    }
    // over the protocol: the pruned peer answers NOT_HELD for an old root, OK for a recent one
    const ask = async (root: Uint8Array): Promise<Response> => {
      const stream = await control.dialProtocol(pruned.peerId, PROTOCOL)
      const framed = lpStream(stream)
      await framed.write(Request.encode({ type: Request.Type.ACCOUNT_PROOF, root, key, forwarded: true } as any))
      return Response.decode(await framed.read())
    }
    expect((await ask(roots[0])).status).to.equal(Response.Status.NOT_HELD)
    expect((await ask(roots[BLOCKS - 1])).status).to.equal(Response.Status.OK)
    expect((await pruned.services.sliceSync.getAccount(recipient.bytes))?.balance).to.equal(await evm.balance(recipient))
  })
})
