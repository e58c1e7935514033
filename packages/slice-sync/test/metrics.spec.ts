import { bytesToHex, createAddressFromString } from '@ethereumjs/util'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { Registry } from 'prom-client'
import { encodeAccount, EMPTY_CODE_HASH, EMPTY_TRIE_ROOT, genesisSource, sliceOf } from '../src/index.ts'
import { Delta } from '../src/pb/slice-sync.ts'
import { EvmChain } from './evm.ts'
import { connectAll, createSliceNode, mainnet, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { GenesisAlloc } from '../src/index.ts'

const K = 1

/**
 * One sample of a Prometheus text exposition, by name and label
 */
function sample (text: string, name: string, label?: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name}${label == null ? ' ' : `{${label}}`}`))
  return line == null ? undefined : Number(line.split(' ').pop())
}

describe('kitsune_slice_* metrics', function () {
  this.timeout(60_000)
  const nodes: Array<SliceNode | undefined> = []

  after(async () => {
    await stopAll(nodes)
  })

  it('move with real nodes: slices, accounts, head, requests served, bytes, ranges fetched, deltas applied and rejected, penalties', async () => {
    const alloc: GenesisAlloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 200)))
    const evm = await EvmChain.create(alloc)
    const bridgeRegistry = new Registry()
    const peerRegistry = new Registry()
    const bridge = await createSliceNode({ sliceNibbles: K, source: genesisSource(alloc, evm.genesisHeader) }, { metrics: prometheusMetrics({ registry: bridgeRegistry, collectDefaultMetrics: false }) })
    nodes.push(bridge)
    const peer = await createSliceNode({ sliceNibbles: K, radius: 1, replication: 0, trustedHeader: evm.genesisHeader }, { metrics: prometheusMetrics({ registry: peerRegistry, collectDefaultMetrics: false }) })
    nodes.push(peer)
    const rogue = await createSliceNode({ sliceNibbles: K, radius: 0, replication: 0, trustedHeader: evm.genesisHeader })
    nodes.push(rogue)

    // before anything: every counter exported at 0
    let text = await peerRegistry.metrics()
    expect(sample(text, 'kitsune_slice_ranges_fetched_total', 'type="account"')).to.equal(0)
    expect(sample(text, 'kitsune_slice_deltas_total', 'result="applied"')).to.equal(0)
    expect(sample(text, 'kitsune_slice_head_block')).to.equal(0)

    await connectAll([bridge, peer, rogue])
    await waitSynced([peer])
    const s = peer.services.sliceSync
    text = await peerRegistry.metrics()
    expect(sample(text, 'kitsune_slice_slices', 'kind="target"')).to.equal(2)
    expect(sample(text, 'kitsune_slice_slices', 'kind="held"')).to.equal(2)
    expect(sample(text, 'kitsune_slice_accounts_held')).to.equal(s.progress().accounts).and.to.be.greaterThan(0)
    // one account range per slice (each fits one response), counted once
    expect(sample(text, 'kitsune_slice_ranges_fetched_total', 'type="account"')).to.equal(2)
    expect(s.stats().ranges).to.equal(2)
    expect(sample(text, 'kitsune_slice_response_bytes_total', 'direction="received"')).to.equal(s.stats().responseBytes)
    expect(sample(text, 'kitsune_slice_last_sync_seconds')).to.be.greaterThan(0)
    let served = await bridgeRegistry.metrics()
    expect(sample(served, 'kitsune_slice_requests_served_total', 'type="account_range"')).to.be.at.least(2)
    expect(sample(served, 'kitsune_slice_response_bytes_total', 'direction="sent"')).to.be.greaterThan(0)
    expect(sample(served, 'kitsune_slice_slices', 'kind="held"')).to.equal(16)

    // a query for an account the peer does not hold: an account proof served by the bridge
    const held = new Set(s.heldSlices())
    // (nor by the rogue, whose slice is random: only the bridge can answer)
    const rogueSlices = new Set(rogue.services.sliceSync.targetSlices())
    const remote = Object.keys(alloc).find(a => {
      const slice = sliceOf(keccak256(createAddressFromString(a).bytes), K)
      return !held.has(slice) && !rogueSlices.has(slice)
    }) as string
    const before = sample(served, 'kitsune_slice_requests_served_total', 'type="account_proof"') ?? 0
    expect((await s.getAccount(remote))?.balance).to.equal(BigInt(alloc[remote] as string))
    served = await bridgeRegistry.metrics()
    expect(sample(served, 'kitsune_slice_requests_served_total', 'type="account_proof"')).to.equal(before + 1)

    // a block: its deltas applied, the head moves
    const target = Object.keys(alloc).map(a => createAddressFromString(a)).find(a => held.has(sliceOf(keccak256(a.bytes), K)))
    if (target == null) {
      throw new Error('no account in the held slices')
    }
    const { update, block } = await evm.block([{ to: target, value: 5n }])
    await bridge.services.sliceSync.applyBlock(update)
    await waitFor(() => bytesToHex(s.stateRoot ?? new Uint8Array()) === bytesToHex(block.header.stateRoot) && s.isSynced(), 30_000, 'the peer at block 1')
    text = await peerRegistry.metrics()
    expect(sample(text, 'kitsune_slice_head_block')).to.equal(1)
    expect(sample(text, 'kitsune_slice_deltas_total', 'result="applied"')).to.be.at.least(1)
    expect(sample(text, 'kitsune_slice_rejected_total', 'reason="delta"')).to.equal(0)

    // a forged delta for the next block: rejected, its sender penalised
    const { update: next, block: nextBlock } = await evm.block([{ to: target, value: 6n }])
    const forged = encodeAccount({ nonce: 0n, balance: 10n ** 30n, storageRoot: EMPTY_TRIE_ROOT, codeHash: EMPTY_CODE_HASH })
    const group = sliceOf(keccak256(target.bytes), K)
    await rogue.services.pubsub.publish(`/kitsune/slice-sync/1/mainnet/delta/${group}`, Delta.encode({ header: next.header, stateRoot: nextBlock.header.stateRoot, group, accounts: [{ key: keccak256(target.bytes), value: forged }], nodes: [], codes: [] } as any))
    await waitFor(async () => sample(await peerRegistry.metrics(), 'kitsune_slice_deltas_total', 'result="rejected"') === 1, 10_000, 'the forged delta rejected')
    text = await peerRegistry.metrics()
    expect(sample(text, 'kitsune_slice_rejected_total', 'reason="delta"')).to.equal(1)
    expect(sample(text, 'kitsune_slice_peers_penalised_total')).to.equal(1)
    expect(sample(text, 'kitsune_slice_peers', 'state="bad"')).to.equal(1)
  })
})
