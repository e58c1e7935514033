import { expect } from 'aegir/chai'
import { createSliceNode, MAINNET_ROOT, stopAll, waitFor } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'

const PREFIX = '/kitsune/slice-sync/1/mainnet'

describe('garbage on the gossip topics', function () {
  this.timeout(30_000)
  const nodes: SliceNode[] = []

  after(async () => {
    await stopAll(nodes)
  })

  it('garbage on the announce, headers and delta topics is rejected or ignored, counted against the sender, and the node keeps running', async () => {
    const peer = await createSliceNode({ sliceNibbles: 1, radius: 15, replication: 0, maxFaults: 100, trustedRoot: MAINNET_ROOT })
    const rogue = await createSliceNode({ sliceNibbles: 1, maxSlices: 0, trustedRoot: MAINNET_ROOT })
    nodes.push(peer, rogue)
    const topics = [`${PREFIX}/announce`, `${PREFIX}/headers`, `${PREFIX}/delta/0`]
    await rogue.dial(peer.getMultiaddrs()[0])
    const subscribed = (t: string): boolean => rogue.services.pubsub.getSubscribers(t).map((id: any) => id.toString()).includes(peer.peerId.toString())
    await waitFor(() => topics.every(subscribed), 10_000, 'the peer subscribed to the topics')
    const reasons: string[] = []
    peer.services.sliceSync.addEventListener('peer:penalised', (evt) => { reasons.push(evt.detail.reason) })
    const garbage = new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02, 0x03, 0x04])
    for (const topic of topics) {
      await rogue.services.pubsub.publish(topic, garbage)
    }
    await waitFor(() => reasons.length >= 2, 10_000, 'the header and delta garbage counted against the sender')
    expect(reasons.some(r => /header/.test(r))).to.be.true()
    expect(reasons.some(r => /malformed delta/.test(r))).to.be.true()
    // the garbage announcement was not taken as an announcement
    expect(peer.services.sliceSync.knownPeers().some(k => k.peer.equals(rogue.peerId))).to.be.false()
    expect(peer.status).to.equal('started')
    expect(peer.services.sliceSync.progress().stateRoot).to.equal(MAINNET_ROOT)
  })
})
