import { generateKeyPair } from '@libp2p/crypto/keys'
import { serviceCapabilities } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { contentKey, contentPlacement, findProxy, findService, hashStrategy, httpUrl, PROXY_CAPABILITY } from '../src/index.ts'
import type { Downstream } from '../src/index.ts'
import type { PeerId } from '@libp2p/interface'

async function peers (count: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: count }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

async function cids (count: number): Promise<CID[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => CID.createV1(raw.code, await sha256.digest(new Uint8Array([i, i >> 8])))))
}

describe('content placement', () => {
  let pool: Downstream[]
  const healthy = { healthy: () => pool }

  before(async () => {
    pool = (await peers(4)).map(peerId => ({ peerId, status: 'up', openStreams: 0 }))
  })

  it('places by multihash: a CIDv0 and a CIDv1 of the same bytes land together', async () => {
    const placement = contentPlacement(healthy)
    for (const v1 of await cids(20)) {
      const v0 = CID.createV0(await sha256.digest(new Uint8Array([1, 2, 3])))
      const same = CID.createV1(0x70, v0.multihash)
      expect(contentKey(v0)).to.equal(contentKey(same))
      expect(placement.place(v0).map(d => d.peerId.toString())).to.deep.equal(placement.place(same).map(d => d.peerId.toString()))
      expect(placement.place(v1)).to.have.lengthOf(pool.length)
    }
  })

  it('is the hash strategy keyed by contentKey, and keeps its order among a subset', async () => {
    const placement = contentPlacement(healthy)
    const hash = hashStrategy()
    const some = [pool[3], pool[1]]
    for (const cid of await cids(20)) {
      const all = placement.place(cid)
      expect(all).to.deep.equal(hash.select({ key: contentKey(cid) }, pool))
      expect(placement.place(cid, { among: some })).to.deep.equal(all.filter(d => some.includes(d)))
    }
  })

  it('content placed for no upstream peer pins nothing with sticky', async () => {
    const [upstream] = await peers(1)
    const [cid] = await cids(1)
    const placement = contentPlacement(healthy, 'sticky')
    const before = placement.place(cid).map(d => d.peerId.toString())
    expect(placement.place(cid).map(d => d.peerId.toString()), 'no pin from a placement for no peer').to.deep.equal(before)
    placement.place(cid, { upstream })
    // the peer's pin counts: the order for no peer changes, nothing else pinned
    expect(placement.place(cid).map(d => d.peerId.toString())).to.not.deep.equal(before)
    placement.forget(upstream)
    expect(placement.place(cid).map(d => d.peerId.toString())).to.deep.equal(before)
  })
})

describe('findService', () => {
  it('finds a service by its key and capability only', () => {
    const proxyLike = { [serviceCapabilities]: [PROXY_CAPABILITY] }
    const other = { [serviceCapabilities]: ['@other/thing'] }
    const components = { proxy: proxyLike, other, plain: {} }
    expect(findProxy(components)).to.equal(proxyLike)
    expect(findService(components, 'other', '@other/thing')).to.equal(other)
    expect(findProxy(components, 'other')).to.be.undefined()
    expect(findProxy(components, 'plain')).to.be.undefined()
    expect(findProxy(components, 'missing')).to.be.undefined()
    const throwing = new Proxy({}, { get: () => { throw new Error('not set') } })
    expect(findProxy(throwing)).to.be.undefined()
  })
})

describe('httpUrl', () => {
  it('reads URLs and TCP multiaddrs, with /https and a trailing /p2p', () => {
    expect(httpUrl('http://127.0.0.1:5001').href).to.equal('http://127.0.0.1:5001/')
    expect(httpUrl('/ip4/127.0.0.1/tcp/0').port).to.equal('0')
    expect(httpUrl('/ip4/10.0.0.1/tcp/5001/tls/http').href).to.equal('https://10.0.0.1:5001/')
    expect(httpUrl('/ip4/10.0.0.1/tcp/5001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN').href).to.equal('http://10.0.0.1:5001/')
  })

  it('refuses what is not an HTTP endpoint', () => {
    for (const address of ['/ip4/127.0.0.1/udp/5001', '/ip4/127.0.0.1', 'nonsense', 'ftp://example.com:21']) {
      expect(() => httpUrl(address), address).to.throw().with.property('name', 'InvalidHttpAddressError')
    }
  })
})
