#!/usr/bin/env node
/**
 * The front door under abuse (issue 10), two figures, each next to its
 * comparison measured in the same run:
 *
 *   bitswap-peers × N ──► forwarder-proxy ──► helia-downstream
 *   helia-client ───────►
 *
 * 1. Memory per upstream peer: `--peers` light libp2p peers, spread over
 *    `--peer-procs` processes, connect to the proxy and each keep a small
 *    wantlist (`--idle-wants` want-haves for blocks nobody has), hang up,
 *    and do it again. The proxy's RSS and heap after a full GC, idle (after
 *    the first wave, which pays the fixed warm-up costs; the cold figure is
 *    printed too) and with the second wave connected, give its memory per
 *    connected peer (target: at most 100 KiB). After they hang up again,
 *    the same figures say what is retained; `--waves` rounds in all show
 *    whether anything grows from one to the next.
 * 2. An honest client during a want flood: `--flooders` peers each send one
 *    wantlist of `--flood-wants` random want-haves (34 × 2,000 fill the
 *    default table of 65,536), then a stock Helia client (a fresh process
 *    per fetch) fetches a `--file` MiB file through the proxy; timed next to
 *    the same fetch through the same proxy before the flood.
 *
 *   node src/abuse.js [--json] [--peers N=1000] [--peer-procs N=4]
 *        [--idle-wants N=5] [--flooders N=34] [--flood-wants N=2000]
 *        [--file MiB=1] [--rounds N=3] [--waves N=4] [--phases memory,flood]
 *        [--timeout s=600]
 */

import { requirePositiveIntegers, setupBenchmark, stopAll } from './harness.js'
import { KiB, MiB, fmt, median, round, table } from './stats.js'

const bench = setupBenchmark({
  usage: 'node src/abuse.js [--json] [--peers N=1000] [--peer-procs N=4] [--idle-wants N=5] [--flooders N=34] [--flood-wants N=2000] [--file MiB=1] [--rounds N=3] [--waves N=4] [--phases memory,flood] [--timeout s=600]',
  timeout: 600,
  options: {
    peers: '1000',
    'peer-procs': '4',
    'idle-wants': '5',
    flooders: '34',
    'flood-wants': '2000',
    file: '1',
    rounds: '3',
    phases: 'memory,flood',
    waves: '4'
  }
})
const { opts, say, start } = bench

const PEERS = Number(opts.peers)
const PEER_PROCS = Math.min(Number(opts['peer-procs']), PEERS)
const IDLE_WANTS = Number(opts['idle-wants'])
const FLOODERS = Number(opts.flooders)
const FLOOD_WANTS = Number(opts['flood-wants'])
const FILE_BYTES = Math.round(Number(opts.file) * MiB)
const ROUNDS = Number(opts.rounds)
const PHASES = new Set(opts.phases.split(',').map(s => s.trim()))
const WAVES = Math.max(2, Number(opts.waves))
requirePositiveIntegers({ waves: WAVES,  peers: PEERS, 'peer-procs': PEER_PROCS, 'idle-wants': IDLE_WANTS, flooders: FLOODERS, 'flood-wants': FLOOD_WANTS, file: FILE_BYTES, rounds: ROUNDS })

const TARGET_KIB_PER_PEER = 100
const mib = (bytes) => bytes / MiB

/**
 * Polls `check` every 100 ms until it returns true or `ms` pass; returns
 * whether it did
 */
async function until (check, ms) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) {
      return true
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return false
}

function spread (total, procs) {
  return Array.from({ length: procs }, (_, k) => Math.floor(total / procs) + (k < total % procs ? 1 : 0)).filter(n => n > 0)
}

async function startPath () {
  const downstream = start('helia-downstream', {
    readyTimeout: 120_000,
    config: { file: { bytes: FILE_BYTES, seed: 10 }, warmup: { bytes: 256 * KiB, seed: 11 } }
  })
  const ds = await downstream.ready
  const proxy = start('forwarder-proxy', { execArgv: ['--expose-gc'], config: { downstream: ds.multiaddr } })
  return { downstream, ds, proxy, target: await proxy.ready }
}

// ── 1: memory per connected upstream peer ────────────────────────────────────

/**
 * Every peer connects and sends its small wantlist; resolves once the proxy
 * tracks them all (or a minute passed)
 */
async function wave (procs, proxy, target) {
  const connectStart = performance.now()
  const connected = (await Promise.all(procs.map(p => p.call('connect', { addr: target.multiaddr, parallel: 8 }, 300_000)))).reduce((acc, c) => acc + c.connected, 0)
  const connectSeconds = (performance.now() - connectStart) / 1000
  await Promise.all(procs.map(p => p.call('want-missing', { count: IDLE_WANTS }, 120_000)))
  const wantsIn = await until(async () => (await proxy.call('stats')).trackedWants >= connected * IDLE_WANTS, 60_000)
  return { connected, connectSeconds, wantsIn }
}

