import { expect } from 'aegir/chai'
import { createBridge, createSliceNode, holdersPerSlice, MAINNET_ROOT, stopAll, waitFor } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'

describe('start, stop, start', function () {
  this.timeout(60_000)
  const nodes: SliceNode[] = []

  after(async () => {
    await stopAll(nodes)
  })

  it('a peer stopped before adoption opened takes on under-held slices after it starts again', async () => {
    const bridge = await createBridge({ sliceNibbles: 1 })
    const other = await createSliceNode({ sliceNibbles: 1, radius: 0, replication: 1, trustedRoot: MAINNET_ROOT })
    const peer = await createSliceNode({ sliceNibbles: 1, radius: 0, replication: 1, trustedRoot: MAINNET_ROOT }, { })
    nodes.push(bridge, other, peer)
    await other.dial(bridge.getMultiaddrs()[0])
    await peer.dial(bridge.getMultiaddrs()[0])
    await peer.dial(other.getMultiaddrs()[0])
    // the first announcement of another peer arms the adoption delay: stop before it ends
    await waitFor(() => peer.services.sliceSync.knownPeers().some(k => k.peer.equals(other.peerId)), 10_000, 'the other peer announced')
    await peer.stop()
    await peer.start()
    await peer.dial(bridge.getMultiaddrs()[0])
    await peer.dial(other.getMultiaddrs()[0])
    // with replication 1, the two peers together take on every slice
    await waitFor(() => holdersPerSlice([peer, other], 16).every(n => n >= 1) && peer.services.sliceSync.isSynced(), 30_000, 'every slice held after the restart')
    expect(peer.services.sliceSync.targetSlices().length).to.be.greaterThan(1)
  })
})
