import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { hashStrategy, leastOutstandingStrategy, resolveStrategy, stickyStrategy, UnknownStrategyError } from '../src/index.ts'
import type { Downstream, RouteRequest } from '../src/index.ts'
import type { PeerId } from '@libp2p/interface'

async function peers (count: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: count }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

function downstreams (ids: PeerId[], openStreams: number[] = []): Downstream[] {
  return ids.map((peerId, i) => ({ peerId, status: 'up', openStreams: openStreams[i] ?? 0 }))
}

function request (upstream: PeerId, key = upstream.toString()): RouteRequest {
  return { upstream, protocol: '/test/1.0.0', key }
}

function tallyBy <T> (items: T[]): Map<T, number> {
  const counts = new Map<T, number>()
  for (const item of items) {
    counts.set(item, (counts.get(item) ?? 0) + 1)
  }
  return counts
}

describe('balancing strategies', () => {
  let upstreams: PeerId[]
  let pool: Downstream[]

  before(async () => {
    upstreams = await peers(9)
    pool = downstreams(await peers(3))
  })

  describe('sticky', () => {
    it('pins each new upstream peer to the downstream with the fewest pinned peers', () => {
      const sticky = stickyStrategy()
      const first = upstreams.map(u => sticky.select(request(u), pool)[0].peerId.toString())
      const counts = new Map<string, number>()
      first.forEach(id => counts.set(id, (counts.get(id) ?? 0) + 1))
      expect([...counts.values()]).to.deep.equal([3, 3, 3])
    })

    it('keeps a peer on its downstream while that downstream is healthy, with the others as fail-over', () => {
      const sticky = stickyStrategy()
      const pinned = sticky.select(request(upstreams[0]), pool)[0]
      for (let i = 0; i < 5; i++) {
        const order = sticky.select(request(upstreams[0]), pool)
        expect(order[0]).to.equal(pinned)
        expect(order).to.have.lengthOf(3)
      }
    })

    it('moves a peer when its downstream leaves the healthy set, and keeps it on the new one', () => {
      const sticky = stickyStrategy()
      const pinned = sticky.select(request(upstreams[0]), pool)[0]
      const rest = pool.filter(d => d !== pinned)
      const moved = sticky.select(request(upstreams[0]), rest)[0]
      expect(moved).to.not.equal(pinned)
      expect(sticky.select(request(upstreams[0]), pool)[0]).to.equal(moved)
    })

    it('forgets a peer that left, so its pin no longer counts as load', () => {
      const two = pool.slice(0, 2)

      const remembering = stickyStrategy()
      const first = remembering.select(request(upstreams[0]), two)[0]
      // the first downstream carries a pin, so the next peer goes to the other
      expect(remembering.select(request(upstreams[1]), two)[0]).to.not.equal(first)

      const forgetting = stickyStrategy()
      expect(forgetting.select(request(upstreams[0]), two)[0]).to.equal(first)
      forgetting.forget?.(upstreams[0])
      // the pin is gone: both are empty again and the tie goes to the first
      expect(forgetting.select(request(upstreams[1]), two)[0]).to.equal(first)
    })
  })

  describe('least-outstanding', () => {
    it('orders downstreams by open streams', () => {
      const ordered = leastOutstandingStrategy().select(request(upstreams[0]), downstreams(pool.map(d => d.peerId), [5, 0, 2]))
      expect(ordered.map(d => d.openStreams)).to.deep.equal([0, 2, 5])
    })
  })

  describe('hash', () => {
    it('sends the same key to the same downstream every time', () => {
      const hash = hashStrategy()
      const first = hash.select(request(upstreams[0], 'bafy-key'), pool)[0]
      for (let i = 0; i < 10; i++) {
        expect(hash.select(request(upstreams[i % upstreams.length], 'bafy-key'), pool)[0]).to.equal(first)
      }
    })

    it('spreads keys evenly and moves only the leaving downstream\'s keys (~1/N)', async () => {
      const hash = hashStrategy()
      const five = downstreams(await peers(5))
      const keys = Array.from({ length: 5000 }, (_, i) => `key-${i}`)
      const before = keys.map(key => hash.select(request(upstreams[0], key), five)[0])

      const counts = [...tallyBy(before).values()]
      expect(counts).to.have.lengthOf(5)
      for (const count of counts) {
        expect(count).to.be.within(800, 1200)
      }

      const leaving = five[2]
      const remaining = five.filter(d => d !== leaving)
      const after = keys.map(key => hash.select(request(upstreams[0], key), remaining)[0])
      const moved = keys.filter((_, i) => before[i] !== after[i]).length
      const heldByLeaving = before.filter(d => d === leaving).length

      // exactly the keys the leaving downstream held move, nothing else
      expect(moved).to.equal(heldByLeaving)
      expect(moved / keys.length).to.be.within(0.15, 0.25)
    })

    it('can hash on a custom key', () => {
      const byProtocol = hashStrategy({ key: (r) => r.protocol ?? '' })
      const a = byProtocol.select(request(upstreams[0]), pool)[0]
      const b = byProtocol.select(request(upstreams[1]), pool)[0]
      expect(a).to.equal(b)
    })
  })

  describe('resolveStrategy', () => {
    it('resolves built-in names to fresh instances', () => {
      expect(resolveStrategy('sticky').name).to.equal('sticky')
      expect(resolveStrategy('hash').name).to.equal('hash')
      expect(resolveStrategy('least-outstanding').name).to.equal('least-outstanding')
      expect(resolveStrategy('sticky')).to.not.equal(resolveStrategy('sticky'))
    })

    it('resolves user-registered names and strategy objects', () => {
      const custom = { name: 'first', select: (_r: RouteRequest, d: readonly Downstream[]) => [...d] }
      expect(resolveStrategy('first', { first: () => custom })).to.equal(custom)
      expect(resolveStrategy(custom)).to.equal(custom)
    })

    it('rejects an unknown name, listing the known ones', () => {
      expect(() => resolveStrategy('round-robin')).to.throw(UnknownStrategyError, /sticky, least-outstanding, hash/)
    })
  })
})