/**
 * Every peer hangs up; resolves once the proxy holds only its downstream's
 * connection and its heap has settled (libp2p closes streams and clears
 * timers for a few seconds after a connection ends: the heap measured at
 * once still holds them)
 */
async function leave (procs, proxy) {
  await Promise.all(procs.map(p => p.call('disconnect', {}, 120_000)))
  await until(async () => (await proxy.call('connections')) <= 1, 60_000)
  let last = Infinity
  await until(async () => {
    const { heapUsed } = await proxy.call('memory', { gc: true })
    const settled = last - heapUsed < MiB
    last = heapUsed
    if (!settled) {
      await new Promise(resolve => setTimeout(resolve, 1_000))
    }
    return settled
  }, 30_000)
}

async function memoryPhase () {
  const { downstream, proxy, target } = await startPath()
  const procs = []
  try {
    for (const count of spread(PEERS, PEER_PROCS)) {
      procs.push(start('bitswap-peers', { config: { count }, readyTimeout: 180_000 }))
    }
    await Promise.all(procs.map(p => p.ready))

    const cold = await proxy.call('memory', { gc: true })
    // a first wave warms the proxy up (compiled code, V8's young generation,
    // buffer pools): fixed costs that are not per peer
    await wave(procs, proxy, target)
    await leave(procs, proxy)
    const idle = await proxy.call('memory', { gc: true })

    const { connected, connectSeconds, wantsIn } = await wave(procs, proxy, target)
    const stats = await proxy.call('stats')
    const withPeers = await proxy.call('memory', { gc: true })
    const proxyConnections = await proxy.call('connections')

    await leave(procs, proxy)
    const after = await proxy.call('memory', { gc: true })
    const trackedAfter = (await proxy.call('stats')).trackedWants
    const peerStoreAfter = await proxy.call('peer-store-size')

    // more waves: does anything grow from one to the next?
    const laterWaves = []
    for (let w = 3; w <= WAVES; w++) {
      await wave(procs, proxy, target)
      const connectedRss = (await proxy.call('memory', { gc: true })).rss
      await leave(procs, proxy)
      const m = await proxy.call('memory', { gc: true })
      laterWaves.push({ wave: w, connectedRss, rss: m.rss, heapUsed: m.heapUsed })
    }

    return { connected, connectSeconds, proxyConnections, wantsIn, trackedWants: stats.trackedWants, upstreamPeers: stats.upstreamPeers, cold, idle, withPeers, after, trackedAfter, peerStoreAfter, laterWaves }
  } finally {
    await stopAll([...procs, proxy, downstream])
  }
}

// ── 2: an honest client's fetch during a want flood ──────────────────────────

async function fetchOnce (target, ds) {
  const client = start('helia-client')
  try {
    await client.ready
    await client.call('connect', { addr: target.multiaddr })
    await client.call('fetch-file', { ...ds.warmup }, 60_000)
    const result = await client.call('fetch-file', { ...ds.file, timeoutMs: 60_000 }, 90_000)
    return result.ms
  } catch (err) {
    return { failed: String(err?.message ?? err) }
  } finally {
    await client.stop()
  }
}

async function floodPhase () {
  const { downstream, ds, proxy, target } = await startPath()
  const procs = []
  try {
    const quiet = []
    for (let r = 0; r < ROUNDS; r++) {
      quiet.push(await fetchOnce(target, ds))
    }

    for (const count of spread(FLOODERS, Math.min(2, FLOODERS))) {
      procs.push(start('bitswap-peers', { config: { count }, readyTimeout: 120_000 }))
    }
    await Promise.all(procs.map(p => p.ready))
    await Promise.all(procs.map(p => p.call('connect', { addr: target.multiaddr }, 120_000)))
    const floodStart = performance.now()
    const sent = (await Promise.all(procs.map(p => p.call('want-missing', { count: FLOOD_WANTS }, 120_000)))).reduce((acc, r) => acc + r.sent, 0)
    await until(async () => {
      const s = await proxy.call('stats')
      return s.trackedWants + s.waitingWants + s.refusedWants >= sent
    }, 60_000)
    const floodSeconds = (performance.now() - floodStart) / 1000
    const floodStats = await proxy.call('stats')

    const flooded = []
    for (let r = 0; r < ROUNDS; r++) {
      flooded.push(await fetchOnce(target, ds))
    }
    const after = await proxy.call('stats')
    return { quiet, flooded, sent, floodSeconds, floodStats, after }
  } finally {
    await stopAll([...procs, proxy, downstream])
  }
}

function timesText (times) {
  const ok = times.filter(t => typeof t === 'number')
  const failed = times.length - ok.length
  return { median: ok.length > 0 ? median(ok) : undefined, text: `${ok.map(t => fmt(t, 0)).join(', ')} ms${failed > 0 ? ` (${failed} of ${times.length} FAILED: ${times.find(t => typeof t !== 'number').failed})` : ''}` }
}

