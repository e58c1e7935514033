import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { AddressPolicy, parseCidr } from '../src/address-policy.ts'
import { InvalidOptionError } from '../src/errors.ts'
import { pickRelays, xorDistance } from '../src/relays.ts'

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
})
