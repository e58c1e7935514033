import assert from 'node:assert/strict'
import { it } from 'node:test'
import { runExample } from '../src/run-in-lab.js'

it('two peers behind cone NATs punch through and exchange a message over the direct connection', async () => {
  const r = await runExample()
  assert.ok(!r.direct.remoteAddr.includes('/p2p-circuit'), r.direct.remoteAddr)
  assert.ok(r.direct.remoteAddr.startsWith(`/ip4/${r.bobRouter}/tcp/`), r.direct.remoteAddr)
  assert.equal(r.message.text, 'hello over a punched connection')
  assert.ok(r.message.remoteAddr.startsWith(`/ip4/${r.aliceRouter}/tcp/`), r.message.remoteAddr)
})
