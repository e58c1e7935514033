import { bytesToHex, createAddressFromString, setLengthLeft } from '@ethereumjs/util'
import { expect } from 'aegir/chai'
import { jsonRpcSource } from '../src/index.ts'
import { CONTRACT_INIT, EvmChain } from './evm.ts'
import { createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import { startRpcServer } from './rpc-server.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc } from '../src/index.ts'
import type { Server } from 'node:http'

describe('the JSON-RPC source, against a JSON-RPC server backed by @ethereumjs/vm', function () {
  this.timeout(90_000)
  let server: Server | undefined
  let bridge: SliceNode | undefined
  let peer: SliceNode | undefined

  after(async () => {
    await stopAll([bridge, peer])
    server?.close()
  })

  it('the bridge follows blocks of real transactions; its state root and a peer\'s view match the EVM after each block, values checked with eth_getProof', async () => {
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 100)))
    const evm = await EvmChain.create(alloc)
    const rpc = await startRpcServer(evm)
    server = rpc.server
    bridge = await createSliceNode({ sliceNibbles: 1, source: jsonRpcSource({ url: rpc.url, genesis: alloc, pollInterval: 50 }) })
    expect(bytesToHex(bridge.services.sliceSync.stateRoot as Uint8Array)).to.equal(bytesToHex(evm.head.header.stateRoot))
    peer = await createSliceNode({ sliceNibbles: 1, radius: 15, replication: 0, trustedRoot: bytesToHex(evm.head.header.stateRoot) })
    await peer.dial(bridge.getMultiaddrs()[0])
    await waitSynced([peer])

    const recipient = createAddressFromString(Object.keys(mainnet)[3])
    const first = await evm.block([{ to: recipient, value: 5n }, { data: CONTRACT_INIT }])
    await waitFor(() => bytesToHex(peer?.services.sliceSync.stateRoot ?? new Uint8Array()) === bytesToHex(first.block.header.stateRoot) && peer?.services.sliceSync.isSynced(), 30_000, 'the peer at block 1')
    expect(bytesToHex(bridge.services.sliceSync.stateRoot as Uint8Array)).to.equal(bytesToHex(first.block.header.stateRoot))

    const contract = first.created[0]
    const second = await evm.block([{ to: contract, data: setLengthLeft(new Uint8Array([0xbe, 0xef]), 32) }])
    await waitFor(() => bytesToHex(peer?.services.sliceSync.stateRoot ?? new Uint8Array()) === bytesToHex(second.block.header.stateRoot) && peer?.services.sliceSync.isSynced(), 30_000, 'the peer at block 2')
    expect(bytesToHex(await peer.services.sliceSync.getStorage(contract.bytes, setLengthLeft(new Uint8Array([1]), 32)))).to.equal('0xbeef')
    expect((await peer.services.sliceSync.getAccount(recipient.bytes))?.balance).to.equal(await evm.balance(recipient))
    expect(rpc.calls).to.include.members(['debug_getRawHeader', 'debug_traceBlockByNumber', 'eth_getProof', 'eth_getCode'])
  })
})
