/**
 * A bridge and a few peers in one process, sharing the mainnet genesis state
 * with @kitsune/slice-sync. Each peer holds only its slices, verified against
 * the genesis state root; one of them then prints an account it does not
 * hold, fetched with its Merkle proof from a peer that does and verified.
 *
 * Everything listens on 127.0.0.1 and nothing leaves the machine.
 */

import { fileURLToPath } from 'node:url'
import { getGenesis } from '@ethereumjs/genesis'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { genesisSource, sliceGossip, sliceOf, sliceSync } from '@kitsune/slice-sync'
import { hexToBytes } from '@ethereumjs/util'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

export const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'
export const SLICE_NIBBLES = 1

async function createNode (init) {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // peers find each other's addresses in their announcements
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      pubsub: sliceGossip({ loopback: true }),
      sliceSync: sliceSync({ sliceNibbles: SLICE_NIBBLES, ...init })
    }
  })
}

/**
 * Resolves once every peer holds its slices and together they hold every
 * slice (under-held slices are taken on a moment after the peers have heard
 * of each other)
 */
function covered (peers) {
  const count = 16 ** SLICE_NIBBLES
  const done = () => peers.every(p => p.services.sliceSync.isSynced()) &&
    new Set(peers.flatMap(p => p.services.sliceSync.heldSlices())).size === count
  return new Promise(resolve => {
    const check = () => {
      if (done()) {
        peers.forEach(p => p.services.sliceSync.removeEventListener('synced', check))
        resolve()
      }
    }
    peers.forEach(p => p.services.sliceSync.addEventListener('synced', check))
    check()
  })
}

/**
 * Starts a bridge and `peers` peers, waits until every peer holds its
 * slices, stops the bridge, and asks the first peer for an account it does
 * not hold. Returns what it printed and the account.
 */
export async function main ({ peers: count = 3, log = console.info } = {}) {
  const alloc = getGenesis(1)
  const bridge = await createNode({ source: genesisSource(alloc) })
  log(`bridge  ${bridge.peerId} holds the mainnet genesis, root ${MAINNET_ROOT}`)
  const peers = await Promise.all(Array.from({ length: count }, () => createNode({ trustedRoot: MAINNET_ROOT, radius: 3, replication: 1 })))
  try {
    return await run(alloc, bridge, peers, log)
  } finally {
    await Promise.all([bridge, ...peers].map(n => n.stop()))
  }
}

async function run (alloc, bridge, peers, log) {
  for (const peer of peers) {
    await peer.dial(bridge.getMultiaddrs()[0])
  }
  await covered(peers)
  for (const peer of peers) {
    const { accounts } = peer.services.sliceSync.progress()
    log(`peer    ${peer.peerId} holds slices ${peer.services.sliceSync.heldSlices().join(',')} (${accounts} accounts)`)
  }

  // the bridge goes away; the peers still answer, with proofs
  await bridge.stop()
  const asker = peers[0]
  const held = new Set(asker.services.sliceSync.heldSlices())
  const address = Object.keys(alloc).find(a => !held.has(sliceOf(keccak256(hexToBytes(a)), SLICE_NIBBLES)))
  const account = await asker.services.sliceSync.getAccount(address)
  log(`account ${address} (slice ${sliceOf(keccak256(hexToBytes(address)), SLICE_NIBBLES)}, not held by the asking peer)`)
  log(`        balance ${account.balance} wei, nonce ${account.nonce}, proof of ${account.proof.length} nodes checked against ${account.stateRoot}`)
  return { address, account, held: [...held], expected: BigInt(alloc[address]) }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main()
}