bench.run(async () => {
  bench.sayMachine('Kitsune abuse benchmark (issue 10)')
  const results = { machine: bench.machine }

  if (PHASES.has('memory')) {
    say(`\nMemory: ${PEERS} upstream peers (${PEER_PROCS} processes) connect to the proxy and each keep ${IDLE_WANTS} want-haves, leave, and do it again; proxy figures after a full GC (idle: after the first wave left)`)
    const m = results.memory = await memoryPhase()
    const perPeer = (m.withPeers.rss - m.idle.rss) / m.connected
    const heapPerPeer = (m.withPeers.heapUsed - m.idle.heapUsed) / m.connected
    m.rssPerPeerKiB = round(perPeer / KiB, 1)
    m.heapPerPeerKiB = round(heapPerPeer / KiB, 1)
    say(`  ${m.connected}/${PEERS} peers connected in ${fmt(m.connectSeconds, 1)} s (the proxy counted ${m.proxyConnections} connections, ${m.upstreamPeers} ledgers, ${m.trackedWants} tracked wants${m.wantsIn ? '' : ' — not every wantlist arrived'})`)
    say(table([
      ['proxy', 'idle (cold)', 'idle', `${m.connected} peers`, 'per peer', 'after they left'],
      ['RSS', `${fmt(mib(m.cold.rss), 1)} MiB`, `${fmt(mib(m.idle.rss), 1)} MiB`, `${fmt(mib(m.withPeers.rss), 1)} MiB`, `${fmt(perPeer / KiB, 1)} KiB`, `${fmt(mib(m.after.rss), 1)} MiB`],
      ['heap used', `${fmt(mib(m.cold.heapUsed), 1)} MiB`, `${fmt(mib(m.idle.heapUsed), 1)} MiB`, `${fmt(mib(m.withPeers.heapUsed), 1)} MiB`, `${fmt(heapPerPeer / KiB, 1)} KiB`, `${fmt(mib(m.after.heapUsed), 1)} MiB`],
      ['external', `${fmt(mib(m.cold.external), 1)} MiB`, `${fmt(mib(m.idle.external), 1)} MiB`, `${fmt(mib(m.withPeers.external), 1)} MiB`, `${fmt((m.withPeers.external - m.idle.external) / m.connected / KiB, 1)} KiB`, `${fmt(mib(m.after.external), 1)} MiB`]
    ]).split('\n').map(l => `  ${l}`).join('\n'))
    say(`  RSS per connected peer / target (${TARGET_KIB_PER_PEER} KiB) = ${fmt(perPeer / KiB / TARGET_KIB_PER_PEER, 2)}${perPeer / KiB > TARGET_KIB_PER_PEER ? '  ** over the target **' : ''}; after they left: RSS ${fmt(m.after.rss / m.idle.rss, 2)} × idle, heap ${fmt(m.after.heapUsed / m.idle.heapUsed, 2)} × idle, ${m.trackedAfter} wants still tracked, ${m.peerStoreAfter} peers in libp2p's peer store (kept until maxPeerAge)`)
    if (m.laterWaves.length > 0) {
      say(`  waves ${[2, ...m.laterWaves.map(w => w.wave)].join(', ')}: proxy RSS with the peers ${[m.withPeers.rss, ...m.laterWaves.map(w => w.connectedRss)].map(r => fmt(mib(r), 1)).join(', ')} MiB; after they left ${[m.after.rss, ...m.laterWaves.map(w => w.rss)].map(r => fmt(mib(r), 1)).join(', ')} MiB (heap ${[m.after.heapUsed, ...m.laterWaves.map(w => w.heapUsed)].map(r => fmt(mib(r), 1)).join(', ')} MiB)`)
    }
  }

  if (PHASES.has('flood')) {
    say(`\nFlood: ${FLOODERS} peers × ${FLOOD_WANTS} random want-haves, then a fresh stock Helia client fetches a ${fmt(FILE_BYTES / MiB, 1)} MiB file through the proxy (${ROUNDS} rounds each, before and during the flood)`)
    const f = results.flood = await floodPhase()
    const quiet = timesText(f.quiet)
    const flooded = timesText(f.flooded)
    say(`  flood: ${f.sent} wants sent in ${fmt(f.floodSeconds, 1)} s; proxy: ${f.floodStats.trackedWants} tracked, ${f.floodStats.waitingWants} waiting, ${f.floodStats.evictedWants} evicted, ${f.floodStats.refusedWants} refused`)
    say(`  honest 1 MiB fetch without flood: ${quiet.text}`)
    say(`  honest 1 MiB fetch during flood:  ${flooded.text}`)
    if (quiet.median != null && flooded.median != null) {
      say(`  during flood / without = ${fmt(flooded.median / quiet.median, 2)} (medians ${fmt(flooded.median, 0)} / ${fmt(quiet.median, 0)} ms); the client's wants evicted ${f.after.evictedWants - f.floodStats.evictedWants} flood want-haves`)
    }
  }

  bench.endLoad()
  if (opts.json) {
    console.log(JSON.stringify(results, null, 2))
  }
})
