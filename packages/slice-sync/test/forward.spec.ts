import { createAddressFromString, hexToBytes } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { PROTOCOL } from '../src/index.ts'
import { Request } from '../src/pb/slice-sync.ts'
import { createBridge, createSliceNode, mainnet, MAINNET_ROOT, stopAll, waitFor } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'

describe('a forwarded account proof', function () {
  this.timeout(60_000)
  const nodes: SliceNode[] = []

  after(async () => {
    await stopAll(nodes)
  })

  it('stops when the asker gives up: the holder being asked is hung up on and no other holder is asked', async () => {
    // three bridges that announce everything and never answer
    const tarpits = await Promise.all([0, 1, 2].map(async () => createBridge({ sliceNibbles: 1 })))
    nodes.push(...tarpits)
    const opened: string[] = []
    const closed: string[] = []
    for (const t of tarpits) {
      await t.handle(PROTOCOL, async (stream) => {
        const request = Request.decode(await lpStream(stream).read())
        if (request.type !== Request.Type.ACCOUNT_PROOF) {
          stream.abort(new Error('not answered here'))
          return
        }
        opened.push(t.peerId.toString())
        stream.addEventListener('close', () => { closed.push(t.peerId.toString()) })
      }, { force: true })
    }
    // the middle peer holds nothing and forwards; it would wait long for each holder
    const middle = await createSliceNode({ sliceNibbles: 1, maxSlices: 0, trustedRoot: MAINNET_ROOT, requestTimeout: 30_000 })
    const asker = await createSliceNode({ sliceNibbles: 1, maxSlices: 0, trustedRoot: MAINNET_ROOT })
    nodes.push(middle, asker)
    for (const t of tarpits) {
      await middle.dial(t.getMultiaddrs()[0])
    }
    await waitFor(() => middle.services.sliceSync.knownPeers().length >= 3, 10_000, 'the middle peer knows the three holders')

    const key = keccak256(createAddressFromString(Object.keys(mainnet)[0]).bytes)
    const stream = await asker.dialProtocol(middle.getMultiaddrs()[0], PROTOCOL)
    const framed = lpStream(stream)
    await framed.write(Request.encode({ type: Request.Type.ACCOUNT_PROOF, root: hexToBytes(MAINNET_ROOT), key, slots: [], forwarded: false } as any))
    await waitFor(() => opened.length === 1, 10_000, 'the middle peer asks a holder')
    expect(middle.services.sliceSync.stats().forwarded).to.equal(1)
    // the asker gives up
    stream.abort(new Error('gave up'))
    await waitFor(() => closed.length === 1, 10_000, 'the holder being asked is hung up on')
    // a round trip through the middle peer, then: still one holder asked
    await middle.services.sliceSync.catchUp().catch(() => {})
    expect(opened).to.have.length(1)
    expect(middle.services.sliceSync.stats().forwarded).to.equal(1)
  })
})
