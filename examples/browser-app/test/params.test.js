/**
 * The page's query string (src/params.js): pure logic, in Node
 */

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_ADD_BYTES, MAX_CONTENT_BYTES, TIMEOUT } from '../src/constants.js'
import { parseParams } from '../src/params.js'

const ID = '12D3KooWSHH8ap4jEqNceN6ghFBYMYTqjgSqLTEoCEsXHLNkobtu'
const PEER = `/ip4/127.0.0.1/tcp/4002/ws/p2p/${ID}`
const CID_TEXT = 'bafkreia7zpinh23mbyrg4nv5rrhaajttjtspot3y5rwxazbxr2muoyiipq'

/** @param {Record<string, string>} params */
const query = params => `?${new URLSearchParams(params)}`

describe('parseParams', () => {
  it('reads peer, preload and cid, with the default limits', () => {
    const params = parseParams(query({ peer: PEER, preload: 'http://127.0.0.1:5001', cid: CID_TEXT }))
    assert.equal(params?.peer.toString(), PEER)
    assert.equal(params?.peerId, ID)
    assert.equal(params?.preload?.href, 'http://127.0.0.1:5001/')
    assert.equal(params?.cid?.toString(), CID_TEXT)
    assert.equal(params?.add, undefined)
    assert.equal(params?.timeout, TIMEOUT)
    assert.equal(params?.maxContentBytes, MAX_CONTENT_BYTES)
  })

  it('is undefined (the forms are shown) with neither cid nor add', () => {
    assert.equal(parseParams(''), undefined)
    assert.equal(parseParams(query({ peer: PEER })), undefined)
  })

  it('accepts /wss and /tls/ws addresses with a DNS name', () => {
    for (const peer of [`/dns4/node0.preload.example.org/tcp/443/wss/p2p/${ID}`, `/dns4/node0.preload.example.org/tcp/443/tls/ws/p2p/${ID}`]) {
      assert.equal(parseParams(query({ peer, cid: CID_TEXT }))?.peerId, ID)
    }
  })

  it('add: exactly MAX_ADD_BYTES of UTF-8 is accepted, one byte more is refused', () => {
    const base = { peer: PEER, preload: 'https://preload.example.org' }
    assert.equal(parseParams(query({ ...base, add: 'a'.repeat(MAX_ADD_BYTES) }))?.add?.length, MAX_ADD_BYTES)
    assert.throws(() => parseParams(query({ ...base, add: `${'a'.repeat(MAX_ADD_BYTES - 1)}é` })), { message: `add is ${MAX_ADD_BYTES + 1} bytes, at most ${MAX_ADD_BYTES} are accepted` })
  })

  it('timeout and maxContentBytes: positive integers only', () => {
    const base = { peer: PEER, cid: CID_TEXT }
    assert.equal(parseParams(query({ ...base, timeout: '1' }))?.timeout, 1)
    assert.equal(parseParams(query({ ...base, maxContentBytes: '442' }))?.maxContentBytes, 442)
    for (const bad of ['0', '-1', '1.5', 'x', '1e400']) {
      assert.throws(() => parseParams(query({ ...base, timeout: bad })), { name: 'ParamsError', message: /^timeout must be a positive integer/ })
      assert.throws(() => parseParams(query({ ...base, maxContentBytes: bad })), { name: 'ParamsError', message: /^maxContentBytes must be a positive integer/ })
    }
  })

  it('refuses what the page cannot act on, with a reason', () => {
    const cases = [
      [{ cid: CID_TEXT }, /^missing peer/],
      [{ peer: 'not a multiaddr', cid: CID_TEXT }, /^peer is not a multiaddr/],
      [{ peer: '/ip4/127.0.0.1/tcp/4002/ws', cid: CID_TEXT }, /^peer must end in \/p2p\/<peer id>/],
      [{ peer: `/ip4/127.0.0.1/tcp/4001/p2p/${ID}`, cid: CID_TEXT }, /^peer must be a WebSockets address/],
      [{ peer: PEER, cid: 'Qm-not-a-cid' }, /^cid is not a CID/],
      [{ peer: PEER, cid: CID_TEXT, add: 'x' }, /^give either cid or add, not both/],
      [{ peer: PEER, add: 'x' }, /^add needs preload/],
      [{ peer: PEER, add: 'x', preload: 'not a url' }, /^preload is not a URL/],
      [{ peer: PEER, add: 'x', preload: 'ftp://example.org' }, /^preload must be an http: or https: URL/]
    ]
    for (const [params, message] of cases) {
      assert.throws(() => parseParams(query(params)), { name: 'ParamsError', message }, JSON.stringify(params))
    }
  })
})
