import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { sliceOf } from '../src/index.ts'
import { connectAll, createBridge, createSliceNode, holdersPerSlice, mainnet, MAINNET_ROOT, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'

const K = 1
const R = 2
const addresses = Object.keys(mainnet)

describe('a bridge and 8 peers share the mainnet genesis', function () {
  this.timeout(90_000)
  let bridge: SliceNode | undefined
  let peers: SliceNode[] = []
  let fresh: SliceNode | undefined

  before(async () => {
    bridge = await createBridge({ sliceNibbles: K, replication: R })
    peers = await Promise.all(Array.from({ length: 8 }, async () => createSliceNode({ sliceNibbles: K, radius: 1, replication: R, trustedRoot: MAINNET_ROOT })))
    await connectAll([bridge, ...peers])
    await waitSynced(peers)
  })

  after(async () => {
    await stopAll([bridge, ...peers, fresh])
  })

  it('every peer holds the slices it is responsible for, verified against the trusted root, and every slice is held by at least R peers', async () => {
    expect(bytesToHex(bridge?.services.sliceSync.stateRoot as Uint8Array)).to.equal(MAINNET_ROOT)
    for (const peer of peers) {
      const s = peer.services.sliceSync
      expect(bytesToHex(s.stateRoot as Uint8Array)).to.equal(MAINNET_ROOT)
      expect(s.heldSlices()).to.include.members(s.targetSlices())
      expect(s.heldSlices().length).to.be.lessThan(16)
      // every held slice reads completely out of the peer's own node store
      for (const slice of s.heldSlices()) {
        const { sliceBounds } = await import('../src/index.ts')
        const { start, end } = sliceBounds(slice, K)
        expect(s.store.checkComplete(hexToBytes(MAINNET_ROOT), start, end)).to.be.greaterThan(0)
      }
    }
    // replication: wait until announcements settle the adopted slices
    await waitFor(() => holdersPerSlice(peers, 16).every(n => n >= R) && peers.every(p => p.services.sliceSync.isSynced()), 30_000, 'every slice held by R peers')
    const holders = holdersPerSlice(peers, 16)
    expect(Math.min(...holders)).to.be.at.least(R)
    // the peers together hold every account, and no peer holds everything
    const total = peers.reduce((n, p) => n + p.services.sliceSync.progress().accounts, 0)
    expect(total).to.be.at.least(8893 * R)
  })

  it('answers a held account locally and a not-held one with a verified proof from a holder', async () => {
    const peer = peers[0].services.sliceSync
    const held = new Set(peer.heldSlices())
    const local = addresses.find(a => held.has(sliceOf(keccak256(hexToBytes(a as `0x${string}`)), K))) as string
    const remote = addresses.find(a => !held.has(sliceOf(keccak256(hexToBytes(a as `0x${string}`)), K))) as string
    const a = await peer.getAccount(local)
    expect(a?.balance).to.equal(BigInt(mainnet[local] as string))
    const b = await peer.getAccount(remote)
    expect(b?.balance).to.equal(BigInt(mainnet[remote] as string))
    expect(b?.proof.length).to.be.greaterThan(0)
    expect(b?.stateRoot).to.equal(MAINNET_ROOT)
    // an address that is not in the state: proven absent
    expect(await peer.getAccount('0x00000000000000000000000000000000000000aa')).to.be.null()
  })

  it('after the bridge stops, any account is still answered with a proof through any peer', async () => {
    await bridge?.stop()
    bridge = undefined
    const sample = addresses.filter((_, i) => i % 997 === 0)
    for (const peer of peers) {
      for (const address of sample.slice(0, 4)) {
        const account = await peer.services.sliceSync.getAccount(address)
        expect(account?.balance, `${address} through ${peer.peerId}`).to.equal(BigInt(mainnet[address] as string))
      }
    }
  })

  it('a holder stops: its announcement expires and every slice returns to R holders among the live peers', async () => {
    const holders = holdersPerSlice(peers, 16)
    // a peer (not one the next test dials) holding a slice that only R peers hold
    const leaving = peers.slice(4).find(p => p.services.sliceSync.heldSlices().some(s => holders[s] === R)) ?? peers[7]
    const thin = leaving.services.sliceSync.heldSlices().filter(s => holders[s] === R)
    peers = peers.filter(p => p !== leaving)
    await leaving.stop()
    if (thin.length > 0) {
      expect(Math.min(...thin.map(s => holdersPerSlice(peers, 16)[s]))).to.be.lessThan(R)
    }
    await waitFor(() => holdersPerSlice(peers, 16).every(n => n >= R) && peers.every(p => p.services.sliceSync.isSynced()), 30_000, 'every slice back to R live holders')
    for (const p of peers) {
      expect(p.services.sliceSync.knownPeers().some(k => k.peer.equals(leaving.peerId))).to.be.false()
    }
  })

  it('a fresh peer joins and syncs its slices from peers only', async () => {
    fresh = await createSliceNode({ sliceNibbles: K, radius: 3, replication: R, trustedRoot: MAINNET_ROOT })
    const from = new Set<string>()
    fresh.services.sliceSync.addEventListener('slice:synced', (evt) => { from.add(evt.detail.from.toString()) })
    for (const p of peers.slice(0, 4)) {
      await fresh.dial(p.getMultiaddrs()[0])
    }
    await waitSynced([fresh])
    expect(fresh.services.sliceSync.heldSlices()).to.have.length.of.at.least(4)
    expect(from.size).to.be.greaterThan(0)
    for (const id of from) {
      expect(peers.map(p => p.peerId.toString())).to.include(id)
    }
    const { start, end } = (await import('../src/index.ts')).sliceBounds(fresh.services.sliceSync.heldSlices()[0], K)
    expect(fresh.services.sliceSync.store.checkComplete(hexToBytes(MAINNET_ROOT), start, end)).to.be.greaterThan(0)
  })
})
