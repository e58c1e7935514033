import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createLab } from '../src/lab.js'
import { NODE, assertBuilt } from '../src/scenario.js'

const WIRE = fileURLToPath(new URL('../scripts/dcutr-wire.js', import.meta.url))

/**
 * kitsune's DCUtR speaks the same /libp2p/dcutr as the stock js-libp2p
 * module: one namespace (linked to nothing) whose loopback carries
 * 11.0.0.1-3, addresses stock DCUtR counts as public, a stock relay, and a
 * kitsune and a stock peer that upgrade their relayed connection
 */
describe('DCUtR wire compatibility with stock @libp2p/dcutr (one namespace, no NAT)', () => {
  let lab
  let host
  before(() => {
    assertBuilt()
    lab = createLab()
    const ns = lab.addNamespace('wire')
    for (const a of ['11.0.0.1', '11.0.0.2', '11.0.0.3']) {
      lab.exec(ns, 'ip', ['addr', 'add', `${a}/32`, 'dev', 'lo'])
    }
    host = { name: 'wire', ns, addr: '11.0.0.2', publicAddr: '11.0.0.2', nat: 'none' }
    lab.hosts.set('wire', host)
  })
  after(async () => { await lab?.destroy() })

  for (const role of ['initiator', 'responder']) {
    it(`kitsune DCUtR ${role} ↔ stock @libp2p/dcutr ${role === 'initiator' ? 'responder' : 'initiator'}: CONNECT/SYNC interoperate and both sides end up directly connected`, async () => {
      const p = lab.spawn(host, NODE, [WIRE, role])
      try {
        const relayed = await p.waitFor(e => e.event === 'relayed', 20_000, 'relayed')
        assert.equal(relayed.limited, true)
        const done = await p.waitFor(e => e.event === 'done' || e.event === 'kitsune-failed', 30_000, 'done')
        assert.equal(done.event, 'done', JSON.stringify(p.events))
        assert.ok(p.events.some(e => e.event === 'kitsune-start' && e.role === role), JSON.stringify(p.events))
        for (const side of ['kitsune-direct', 'stock-direct']) {
          const direct = p.events.find(e => e.event === side)
          assert.match(direct.remoteAddr, /^\/ip4\/11\.0\.0\.[23]\/tcp\/\d+\/p2p\//, side)
        }
        if (role === 'initiator') {
          // kitsune B read stock A's CONNECT, sent SYNC and its own punch dial won
          const success = p.events.find(e => e.event === 'kitsune-success')
          assert.equal(success?.role, 'initiator', JSON.stringify(p.events))
          assert.equal(success.transport, 'tcp')
          assert.match(success.remoteAddr, /^\/ip4\/11\.0\.0\.3\/tcp\/4003/)
        } else {
          // stock B read kitsune A's CONNECT (kitsune's observed candidate) and
          // dialed it after SYNC: the direct connection stock opened goes to
          // kitsune's punch port
          const direct = p.events.find(e => e.event === 'stock-direct')
          assert.equal(direct.direction, 'outbound')
          assert.match(direct.remoteAddr, /^\/ip4\/11\.0\.0\.2\/tcp\/4002\//)
        }
        assert.equal((await p.exited).code, 0)
      } finally {
        await p.kill()
      }
    })
  }
})
