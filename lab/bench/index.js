#!/usr/bin/env node
/**
 * The hole-punch success matrix: NAT pair × method, N attempts per cell.
 * Each NAT pair is a lane with two peer hosts behind their routers and a
 * long-lived node driver in each (scripts/bench-node.js); the relays and the
 * namespaces are shared by every attempt, lanes run concurrently. Every
 * attempt is a fresh pair of libp2p nodes on fresh punch ports: B reserves
 * on the relays, A finds B's relays and dials B through one, then DCUtR (or
 * WebRTC's ICE) either gives a direct connection or gives up.
 * Prints success %, p50/p95 relayed→direct (ms) and which DCUtR round won.
 *
 *   sudo npm run bench                       # 20 attempts per cell
 *   node bench/index.js --attempts 5 --pairs cone-cone --methods kitsune-tcp
 *
 * Options: --attempts N (20), --pairs (cone-cone,cone-rst-cone-rst,
 * cone-symmetric,symmetric-symmetric), --methods (stock-tcp,kitsune-tcp,
 * kitsune-webrtc,stock-quic), --punch-timeout ms (2000: holePunch's
 * `dialTimeout` per punch dial — 3 rounds —, stock dcutr's `timeout` per
 * round — 3 rounds —, and the whole WebRTC dial), --concurrency lanes (4).
 */
import { createLab, INTERNET_CIDR } from '../src/lab.js'
import { NODE, assertBuilt, startRelays } from '../src/scenario.js'
import { fileURLToPath } from 'node:url'

const BENCH_NODE = fileURLToPath(new URL('../scripts/bench-node.js', import.meta.url))

const args = process.argv.slice(2)
const opt = (name, def) => args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def
const attempts = Number(opt('attempts', '20'))
const pairs = opt('pairs', 'cone-cone,cone-rst-cone-rst,cone-symmetric,symmetric-symmetric').split(',')
const methods = opt('methods', 'stock-tcp,kitsune-tcp,kitsune-webrtc,stock-quic').split(',')
const punchTimeout = Number(opt('punch-timeout', '2000'))
const concurrency = Number(opt('concurrency', '4'))
const METHODS = ['stock-tcp', 'kitsune-tcp', 'kitsune-webrtc', 'stock-quic']
for (const m of methods) {
  if (!METHODS.includes(m)) throw new Error(`unknown method ${m} (${METHODS.join(', ')})`)
}
if (!(attempts > 0) || !(punchTimeout > 0) || !(concurrency > 0)) {
  throw new Error('--attempts, --punch-timeout and --concurrency must be positive numbers')
}

/** What each method is expected to do, printed next to its cells */
const EXPECTED = {
  'stock-tcp': 'expected fail (js-libp2p#2620: dials from an ephemeral port)',
  'stock-quic': 'expected fail (js-libp2p-quic#68: dials from another UDP socket)'
}

function splitPair (p) {
  const kinds = ['cone-rst', 'cone', 'symmetric', 'port-forwarded', 'none']
  for (const k of kinds) {
    if (p.startsWith(`${k}-`)) return [k, p.slice(k.length + 1)]
  }
  throw new Error(`bad pair ${p}`)
}

/** Nearest-rank percentile */
function pct (xs, q) {
  if (xs.length === 0) return '—'
  const s = [...xs].sort((a, b) => a - b)
  return String(s[Math.max(0, Math.ceil(q * s.length) - 1)])
}

// a QUIC binary that cannot load blocks the stock-quic cells, with the reason
let quicBlocked
if (methods.includes('stock-quic')) {
  try {
    await import('@chainsafe/libp2p-quic')
  } catch (err) {
    quicBlocked = `blocked: @chainsafe/libp2p-quic does not load here (${err.message})`
  }
}

assertBuilt()
const lab = createLab()
const rows = new Map()
let nextPort = 20000
const started = Date.now()

