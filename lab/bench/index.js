#!/usr/bin/env node
/**
 * The hole-punch success matrix: NAT pair × method, N attempts per cell, each
 * attempt with fresh peers (B reserves on the relays, A dials B through one).
 * Prints success %, p50/p95 relayed→direct (ms) and which DCUtR attempt won.
 *
 *   sudo npm run bench                       # 20 attempts per cell
 *   node bench/index.js --attempts 5 --pairs cone-cone --methods kitsune-tcp
 *
 * Methods not implemented here are printed as such, never as 0 %.
 */
import { createLab } from '../src/lab.js'
import { assertBuilt, punchOnce, startRelays } from '../src/scenario.js'

const args = process.argv.slice(2)
const opt = (name, def) => args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def
const attempts = Number(opt('attempts', '20'))
const pairs = opt('pairs', 'cone-cone,cone-rst-cone-rst,cone-symmetric,symmetric-symmetric').split(',')
const methods = opt('methods', 'stock-tcp,kitsune-tcp,kitsune-webrtc,stock-quic').split(',')
const NOT_IMPLEMENTED = {
  'stock-quic': 'not measured (expected to fail: @chainsafe/libp2p-quic dials from another UDP socket, js-libp2p-quic#68)'
}

function splitPair (p) {
  const kinds = ['cone-rst', 'cone', 'symmetric', 'port-forwarded', 'none']
  for (const k of kinds) {
    if (p.startsWith(`${k}-`)) return [k, p.slice(k.length + 1)]
  }
  throw new Error(`bad pair ${p}`)
}

function pct (xs, q) {
  if (xs.length === 0) return '—'
  const s = [...xs].sort((a, b) => a - b)
  return String(s[Math.min(s.length - 1, Math.floor(q * s.length))])
}

assertBuilt()
const lab = createLab()
const rows = []
try {
  const relays = await startRelays(lab, 2)
  let n = 0
  for (const pair of pairs) {
    const [ka, kb] = splitPair(pair)
    for (const method of methods) {
      if (NOT_IMPLEMENTED[method] != null) {
        rows.push({ pair, method, note: NOT_IMPLEMENTED[method] })
        continue
      }
      const stock = method === 'stock-tcp'
      const transports = method === 'kitsune-webrtc' ? 'tcp,webrtc' : undefined
      let ok = 0
      const times = []
      const won = {}
      for (let i = 0; i < attempts; i++) {
        n++
        const a = lab.addNatPeer(`a${n}`, ka)
        const b = lab.addNatPeer(`b${n}`, kb)
        try {
          const r = await punchOnce(lab, relays, a, b, { stock, transports, timeout: 60_000 })
          if (r.end.event === 'direct') {
            ok++
            times.push(r.end.ms)
            const att = method === 'kitsune-webrtc' ? 'ICE' : r.b.events.find(e => e.event === 'punch-attempt')?.attempt ?? r.a.events.find(e => e.event === 'punch-attempt')?.attempt ?? '?'
            won[att] = (won[att] ?? 0) + 1
          }
        } catch (err) {
          process.stderr.write(`${pair} ${method} #${i + 1}: ${err.message.slice(0, 200)}\n`)
        }
        process.stderr.write(`${pair} ${method}: ${i + 1}/${attempts} (${ok} direct)\r`)
      }
      process.stderr.write('\n')
      rows.push({ pair, method, attempts, ok, p50: pct(times, 0.5), p95: pct(times, 0.95), won })
    }
  }
} finally {
  await lab.destroy()
}

console.log('\nHole-punch success matrix (NAT lab, no latency emulation)\n')
console.log('| NAT pair | method | attempts | success | p50 ms | p95 ms | succeeded on attempt |')
console.log('| --- | --- | --- | --- | --- | --- | --- |')
for (const r of rows) {
  if (r.note != null) {
    console.log(`| ${r.pair} | ${r.method} | — | — | — | — | ${r.note} |`)
    continue
  }
  const won = Object.entries(r.won).map(([k, v]) => `#${k}: ${v}`).join(', ') || '—'
  console.log(`| ${r.pair} | ${r.method} | ${r.attempts} | ${Math.round(100 * r.ok / r.attempts)} % | ${r.p50} | ${r.p95} | ${won} |`)
}
