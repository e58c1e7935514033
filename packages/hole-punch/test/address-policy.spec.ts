import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { TypedEventEmitter } from 'main-event'
import { AddressPolicy, parseCidr } from '../src/address-policy.ts'
import { InvalidOptionError } from '../src/errors.ts'
import { pickRelays, pickReplacements, xorDistance } from '../src/relays.ts'
import { ObservedAddresses } from '../src/tcp/observed-addresses.ts'

describe('address policy', () => {
  it('counts the usual private ranges (and the benchmarking range) as private without public CIDRs', () => {
    const p = new AddressPolicy()
    expect(p.isPublicIp('10.1.0.2')).to.be.false()
    expect(p.isPublicIp('198.18.1.10')).to.be.false()
    expect(p.isPublicIp('8.8.8.8')).to.be.true()
  })

  it('treats addresses in a --public-cidr range as public, at the range\'s edges', () => {
    const p = new AddressPolicy(['198.18.0.0/15'])
    expect(p.isPublicIp('198.18.0.0')).to.be.true()
    expect(p.isPublicIp('198.19.255.255')).to.be.true()
    // just outside: a CIDR of the private range 10/8 shows the edge
    const q = new AddressPolicy(['10.1.0.0/16'])
    expect(q.isPublicIp('10.1.255.255')).to.be.true()
    expect(q.isPublicIp('10.2.0.0')).to.be.false()
    expect(q.isPublicIp('10.0.255.255')).to.be.false()
    expect(p.isPublic(multiaddr('/ip4/198.19.1.1/tcp/4001'))).to.be.true()
    expect(p.isPublic(multiaddr('/ip4/10.1.0.2/tcp/4001'))).to.be.false()
  })

  it('with declared public ranges, dials only public addresses and the explicitly configured ones — never announced loopback or LAN addresses', () => {
    const p = new AddressPolicy(['198.18.0.0/15'])
    const bootstrap = [multiaddr('/ip4/10.9.0.1/tcp/4001/p2p/12D3KooWGRUVh2VNEc8a2bXk9TzUhfY5ZJgJMpdAkYV8ZQu4X1oN')]
    const announced = ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.2.0.2/tcp/4001', '/ip4/198.19.2.1/tcp/4001', '/ip4/198.20.0.1/tcp/4001', '/ip4/10.9.0.1/tcp/4001', '/ip6/::1/tcp/4001'].map(a => multiaddr(a))
    // 198.20.0.1 is outside the range but public by the usual rules
    expect(p.filterDialable(announced, bootstrap).map(String)).to.deep.equal(['/ip4/198.19.2.1/tcp/4001', '/ip4/198.20.0.1/tcp/4001', '/ip4/10.9.0.1/tcp/4001'])
    // circuit addresses have no IP of their own: the relay's is checked when dialed
    expect(p.allowsDial(multiaddr('/p2p/12D3KooWGRUVh2VNEc8a2bXk9TzUhfY5ZJgJMpdAkYV8ZQu4X1oN/p2p-circuit'))).to.be.true()
    // no public range declared: a one-machine setup keeps loopback, LAN stays out
    const none = new AddressPolicy()
    expect(none.filterDialable(announced).map(String)).to.deep.equal(['/ip4/127.0.0.1/tcp/4001', '/ip4/198.20.0.1/tcp/4001', '/ip6/::1/tcp/4001'])
  })

  it('DCUtR candidates are only addresses the policy calls public (observed loopback and LAN ignored)', () => {
    const policy = new AddressPolicy(['198.18.0.0/15'])
    const observed = new ObservedAddresses({ events: new TypedEventEmitter<any>(), logger: defaultLogger() }, { policy, isPunchPortConnection: () => true })
    const peerId = peerIdFromString('12D3KooWGRUVh2VNEc8a2bXk9TzUhfY5ZJgJMpdAkYV8ZQu4X1oN')
    for (const a of ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.1.0.2/tcp/4001', '/ip4/198.19.1.1/tcp/4001']) {
      observed.record({ observedAddr: multiaddr(a), connection: {} as any, peerId })
    }
    expect(observed.getCandidates().map(String)).to.deep.equal(['/ip4/198.19.1.1/tcp/4001'])
  })

  it('rejects a CIDR that is not one, by name', () => {
    expect(() => parseCidr('198.18.0.0/33')).to.throw(InvalidOptionError, /198\.18\.0\.0\/33/)
    expect(() => parseCidr('nope')).to.throw(InvalidOptionError)
  })

  it('sorts relays by XOR distance and prefers different networks', async () => {
    const ids = await Promise.all([1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const [self, a, b] = ids
    expect(xorDistance(self, a)).to.equal(xorDistance(a, self))
    expect(xorDistance(self, self)).to.match(/^0+$/)
    const c = (peer: any, network: string, distance: string): any => ({ peer, addrs: [], distance, network })
    const picked = pickRelays([c(a, 'n1', '01'), c(b, 'n1', '02'), c(self, 'n2', '03')], 2)
    expect(picked.map(p => p.distance)).to.deep.equal(['01', '03'])
    expect(pickRelays([c(a, 'n1', '01'), c(b, 'n1', '02')], 2).map(p => p.distance)).to.deep.equal(['01', '02'])
  })

  it('a replacement prefers a network no held reservation is in: two relays in one /24, one elsewhere', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const policy = new AddressPolicy(['198.18.0.0/15'])
    const cand = (peer: any, ip: string, distance: string): any => ({ peer, addrs: [multiaddr(`/ip4/${ip}/tcp/4001`)], distance, network: policy.networkOf(ip, 24) })
    // held: a reservation in 198.18.1.0/24; candidates: the closest is in that /24 too
    const held = cand(a, '198.18.1.10', '00')
    const sameNet = cand(b, '198.18.1.11', '01')
    const otherNet = cand(c, '198.18.2.10', '02')
    expect(sameNet.network).to.equal(held.network)
    expect(otherNet.network).to.not.equal(held.network)
    const used = new Set([held.network])
    expect(pickReplacements([sameNet, otherNet], used, 1)).to.deep.equal([otherNet])
    // with nothing held, the closest goes first; the same /24 only fills up
    expect(pickReplacements([sameNet, otherNet], new Set(), 1)).to.deep.equal([sameNet])
    expect(pickReplacements([sameNet], used, 1)).to.deep.equal([sameNet])
  })
})
