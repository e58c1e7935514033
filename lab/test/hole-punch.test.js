import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { INTERNET_CIDR, createLab } from '../src/lab.js'
import { BENCH_NODE, NODE, assertBuilt, punchOnce, startRelays } from '../src/scenario.js'

const DIAL_ONCE = fileURLToPath(new URL('../scripts/dial-once.js', import.meta.url))

describe('hole punching through the lab (kitsune relay / kitsune peer processes)', () => {
  let lab
  let relays
  before(async () => {
    assertBuilt()
    lab = createLab()
    relays = await startRelays(lab, 2)
  })
  after(async () => { await lab?.destroy() })

  it('cone ↔ cone over TCP punches; the protocol afterwards runs on the direct connection between the routers', async () => {
    const a = lab.addNatPeer('ca', 'cone')
    const b = lab.addNatPeer('cb', 'cone')
    const r = await punchOnce(lab, relays, a, b)
    const reach = r.a.events.find(e => e.event === 'reachability')
    assert.equal(reach.status, 'not-reachable', 'behind a cone NAT with two AutoNAT servers')
    assert.equal(r.end.event, 'direct', JSON.stringify(r.a.events))
    assert.equal(r.end.transport, 'tcp')
    assert.ok(!r.end.remoteAddr.includes('/p2p-circuit'))
    assert.ok(r.end.remoteAddr.startsWith(`/ip4/${b.publicAddr}/tcp/`), `${r.end.remoteAddr} is B's router`)
    assert.ok(r.end.ms < 5000, `relayed→direct ${r.end.ms} ms`)
    assert.equal(r.protocol.event, 'protocol', JSON.stringify(r.protocol))
    assert.ok(!r.protocol.remoteAddr.includes('/p2p-circuit'), r.protocol.remoteAddr)
    assert.ok(r.protocol.remoteAddr.startsWith(`/ip4/${b.publicAddr}/tcp/`))
    // and B saw A at A's router
    const bDirect = await r.b.waitFor(e => e.event === 'direct', 5000, 'B direct')
    assert.ok(bDirect.remoteAddr.startsWith(`/ip4/${a.publicAddr}/tcp/`), bDirect.remoteAddr)
    // with --public-cidr, A never tried B's announced loopback or LAN
    // address (a dial to 127.0.0.1:4001 would have reached A's own listener)
    assert.deepEqual(r.aSockets.filter(s => s.peer.startsWith('127.') || s.peer.startsWith(`${b.addr}:`)), [], JSON.stringify(r.aSockets))
    assert.ok(r.aSockets.some(s => s.peer === r.end.remoteAddr.split('/').slice(2, 5).filter((_, i) => i !== 1).join(':')), JSON.stringify(r.aSockets))
  })

  it('fixed-port mode (the dial-only fallback, no reusePort listener) punches cone ↔ cone', async () => {
    const a = lab.addNatPeer('fa', 'cone')
    const b = lab.addNatPeer('fb', 'cone')
    const args = [BENCH_NODE, 'peer', '--public-cidr', INTERNET_CIDR, '--punch-timeout', '2000']
    const da = lab.spawn(a, NODE, args, { stdin: true })
    const db = lab.spawn(b, NODE, args, { stdin: true })
    try {
      await Promise.all([da.waitFor(e => e.event === 'ready'), db.waitFor(e => e.event === 'ready')])
      const cmd = { id: 'fixed', method: 'kitsune-tcp', port: 4001, fixedPunchPort: 4500, relays: relays.map(r => r.addr) }
      db.send({ cmd: 'listen', ...cmd })
      const res = await db.waitFor(e => e.event === 'reservation' || e.event === 'error', 20_000, 'B reservation')
      assert.equal(res.event, 'reservation', JSON.stringify(res))
      da.send({ cmd: 'dial', ...cmd, target: res.peerId })
      const end = await da.waitFor(e => ['direct', 'punch-failed', 'error'].includes(e.event), 20_000, 'A outcome')
      assert.equal(end.event, 'direct', JSON.stringify(da.events))
      // the punch left from B's fixed port, which its router preserved
      assert.equal(end.remoteAddr.split('/p2p/')[0], `/ip4/${b.publicAddr}/tcp/4500`)
      const won = await db.waitFor(e => e.event === 'punch-success', 5000, 'B punch-success')
      assert.equal(won.role, 'initiator')
    } finally {
      da.send({ cmd: 'stop', id: 'fixed' })
      db.send({ cmd: 'stop', id: 'fixed' })
      await da.kill()
      await db.kill()
    }
  })

  it('cone ↔ cone over WebRTC with relay-served STUN punches; the connection that carries a protocol afterwards is a direct WebRTC connection', async () => {
    const a = lab.addNatPeer('wa', 'cone')
    const b = lab.addNatPeer('wb', 'cone')
    const r = await punchOnce(lab, relays, a, b, { transports: 'tcp,webrtc' })
    assert.equal(r.end.event, 'direct', JSON.stringify(r.a.events))
    assert.equal(r.end.transport, 'webrtc')
    assert.ok(r.end.remoteAddr.endsWith(`/webrtc/p2p/${r.bPeerId}`), r.end.remoteAddr)
    assert.ok(r.end.ms < 10_000, `relayed→direct ${r.end.ms} ms`)
    assert.equal(r.protocol.event, 'protocol', JSON.stringify(r.protocol))
    // a WebRTC connection (named by its signalling path), not the limited relayed one
    assert.ok(r.protocol.remoteAddr.endsWith(`/webrtc/p2p/${r.bPeerId}`), r.protocol.remoteAddr)
    // and its packets went straight between the two routers: A's router
    // tracks a UDP flow to B's router that was answered (no TURN exists, the
    // relays only answer STUN)
    const flows = lab.exec(a.gw, 'cat', ['/proc/net/nf_conntrack']).split('\n')
      .filter(l => /\budp\b/.test(l) && l.includes(`src=${b.publicAddr} dst=${a.publicAddr}`))
    assert.ok(flows.length > 0, `no UDP flow between ${a.publicAddr} and ${b.publicAddr}`)
    assert.ok(flows.some(l => !l.includes('[UNREPLIED]')), flows.join('\n'))
  })

  it('symmetric ↔ symmetric reports punch-failed cleanly and the relayed connection keeps working', async () => {
    const a = lab.addNatPeer('sa', 'symmetric')
    const b = lab.addNatPeer('sb', 'symmetric')
    const r = await punchOnce(lab, relays, a, b, { timeout: 60_000 })
    assert.equal(r.end.event, 'punch-failed', JSON.stringify(r.a.events))
    assert.equal(typeof r.end.reason, 'string')
    assert.equal(r.protocol.event, 'protocol', JSON.stringify(r.protocol))
    assert.ok(r.protocol.remoteAddr.includes('/p2p-circuit'), r.protocol.remoteAddr)
    assert.equal(r.a.events.filter(e => e.event === 'error').length, 0, JSON.stringify(r.a.events))
    // one outcome line: later punch:failed events (other rounds, the
    // responder side) print nothing more
    assert.equal(r.a.events.filter(e => e.event === 'punch-failed').length, 1, JSON.stringify(r.a.events))
  })

  it('a peer behind a port-forward says reachable, another peer dials it directly, and it takes no reservation', async () => {
    const { startPeer } = await import('../src/scenario.js')
    const f = lab.addNatPeer('fw', 'port-forwarded', { forwardPorts: [4001] })
    const p = startPeer(lab, f, relays)
    const ready = await p.waitFor(e => e.event === 'ready', 20_000, 'ready')
    const reach = await p.waitFor(e => e.event === 'reachability', 30_000, 'reachability')
    assert.equal(reach.status, 'reachable')
    // the positive signal: a peer on the internet dials the router's
    // forwarded port and reaches the peer directly (no relay)
    const other = lab.addPublicHost('fw-dialer')
    const dialer = lab.spawn(other, NODE, [DIAL_ONCE, `/ip4/${f.publicAddr}/tcp/4001/p2p/${ready.peerId}`])
    const connected = await dialer.waitFor(e => e.event === 'connected' || e.event === 'error', 20_000, 'direct dial')
    assert.equal(connected.event, 'connected', JSON.stringify(connected))
    assert.equal(connected.limited, false)
    assert.ok(!connected.remoteAddr.includes('/p2p-circuit'))
    // every line the peer printed up to its own `stopped`: no reservation among them
    await p.kill('SIGTERM')
    assert.equal(p.events.at(-1)?.event, 'stopped', JSON.stringify(p.events))
    assert.deepEqual(p.events.filter(e => e.event === 'reservation'), [])
  })

  it('the stock js-libp2p stack (tcp + dcutr) does not punch through the same cone NATs', async () => {
    const a = lab.addNatPeer('ka', 'cone')
    const b = lab.addNatPeer('kb', 'cone')
    const r = await punchOnce(lab, relays, a, b, { stock: true })
    // what happens: the relayed connection comes up, DCUtR runs, no direct connection appears
    assert.equal(r.relayed.event, 'relayed')
    assert.equal(r.end.event, 'punch-failed', JSON.stringify(r.a.events))
    assert.equal(r.protocol.event, 'protocol', 'the relayed connection still carries a protocol')
    assert.ok(r.protocol.remoteAddr.includes('/p2p-circuit'))
  })
})
