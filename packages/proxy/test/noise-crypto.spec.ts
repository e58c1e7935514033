import { createTestNode, ECHO_PROTOCOL, echoRoundTrip, patternBytes } from '@kitsune/test-support'
import { noise } from '@libp2p/noise'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals } from 'uint8arrays/equals'
import { frontDoorNoiseCrypto, proxy } from '../src/index.ts'
import { addressOf, FAST_POOL, startCluster } from './fixtures.ts'
import type { ProxyNode } from './fixtures.ts'

describe('frontDoorNoiseCrypto', () => {
  const k = patternBytes(32, 11)
  const ad = patternBytes(32, 12)

  for (const size of [0, 100, 1199, 1200, 65_535, 1_000_000]) {
    it(`produces the same bytes as @libp2p/noise's default for a ${size}-byte message, and opens them`, () => {
      const nonce = patternBytes(12, size + 1)
      const plaintext = patternBytes(size, size + 2)
      const ours = frontDoorNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k).subarray()
      const theirs = defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k).subarray()
      expect(equals(ours, theirs)).to.be.true()

      // either side can open what the other sealed, as one array or in pieces
      expect(equals(frontDoorNoiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, k).subarray(), plaintext)).to.be.true()
      const pieces = new Uint8ArrayList(ours.subarray(0, Math.floor(ours.byteLength / 3)), ours.subarray(Math.floor(ours.byteLength / 3)))
      expect(equals(frontDoorNoiseCrypto.chaCha20Poly1305Decrypt(pieces, nonce, ad, k).subarray(), plaintext)).to.be.true()
    })
  }

  it('rejects a tampered message', () => {
    const nonce = patternBytes(12, 3)
    const sealed = frontDoorNoiseCrypto.chaCha20Poly1305Encrypt(patternBytes(5000, 4), nonce, ad, k).subarray()
    sealed[10] ^= 1
    expect(() => frontDoorNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k)).to.throw()
  })

  it('lets a proxy using it bridge 8 MiB between peers using stock noise', async function () {
    this.timeout(60_000)
    const backends = await startCluster(1, { routes: [] })
    const proxyNode = await createTestNode({
      config: { connectionEncrypters: [noise({ crypto: frontDoorNoiseCrypto })] },
      services: { proxy: proxy({ ...FAST_POOL, downstreams: backends.downstreams.map(addressOf), routes: [{ protocols: [ECHO_PROTOCOL] }] }) }
    }) as ProxyNode
    const client = await createTestNode()
    try {
      await proxyNode.services.proxy.ready()
      const payload = patternBytes(8 * 1024 * 1024, 13)
      const stream = await client.dialProtocol(addressOf(proxyNode), ECHO_PROTOCOL)
      expect(equals(await echoRoundTrip(stream, payload), payload)).to.be.true()
    } finally {
      await Promise.all([client.stop(), proxyNode.stop(), backends.stop()])
    }
  })
})
