import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLab } from '../src/lab.js'
import { assertBuilt, startPeer, startRelays } from '../src/scenario.js'

function distance (a, b) {
  const ka = createHash('sha256').update(peerIdFromString(a).toMultihash().bytes).digest()
  const kb = createHash('sha256').update(peerIdFromString(b).toMultihash().bytes).digest()
  return Buffer.from(ka.map((x, i) => x ^ kb[i])).toString('hex')
}

describe('relays by Kademlia closeness (5 relays, found through the DHT)', () => {
  let lab
  let relays
  before(async () => {
    assertBuilt()
    lab = createLab()
    relays = await startRelays(lab, 5)
  })
  after(async () => { await lab?.destroy() })

  it('reserves on the two XOR-closest relays and moves when the closest is killed', async () => {
    const host = lab.addNatPeer('p', 'cone')
    // bootstrap through one relay only: the others are found through the DHT
    const p = startPeer(lab, host, relays, { bootstrap: [relays[0].addr] })
    const ready = await p.waitFor(e => e.event === 'ready', 20_000, 'ready')
    const sorted = [...relays].sort((x, y) => distance(ready.peerId, x.peerId) < distance(ready.peerId, y.peerId) ? -1 : 1)
    await p.waitFor(e => e.event === 'reservation' && p.events.filter(x => x.event === 'reservation').length >= 2, 40_000, 'two reservations')
    const first = p.events.filter(e => e.event === 'reservation').map(e => e.relay)
    assert.deepEqual(new Set(first), new Set([sorted[0].peerId, sorted[1].peerId]), 'the two closest of five')
    for (const r of p.events.filter(e => e.event === 'reservation')) {
      assert.ok(r.addr.includes(`/p2p/${r.relay}/p2p-circuit/p2p/${ready.peerId}`), r.addr)
    }
    await sorted[0].proc.kill('SIGKILL')
    const lost = await p.waitFor(e => e.event === 'reservation-lost', 30_000, 'reservation-lost')
    assert.equal(lost.relay, sorted[0].peerId)
    await p.waitFor(e => e.event === 'reservation' && e.relay === sorted[2].peerId, 40_000, 'a reservation on the third closest')
    await p.kill()
  })
})
