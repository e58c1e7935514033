#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- --profile`, which runs
 * the proxy role under `node --cpu-prof`): where the busy time went, by
 * package (self and inclusive) and by function.
 *
 * Usage: node src/profile-summary.js <file.cpuprofile> [--top N] [--json]
 */

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { table } from './stats.js'

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    json: { type: 'boolean', default: false }
  }
})

if (positionals.length !== 1) {
  console.error('Usage: node src/profile-summary.js <file.cpuprofile> [--top N] [--json]')
  process.exit(2)
}

const profile = JSON.parse(readFileSync(positionals[0], 'utf8'))
const nodes = new Map(profile.nodes.map(n => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) {
  for (const c of n.children ?? []) {
    parent.set(c, n.id)
  }
}

/**
 * Which package or runtime area a frame belongs to
 *
 * @param {{functionName: string, url: string}} frame
 */
function area (frame) {
  const { url, functionName } = frame
  if (url === '' || url == null) {
    if (functionName === '(garbage collector)') return 'GC'
    if (functionName === '(idle)') return '(idle)'
    if (functionName === '(program)') return '(program: native, unattributed)'
    if (functionName === '(root)') return '(root)'
    return '(native)'
  }
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.includes('/packages/proxy/')) return `@kitsune/proxy (${url.split('/').pop()})`
  if (url.includes('/packages/test-support/')) return '@kitsune/test-support'
  if (url.includes('/benchmarks/')) return 'benchmark harness'
  if (url.startsWith('node:internal/crypto') || url === 'node:crypto') return 'node:crypto (cipher calls, incl. native work)'
  if (url.startsWith('node:internal/stream_base') || url.startsWith('node:net') || url.startsWith('node:internal/net')) return 'node:net (socket read/write)'
  if (url.startsWith('node:internal/event_target') || url.startsWith('node:events')) return 'node:events (EventTarget dispatch)'
  if (url.startsWith('node:internal/timers') || url.startsWith('node:timers')) return 'node:timers'
  if (url.startsWith('node:internal/buffer') || url.startsWith('node:buffer')) return 'node:buffer'
  if (url.startsWith('node:')) return `node (${url.replace(/^node:(internal\/)?/, '')})`
  return url
}

const self = new Map()
const inclusive = new Map()
const fnSelf = new Map()
const fnInclusive = new Map()
const fnKey = (frame) => `${frame.functionName || '(anonymous)'}  ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`
let total = 0
let idle = 0

const deltas = profile.timeDeltas ?? []
for (let i = 0; i < profile.samples.length; i++) {
  const dt = deltas[i + 1] ?? deltas[i] ?? 0 // a sample's time runs to the next sample
  const leaf = nodes.get(profile.samples[i])
  const leafArea = area(leaf.callFrame)
  if (leafArea === '(idle)') {
    idle += dt
    continue
  }
  total += dt
  self.set(leafArea, (self.get(leafArea) ?? 0) + dt)
  const key = fnKey(leaf.callFrame)
  fnSelf.set(key, (fnSelf.get(key) ?? 0) + dt)

  const seen = new Set()
  const seenFn = new Set()
  for (let id = leaf.id; id != null; id = parent.get(id)) {
    const frame = nodes.get(id).callFrame
    const a = area(frame)
    if (!seen.has(a)) {
      seen.add(a)
      inclusive.set(a, (inclusive.get(a) ?? 0) + dt)
    }
    if (frame.url !== '' && !frame.url.startsWith('node:')) {
      const k = fnKey(frame)
      if (!seenFn.has(k)) {
        seenFn.add(k)
        fnInclusive.set(k, (fnInclusive.get(k) ?? 0) + dt)
      }
    }
  }
}

const pct = (us) => `${(100 * us / total).toFixed(1)}%`
const ms = (us) => `${(us / 1000).toFixed(0)}`
const top = Number(opts.top)
const sortDesc = (m) => [...m.entries()].sort((a, b) => b[1] - a[1])

if (opts.json) {
  console.log(JSON.stringify({
    busyMs: total / 1000,
    idleMs: idle / 1000,
    self: Object.fromEntries(sortDesc(self).map(([k, v]) => [k, v / total])),
    inclusive: Object.fromEntries(sortDesc(inclusive).filter(([k]) => k !== '(root)').map(([k, v]) => [k, v / total])),
    functions: sortDesc(fnSelf).slice(0, top).map(([k, v]) => ({ fn: k, share: v / total })),
    functionsInclusive: sortDesc(fnInclusive).slice(0, top).map(([k, v]) => ({ fn: k, share: v / total }))
  }, null, 2))
  process.exit(0)
}

console.log(`${positionals[0]}`)
console.log(`busy ${ms(total)} ms, idle ${ms(idle)} ms (percentages are of busy time)\n`)
console.log('By area, self time (where the CPU actually was)')
console.log(table([['area', 'ms', 'share'], ...sortDesc(self).map(([k, v]) => [k, ms(v), pct(v)])]))
console.log('\nBy area, inclusive (time with that area anywhere on the stack)')
console.log(table([['area', 'ms', 'share'], ...sortDesc(inclusive).filter(([k]) => k !== '(root)').slice(0, top).map(([k, v]) => [k, ms(v), pct(v)])]))
console.log(`\nTop ${top} library functions, inclusive (callees counted once)`)
console.log(table([['function  file:line', 'ms', 'share'], ...sortDesc(fnInclusive).slice(0, top).map(([k, v]) => [k, ms(v), pct(v)])]))
console.log(`\nTop ${top} functions, self time`)
console.log(table([['function  file:line', 'ms', 'share'], ...sortDesc(fnSelf).slice(0, top).map(([k, v]) => [k, ms(v), pct(v)])]))
