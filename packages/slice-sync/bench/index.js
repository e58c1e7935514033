/**
 * slice-sync benchmark, one run, everything on 127.0.0.1:
 *
 * 1. a fresh peer syncs its share (4 of 16 slices) of the mainnet genesis
 *    from 8 peers (the bridge gone), next to a fresh peer downloading and
 *    verifying the whole state (16 slices) from one peer; bytes on the wire
 *    per byte of account data (the proof overhead) for both
 * 2. delta propagation from a bridge to 20 peers, p50/p99, every delta
 *    verified by each peer's topic validator (blocks of real transfers
 *    executed by @ethereumjs/vm)
 * 3. memory per peer (RSS growth over the 20 peers, divided by 20)
 *
 *   npm run bench   (in packages/slice-sync, after building)
 */

import { getGenesis } from '@ethereumjs/genesis'
import { createAddressFromString, bytesToHex } from '@ethereumjs/util'
import { createTestNode, waitFor } from '@kitsune/test-support'
import { gossipsub } from '@libp2p/gossipsub'
import { genesisSource, sliceSync } from '../dist/src/index.js'

const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'
const mainnet = getGenesis(1)

async function node (init) {
  return createTestNode({
    services: {
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, heartbeatInterval: 200, scoreParams: { IPColocationFactorWeight: 0 } }),
      sliceSync: sliceSync({ sliceNibbles: 1, announceInterval: 500, ...init })
    }
  })
}

async function connectAll (nodes) {
  await Promise.all(nodes.map(async (n, i) => {
    for (let j = i + 1; j < nodes.length; j++) {
      await n.dial(nodes[j].getMultiaddrs()[0])
    }
  }))
}

function percentile (values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))]
}

const synced = (peers) => peers.every(p => p.services.sliceSync.isSynced() && p.services.sliceSync.targetSlices().length > 0)

async function syncBench () {
  const bridge = await node({ source: genesisSource(mainnet) })
  const peers = await Promise.all(Array.from({ length: 8 }, () => node({ radius: 1, replication: 2, trustedRoot: MAINNET_ROOT })))
  await connectAll([bridge, ...peers])
  await waitFor(() => synced(peers), 120_000, '8 peers synced')
  await waitFor(() => {
    const held = new Map()
    peers.forEach(p => p.services.sliceSync.heldSlices().forEach(s => held.set(s, (held.get(s) ?? 0) + 1)))
    return held.size === 16 && [...held.values()].every(n => n >= 2) && synced(peers)
  }, 120_000, 'every slice on 2 peers')
  await bridge.stop()

  const fresh = await node({ radius: 3, replication: 0, trustedRoot: MAINNET_ROOT })
  const start = performance.now()
  for (const p of peers) {
    await fresh.dial(p.getMultiaddrs()[0])
  }
  await waitFor(() => synced([fresh]), 120_000, 'fresh peer synced')
  const share = { ms: performance.now() - start, ...fresh.services.sliceSync.stats(), accounts: fresh.services.sliceSync.progress().accounts }

  // the whole state from one peer
  const single = await node({ source: genesisSource(mainnet) })
  const whole = await node({ radius: 15, replication: 0, trustedRoot: MAINNET_ROOT })
  const start2 = performance.now()
  await whole.dial(single.getMultiaddrs()[0])
  await waitFor(() => synced([whole]), 120_000, 'whole state synced')
  const all = { ms: performance.now() - start2, ...whole.services.sliceSync.stats(), accounts: whole.services.sliceSync.progress().accounts }

  await Promise.all([...peers, fresh, single, whole].map(n => n.stop()))
  return { share, all }
}

async function deltaBench () {
  const { EvmChain } = await import('../test/evm.ts')
  const alloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 500)))
  const evm = await EvmChain.create(alloc)
  const root0 = bytesToHex(evm.head.header.stateRoot)
  const rssBefore = process.memoryUsage().rss
  const bridge = await node({ source: genesisSource(alloc, evm.genesisHeader) })
  const peers = await Promise.all(Array.from({ length: 20 }, () => node({ radius: 1, replication: 0, trustedRoot: root0 })))
  await connectAll([bridge, ...peers])
  await waitFor(() => synced(peers), 120_000, '20 peers synced')
  // every peer follows the genesis header (learnt from the bridge when it connected)
  await waitFor(() => peers.every(p => p.services.sliceSync.chain.head != null), 30_000, 'every peer has the anchor header')
  const rssPerPeer = (process.memoryUsage().rss - rssBefore) / 21

  const latencies = []
  let rejected = 0
  peers.forEach(p => p.services.sliceSync.addEventListener('delta:rejected', () => { rejected++ }))
  const recipients = Object.keys(mainnet).slice(0, 40).map(a => createAddressFromString(a))
  for (let b = 0; b < 15; b++) {
    const { update, block } = await evm.block([{ to: recipients[(2 * b) % 40], value: 1000n + BigInt(b) }, { to: recipients[(2 * b + 1) % 40], value: 7n }])
    const root = bytesToHex(block.header.stateRoot)
    const start = performance.now()
    const pending = new Set(peers)
    const done = new Promise(resolve => {
      const check = () => {
        for (const p of pending) {
          if (bytesToHex(p.services.sliceSync.stateRoot) === root && p.services.sliceSync.isSynced()) {
            latencies.push(performance.now() - start)
            pending.delete(p)
          }
        }
        if (pending.size === 0) {
          resolve()
        }
      }
      peers.forEach(p => {
        p.services.sliceSync.addEventListener('delta:applied', check)
        p.services.sliceSync.addEventListener('synced', check)
      })
      setTimeout(check, 0)
    })
    await bridge.services.sliceSync.applyBlock(update)
    await Promise.race([done, new Promise((resolve, reject) => setTimeout(() => {
      for (const p of pending) {
        const s = p.services.sliceSync
        console.error('behind', bytesToHex(s.stateRoot), s.isSynced(), s.heldSlices(), s.targetSlices(), s.chain.head?.number, p.services.pubsub.getTopics().length)
      }
      reject(new Error(`block ${b}: ${pending.size} peers behind`))
    }, 15_000))])
  }
  await Promise.all([bridge, ...peers].map(n => n.stop()))
  return { latencies, rejected, rssPerPeer }
}

const { share, all } = process.env.DELTAS_ONLY != null ? { share: { ms: 0 }, all: { ms: 0 } } : await syncBench()
const ratio = (s) => s.entryBytes == null ? '-' : (s.responseBytes / s.entryBytes).toFixed(2)
console.info('slice-sync benchmark (loopback, one process)')
console.info(`sync, share (4/16 slices) from 8 peers: ${share.ms.toFixed(0)} ms, ${share.accounts} accounts, ${share.requests} requests, ${share.responseBytes} bytes on the wire for ${share.entryBytes} bytes of account data: ${ratio(share)} bytes per byte`)
console.info(`sync, whole state (16/16) from 1 peer: ${all.ms.toFixed(0)} ms, ${all.accounts} accounts, ${all.requests} requests, ${all.responseBytes} bytes on the wire for ${all.entryBytes} bytes of account data: ${ratio(all)} bytes per byte`)
const { latencies, rejected, rssPerPeer } = await deltaBench()
console.info(`deltas, bridge → 20 peers, 15 blocks of 2 transfers: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms over ${latencies.length} (peer, block) pairs, ${rejected} rejected`)
console.info(`memory: ${(rssPerPeer / 1024 / 1024).toFixed(1)} MiB RSS per node (21 nodes in one process, 500-account state)`)
