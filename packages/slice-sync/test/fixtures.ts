import { getGenesis } from '@ethereumjs/genesis'
import { createTestNode, waitFor } from '@kitsune/test-support'
import { gossipsub } from '@libp2p/gossipsub'
import { genesisSource, sliceSync } from '../src/index.ts'
import type { GenesisAlloc, SliceSync, SliceSyncInit } from '../src/index.ts'
import type { BaseServices, TestNodeOptions } from '@kitsune/test-support'
import type { Libp2p } from '@libp2p/interface'

export const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'

export const mainnet = getGenesis(1) as unknown as GenesisAlloc

export type SliceNode = Libp2p<BaseServices & { pubsub: any, sliceSync: SliceSync }>

export { waitFor }

/**
 * A real libp2p node on 127.0.0.1 with gossipsub (scored for loopback) and
 * slice-sync
 */
export async function createSliceNode (init: SliceSyncInit, config: TestNodeOptions['config'] = {}): Promise<SliceNode> {
  return await createTestNode({
    config,
    services: {
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        heartbeatInterval: 200,
        scoreParams: { IPColocationFactorWeight: 0 }
      }),
      sliceSync: sliceSync({ announceInterval: 500, ...init })
    }
  }) as unknown as SliceNode
}

export async function createBridge (init: SliceSyncInit = {}, alloc: GenesisAlloc = mainnet): Promise<SliceNode> {
  return createSliceNode({ source: genesisSource(alloc), ...init })
}

export async function connectAll (nodes: SliceNode[]): Promise<void> {
  await Promise.all(nodes.map(async (node, i) => {
    for (let j = i + 1; j < nodes.length; j++) {
      await node.dial(nodes[j].getMultiaddrs()[0])
    }
  }))
}

export async function stopAll (nodes: Array<SliceNode | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => n?.stop()))
}

/**
 * How many non-bridge peers hold each slice
 */
export function holdersPerSlice (peers: SliceNode[], count: number): number[] {
  const holders = new Array<number>(count).fill(0)
  for (const p of peers) {
    for (const s of p.services.sliceSync.heldSlices()) {
      holders[s]++
    }
  }
  return holders
}

export async function waitSynced (peers: SliceNode[], timeout = 30_000): Promise<void> {
  await waitFor(() => peers.every(p => p.services.sliceSync.isSynced() && p.services.sliceSync.targetSlices().length > 0), timeout, 'peers synced')
}