async function runLane (pair, relays, quicRelay, lane) {
  const [ka, kb] = splitPair(pair)
  const a = lab.addNatPeer(`a${lane}`, ka)
  const b = lab.addNatPeer(`b${lane}`, kb)
  const driverArgs = [BENCH_NODE, 'peer', '--public-cidr', INTERNET_CIDR, '--punch-timeout', String(punchTimeout)]
  const da = lab.spawn(a, NODE, driverArgs, { stdin: true })
  const db = lab.spawn(b, NODE, driverArgs, { stdin: true })
  await da.waitFor(e => e.event === 'ready', 20_000, 'A driver ready')
  await db.waitFor(e => e.event === 'ready', 20_000, 'B driver ready')
  for (const method of methods) {
    const key = `${pair} ${method}`
    if (method === 'stock-quic' && quicBlocked != null) {
      rows.set(key, { pair, method, note: quicBlocked })
      continue
    }
    const relayAddrs = method === 'stock-quic' ? [quicRelay] : method === 'stock-tcp' ? [relays[0].addr] : relays.map(r => r.addr)
    const row = { pair, method, attempts, ok: 0, times: [], won: {}, errors: 0 }
    rows.set(key, row)
    for (let i = 0; i < attempts; i++) {
      const id = `${lane}-${method}-${i}`
      const port = nextPort++
      const of = (e) => e.id === id
      try {
        db.send({ cmd: 'listen', id, method, port, relays: relayAddrs })
        const res = await db.waitFor(e => of(e) && (e.event === 'reservation' || e.event === 'error'), 30_000, `B reservation ${id}`)
        if (res.event === 'error') throw new Error(`B: ${res.message}`)
        da.send({ cmd: 'dial', id, method, port, relays: relayAddrs, target: res.peerId })
        const end = await da.waitFor(e => of(e) && ['direct', 'punch-failed', 'error'].includes(e.event), 3 * (punchTimeout + 10_000) + 30_000, `A outcome ${id}`)
        if (end.event === 'error') throw new Error(`A: ${end.message}`)
        if (end.event === 'direct') {
          row.ok++
          row.times.push(end.ms)
          let won = '?'
          if (method === 'kitsune-tcp') {
            won = (await db.waitFor(e => of(e) && e.event === 'punch-success', 3000, 'B punch-success').catch(() => undefined))?.attempt ?? '?'
          } else if (method === 'kitsune-webrtc') {
            won = '1 (ICE)'
          }
          row.won[won] = (row.won[won] ?? 0) + 1
        }
      } catch (err) {
        row.errors++
        process.stderr.write(`\n${key} #${i + 1}: ${err.message.slice(0, 300)}\n`)
      } finally {
        da.send({ cmd: 'stop', id })
        db.send({ cmd: 'stop', id })
        await Promise.all([da, db].map(d => d.waitFor(e => of(e) && e.event === 'stopped', 15_000, `stopped ${id}`).catch(() => {})))
      }
      process.stderr.write(`${key}: ${i + 1}/${attempts} (${row.ok} direct) ${Math.round((Date.now() - started) / 1000)} s\n`)
    }
  }
  await da.kill()
  await db.kill()
}

try {
  const relays = await startRelays(lab, 2)
  let quicRelay
  if (methods.includes('stock-quic') && quicBlocked == null) {
    const qr = lab.spawn(relays[0].host, NODE, [BENCH_NODE, 'quic-relay', relays[0].host.addr])
    quicRelay = (await qr.waitFor(e => e.event === 'ready', 20_000, 'QUIC relay ready')).multiaddrs[0]
  }
  const queue = pairs.map((pair, lane) => ({ pair, lane: lane + 1 }))
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (queue.length > 0) {
      const { pair, lane } = queue.shift()
      await runLane(pair, relays, quicRelay, lane)
    }
  }))
} finally {
  await lab.destroy()
}

const total = Math.round((Date.now() - started) / 1000)
console.log(`\nHole-punch success matrix (NAT lab, no latency emulation; ${attempts} attempts per cell, punch timeout ${punchTimeout} ms, ${total} s)\n`)
console.log('| NAT pair | method | attempts | success | p50 ms | p95 ms | succeeded on attempt | note |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
for (const pair of pairs) {
  for (const method of methods) {
    const r = rows.get(`${pair} ${method}`)
    if (r == null) continue
    if (r.attempts == null) {
      console.log(`| ${r.pair} | ${r.method} | — | — | — | — | — | ${r.note} |`)
      continue
    }
    const won = Object.entries(r.won).map(([k, v]) => `#${k}: ${v}`).join(', ') || '—'
    const notes = [EXPECTED[method], r.errors > 0 ? `${r.errors} attempt(s) ended in a setup error, counted as failed` : undefined].filter(Boolean).join('; ')
    console.log(`| ${r.pair} | ${r.method} | ${r.attempts} | ${Math.round(100 * r.ok / r.attempts)} % | ${pct(r.times, 0.5)} | ${pct(r.times, 0.95)} | ${won} | ${notes} |`)
  }
}
