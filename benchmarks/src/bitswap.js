#!/usr/bin/env node
/**
 * Bitswap benchmark: stock Helia clients fetching from a stock Helia node
 * directly, and through the Kitsune proxy with the Bitswap forwarder, in the
 * same run. Every node is its own process (src/rpc.js roles):
 *
 *   helia-client ─────────────────────────────► helia-downstream   (direct)
 *   helia-client ──────► forwarder-proxy ──────► helia-downstream   (via proxy)
 *
 * 1. File: a 64 MiB UnixFS file (@helia/unixfs defaults) with `cat`; MB/s of
 *    each path and the ratio (target: via proxy >= 0.9 × direct). Next to
 *    it, the proxy's CPU seconds per GiB for that Bitswap fetch and for a
 *    plain bridged stream of as many bytes (the same client pushes them over
 *    the same connection through a stream route of the same proxy to the
 *    same downstream's sink), and their ratio (target: Bitswap <= 1.25 ×
 *    the bridge).
 * 2. Blocks: 4,096 separate 1 KiB raw blocks with `helia.blockstore.get`,
 *    `--concurrency` in flight; blocks/s of each path and the ratio (target:
 *    via proxy >= 0.9 × direct).
 *    A fresh client process per fetch (nothing local), warmed up by an
 *    untimed fetch of other content over the same path; rounds alternate
 *    which path goes first; medians over rounds.
 * 3. Memory: 200 raw Bitswap upstream peers (several per process) each want
 *    100 distinct 1 KiB blocks at once. RSS and heapUsed of the proxy before,
 *    peak during, after, next to its downstream's; and, as the direct figure,
 *    a Helia node serving the same 200 peers itself. Fresh processes for
 *    each (a stopped node is not freed inside its process).
 *
 * Usage: node src/bitswap.js [--json] [--file MiB=64] [--rounds N=5]
 *        [--blocks N=4096] [--block-bytes B=1024] [--concurrency N=256]
 *        [--peers N=200] [--wants N=100] [--peer-procs N=4] [--waves N=2]
 *        [--window MiB] (the proxy's yamux maxStreamWindowSize)
 *        [--phases file,blocks,memory] [--timeout s=420]
 *        [--profile]  (V8 CPU profile of the proxy during its last fetch of
 *                      each kind and its last bridged push, into
 *                      benchmarks/profiles/)
 */

import os from 'node:os'
import { cpuText, cpuTotal, medianCpuSeconds, requirePositiveIntegers, rounded, setupBenchmark, stopAll } from './harness.js'
import { cpuSeconds } from './rpc.js'
import { GiB, MB, MiB, fmt, median, percentile, round, table } from './stats.js'

const bench = setupBenchmark({
  usage: 'node src/bitswap.js [--json] [--file MiB=64] [--rounds N=5] [--blocks N=4096] [--block-bytes B=1024] [--concurrency N=256] [--peers N=200] [--wants N=100] [--peer-procs N=4] [--waves N=2] [--window MiB] [--phases file,blocks,memory] [--timeout s=420] [--profile]',
  timeout: 420,
  options: {
    file: '64',
    rounds: '5',
    blocks: '4096',
    'block-bytes': '1024',
    concurrency: '256',
    peers: '200',
    wants: '100',
    'peer-procs': '4',
    waves: '2',
    phases: 'file,blocks,memory',
    window: null,
    profile: false
  }
})
const { opts, say, machine, start } = bench

const FILE_BYTES = Math.round(Number(opts.file) * MiB)
const WARMUP_FILE_BYTES = Math.min(FILE_BYTES, 8 * MiB)
const ROUNDS = Number(opts.rounds)
const BLOCKS = Number(opts.blocks)
const BLOCK_BYTES = Number(opts['block-bytes'])
const WARMUP_BLOCKS = Math.min(BLOCKS, 256)
const CONCURRENCY = Number(opts.concurrency)
const PEERS = Number(opts.peers)
const WANTS = Number(opts.wants)
const PEER_PROCS = Math.min(Number(opts['peer-procs']), PEERS)
const WAVES = Number(opts.waves)
const WINDOW = opts.window == null ? undefined : Math.round(Number(opts.window) * MiB)
const PHASES = new Set(opts.phases.split(',').map(s => s.trim()))

requirePositiveIntegers({ file: FILE_BYTES, rounds: ROUNDS, blocks: BLOCKS, 'block-bytes': BLOCK_BYTES, concurrency: CONCURRENCY, peers: PEERS, wants: WANTS, 'peer-procs': PEER_PROCS, waves: WAVES })
for (const phase of PHASES) {
  if (!['file', 'blocks', 'memory'].includes(phase)) {
    console.error(`unknown phase ${phase} (file, blocks, memory)`)
    process.exit(2)
  }
}

const mib = (bytes) => bytes / MiB
const PATHS = ['direct', 'proxy']

// issue 9's targets: Bitswap through the proxy at least 0.9 × direct (the
// file and the small blocks); the proxy's CPU per GiB for Bitswap at most
// 1.25 × its CPU per GiB for a plain bridged stream (message handling and
// verification add at most 25 %)
const TARGET_RATIO = 0.9
const TARGET_CPU_OVER_BRIDGE = 1.25

/**
 * Deltas of the forwarder's counters that tell where blocks came from
 */
function statsDelta (before, after) {
  const keys = ['wantsReceived', 'wantsForwarded', 'coalescedWants', 'blocksReceived', 'blocksSent', 'cacheHits', 'dontHavesSent', 'badBlocks', 'duplicateBlocks', 'failovers', 'timeouts', 'refusedWants', 'cutOffs', 'malformedMessages', 'refusedStreams']
  return Object.fromEntries(keys.map(k => [k, (after[k] ?? 0) - (before[k] ?? 0)]))
}

// ── 1 + 2: a file and small blocks, direct and via the proxy ─────────────────

async function fetchPhases () {
  const wantFile = PHASES.has('file')
  const wantBlocks = PHASES.has('blocks')
  const downstream = start('helia-downstream', {
    readyTimeout: 120_000,
    config: {
      file: wantFile ? { bytes: FILE_BYTES, seed: 64 } : undefined,
      warmup: wantFile ? { bytes: WARMUP_FILE_BYTES, seed: 65 } : undefined,
      blocks: wantBlocks ? { count: WARMUP_BLOCKS + BLOCKS, size: BLOCK_BYTES, seed: 100_000 } : undefined,
      // the end of the plain bridged stream (file phase)
      sink: wantFile
    }
  })
  const ds = await downstream.ready
  // with the file phase, the proxy also routes the sink protocol to the
  // downstream: the plain bridge its Bitswap CPU per GiB is compared with
  const proxy = start('forwarder-proxy', { config: { downstream: ds.multiaddr, maxStreamWindowSize: WINDOW, routeSink: wantFile } })
  const px = await proxy.ready
  const targets = { direct: ds, proxy: px }

  /**
   * The plain bridged stream, measured in the proxy: the client pushes
   * `bytes` through the proxy's sink route to the downstream's sink, on the
   * connection it fetched over, with CPU marks in all three processes
   * around it. The forwarder must see no Bitswap traffic meanwhile.
   */
  const bridgeOnce = async (client, bytes, profile) => {
    const statsBefore = await proxy.call('stats')
    if (profile) {
      await proxy.call('profile-start')
    }
    const [c0, p0, d0] = await Promise.all([client.call('mark'), proxy.call('mark'), downstream.call('mark')])
    const result = await client.call('push', { bytes }, 180_000)
    const [c1, p1, d1] = await Promise.all([client.call('mark'), proxy.call('mark'), downstream.call('mark')])
    if (profile) {
      await proxy.call('profile-stop', { file: bench.profileFile('bitswap-proxy-bridge') })
    }
    const stats = statsDelta(statsBefore, await proxy.call('stats'))
    if (stats.blocksReceived + stats.blocksSent + stats.wantsReceived > 0) {
      throw new Error(`the forwarder saw ${stats.wantsReceived} wants and ${stats.blocksReceived} blocks during the bridged push`)
    }
    const seconds = result.ms / 1000
    const cpu = { client: cpuSeconds(c0, c1), proxy: cpuSeconds(p0, p1), downstream: cpuSeconds(d0, d1) }
    return { bytes, seconds, rate: bytes / MB / seconds, cpu, proxyCpuPerGiB: cpu.proxy / (bytes / GiB) }
  }

  /**
   * One measured fetch by a fresh client process: connect, untimed warm-up
   * fetch of other content over the same path, marks, the timed fetch, marks.
   * With `bridge` (the file on the proxy path), also an untimed warm-up push
   * and a measured push of as many bytes as the file through the proxy's
   * sink route, before or after the fetch (`bridge.first`).
   */
  const fetchOnce = async (kind, path, profile = false, bridge = undefined) => {
    const client = start('helia-client')
    try {
      await client.ready
      const { remotePeer } = await client.call('connect', { addr: targets[path].multiaddr })
      if (remotePeer !== targets[path].peerId) {
        throw new Error(`${path}: reached the wrong peer`)
      }
      const [cmd, warmArgs, args] = kind === 'file'
        ? ['fetch-file', { ...ds.warmup }, { ...ds.file }]
        : ['fetch-blocks', { cids: ds.blocks.cids.slice(0, WARMUP_BLOCKS), concurrency: CONCURRENCY, size: BLOCK_BYTES }, { cids: ds.blocks.cids.slice(WARMUP_BLOCKS), concurrency: CONCURRENCY, size: BLOCK_BYTES }]
      await client.call(cmd, warmArgs, 180_000)
      let bridged
      if (bridge != null) {
        await client.call('push', { bytes: WARMUP_FILE_BYTES }, 180_000)
        if (bridge.first) {
          bridged = await bridgeOnce(client, FILE_BYTES, profile)
        }
      }
      const statsBefore = await proxy.call('stats')
      if (profile) {
        await proxy.call('profile-start')
      }
      const [c0, p0, d0] = await Promise.all([client.call('mark'), proxy.call('mark'), downstream.call('mark')])
      const result = await client.call(cmd, args, 180_000)
      const [c1, p1, d1] = await Promise.all([client.call('mark'), proxy.call('mark'), downstream.call('mark')])
      if (profile) {
        await proxy.call('profile-stop', { file: bench.profileFile(`bitswap-proxy-${kind}`) })
      }
      const stats = statsDelta(statsBefore, await proxy.call('stats'))
      if (result.connectedTo.length !== 1 || result.connectedTo[0] !== targets[path].peerId) {
        throw new Error(`${path}: the client was connected to ${result.connectedTo.join(', ')}, not only to its target`)
      }
      if (bridge != null && !bridge.first) {
        bridged = await bridgeOnce(client, FILE_BYTES, profile)
      }
      const seconds = result.ms / 1000
      const out = {
        path,
        seconds,
        rate: kind === 'file' ? result.bytes / MB / seconds : result.blocks / seconds,
        cpu: { client: cpuSeconds(c0, c1), proxy: cpuSeconds(p0, p1), downstream: cpuSeconds(d0, d1) },
        proxyStats: stats
      }
      if (bridged != null) {
        out.bridge = { first: bridge.first, ...bridged }
      }
      return out
    } catch (err) {
      throw new Error(`${kind} fetch, ${path} path: ${err.message}`, { cause: err })
    } finally {
      await client.stop()
    }
  }

  const runRounds = async (kind, label, unit, digits) => {
    say(label)
    const rounds = []
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? PATHS : [...PATHS].reverse()
      const result = {}
      for (const path of order) {
        // the file on the proxy path also measures the plain bridge, before
        // the fetch in odd rounds and after it in even ones
        const bridge = kind === 'file' && path === 'proxy' ? { first: r % 2 === 1 } : undefined
        result[path] = await fetchOnce(kind, path, opts.profile && path === 'proxy' && r === ROUNDS - 1, bridge)
      }
      const d = result.direct
      const p = result.proxy
      const st = p.proxyStats
      // the proxy holds no block (bitswapForwarder's default: no cache), so
      // every block of every fetch has to come from the downstream: all the
      // small blocks, or at least the file's leaves
      const needed = kind === 'file' ? Math.ceil(FILE_BYTES / MiB) : BLOCKS
      if (st.cacheHits !== 0 || st.blocksReceived < needed || st.blocksSent < needed) {
        throw new Error(`round ${r + 1}: the proxy served ${st.cacheHits} blocks from a cache, fetched ${st.blocksReceived} from its downstream and sent ${st.blocksSent}, expected at least ${needed}`)
      }
      // both paths are CPU-bound on a small machine: if all three processes
      // shared the cores perfectly, the proxy path could reach at best the
      // direct path's total CPU over its own
      const ceiling = cpuTotal(d) / cpuTotal(p)
      const entry = { order: order.join(','), direct: d, proxy: p, ratio: p.rate / d.rate, cpuCeiling: ceiling, coresBusy: { direct: cpuTotal(d) / d.seconds, proxy: cpuTotal(p) / p.seconds } }
      if (p.bridge != null) {
        // per GiB of file content (the blocks' payload: no root node, no
        // Bitswap or UnixFS framing) against per GiB pushed, the same count
        const bitswapPerGiB = p.cpu.proxy / (FILE_BYTES / GiB)
        entry.proxyCpuPerGiB = { bitswap: bitswapPerGiB, bridge: p.bridge.proxyCpuPerGiB, ratio: bitswapPerGiB / p.bridge.proxyCpuPerGiB, order: p.bridge.first ? 'bridge,bitswap' : 'bitswap,bridge' }
      }
      rounds.push(entry)
      say(`  round ${r + 1} (${order.join(' then ')}): direct ${fmt(d.rate, digits, 7)} ${unit}, proxy ${fmt(p.rate, digits, 7)} ${unit}, ratio ${fmt(p.rate / d.rate, 2)}; ` +
        `${cpuText(d, p)}; ` +
        `proxy: ${st.blocksReceived} blocks in, ${st.blocksSent} out, ${st.wantsReceived} wants in, ${st.wantsForwarded} out` +
        (st.duplicateBlocks + st.failovers + st.timeouts + st.dontHavesSent + st.cutOffs > 0 ? `, ${st.duplicateBlocks} duplicates, ${st.failovers} fail-overs, ${st.timeouts} timeouts, ${st.dontHavesSent} DONT_HAVEs, ${st.cutOffs} cut-offs` : ''))
      if (entry.proxyCpuPerGiB != null) {
        const b = p.bridge
        const c = entry.proxyCpuPerGiB
        say(`    plain bridged stream (${p.bridge.first ? 'before' : 'after'} the fetch, same client and connection): ${fmt(FILE_BYTES / MiB, 0)} MiB at ${fmt(b.rate, 1)} MB/s, cpu s: client ${fmt(b.cpu.client, 2)}, downstream ${fmt(b.cpu.downstream, 2)}, proxy ${fmt(b.cpu.proxy, 2)}; ` +
          `proxy cpu s/GiB: Bitswap ${fmt(c.bitswap, 2)}, bridge ${fmt(c.bridge, 2)}, ratio ${fmt(c.ratio, 2)}`)
      }
    }
    const direct = median(rounds.map(r => r.direct.rate))
    const viaProxy = median(rounds.map(r => r.proxy.rate))
    const ratios = rounds.map(r => r.ratio)
    const ceiling = median(rounds.map(r => r.cpuCeiling))
    say(`  median: direct ${fmt(direct, digits)} ${unit}, via proxy ${fmt(viaProxy, digits)} ${unit} → via proxy / direct = ${fmt(viaProxy / direct, 2)} (target >= ${TARGET_RATIO})` +
      ` (per-round ratios ${ratios.map(x => fmt(x, 2)).join(' ')})`)
    let cpuPerGiB
    if (kind === 'file') {
      const perGiB = rounds.map(r => r.proxyCpuPerGiB)
      const bitswap = median(perGiB.map(c => c.bitswap))
      const bridge = median(perGiB.map(c => c.bridge))
      const roundRatios = perGiB.map(c => c.ratio)
      cpuPerGiB = {
        bitswap: round(bitswap, 3),
        bridge: round(bridge, 3),
        ratio: round(bitswap / bridge, 3),
        medianOfRoundRatios: round(median(roundRatios), 3),
        roundRatios: roundRatios.map(x => round(x, 3)),
        target: TARGET_CPU_OVER_BRIDGE,
        bridgeMBps: round(median(rounds.map(r => r.proxy.bridge.rate)), 1)
      }
      say(`  proxy CPU s/GiB: Bitswap ${fmt(bitswap, 2)}, plain bridged stream ${fmt(bridge, 2)}, Bitswap / bridge = ${fmt(bitswap / bridge, 2)} (target <= ${TARGET_CPU_OVER_BRIDGE})` +
        ` (per-round ratios ${roundRatios.map(x => fmt(x, 2)).join(' ')}, median ${fmt(median(roundRatios), 2)})`)
    }
    say(`  CPU bound: all processes' CPU s per fetch, direct / via proxy = ${fmt(ceiling, 2)} (the ratio if both paths kept all ${os.availableParallelism()} cores busy)`)
    say('')
    const out = {
      direct: round(direct, digits),
      proxy: round(viaProxy, digits),
      ratio: round(viaProxy / direct, 3),
      target: TARGET_RATIO,
      cpuCeiling: round(ceiling, 3),
      roundRatios: ratios.map(x => round(x, 3)),
      medianCpuSeconds: medianCpuSeconds(rounds),
      rounds: rounds.map(rounded)
    }
    if (cpuPerGiB != null) {
      // the proxy's CPU s/GiB: the Bitswap fetch against the plain bridge
      out.proxyCpuPerGiB = cpuPerGiB
    }
    return out
  }

  const out = {}
  try {
    if (wantFile) {
      out.file = await runRounds('file', `${fmt(FILE_BYTES / MiB, 0)} MiB UnixFS file (@helia/unixfs defaults: 1 MiB raw leaves), unixfs.cat by a fresh stock Helia client; MB = 10^6 bytes`, 'MB/s', 1)
      out.file.bytes = FILE_BYTES
      // every pushed stream ended: the bridges are gone
      out.file.proxyCpuPerGiB.openBridgesAfter = await proxy.call('open-bridges')
    }
    if (wantBlocks) {
      out.blocks = await runRounds('blocks', `${BLOCKS} separate ${BLOCK_BYTES}-byte raw blocks, helia.blockstore.get with ${CONCURRENCY} in flight, fresh stock Helia client`, 'blocks/s', 0)
      Object.assign(out.blocks, { count: BLOCKS, blockBytes: BLOCK_BYTES, concurrency: CONCURRENCY })
    }
  } finally {
    await stopAll([proxy, downstream])
  }
  return out
}

// ── 3: memory while many upstream peers want blocks ──────────────────────────

async function memoryPhase (path) {
  const total = PEERS * WANTS
  const downstream = start('helia-downstream', {
    readyTimeout: 120_000,
    execArgv: ['--expose-gc'],
    config: { blocks: { count: total, size: BLOCK_BYTES, seed: 1_000_000 } }
  })
  let proxy
  const peerProcs = []
  try {
    const ds = await downstream.ready
    let target = ds
    if (path === 'proxy') {
      proxy = start('forwarder-proxy', { execArgv: ['--expose-gc'], config: { downstream: ds.multiaddr, maxStreamWindowSize: WINDOW } })
      target = await proxy.ready
    }
    // peer i of process k gets its own 100 CIDs
    const perProc = Array.from({ length: PEER_PROCS }, (_, k) => Math.floor(PEERS / PEER_PROCS) + (k < PEERS % PEER_PROCS ? 1 : 0))
    let first = 0
    const slices = perProc.map(count => {
      const lists = []
      for (let i = 0; i < count; i++, first++) {
        lists.push(ds.blocks.cids.slice(first * WANTS, (first + 1) * WANTS))
      }
      return lists
    })
    for (const count of perProc) {
      peerProcs.push(start('bitswap-peers', { config: { count }, readyTimeout: 60_000 }))
    }
    await Promise.all(peerProcs.map(p => p.ready))

    const measured = { downstream }
    if (proxy != null) {
      measured.proxy = proxy
    }
    const memAll = async (gc) => Object.fromEntries(await Promise.all(Object.entries(measured).map(async ([name, role]) => [name, await role.call('memory', { gc })])))

    const before = await memAll(true)
    const waves = []
    for (let w = 0; w < WAVES; w++) {
      const connectStart = performance.now()
      const connected = await Promise.all(peerProcs.map(p => p.call('connect', { addr: target.multiaddr }, 120_000)))
      const connectMs = performance.now() - connectStart
      // let identify and the peers' first exchanges settle
      await new Promise(resolve => setTimeout(resolve, 500))
      const idle = await memAll(true)

      const statsBefore = proxy != null ? await proxy.call('stats') : undefined
      await Promise.all(Object.values(measured).map(r => r.call('memory-watch-start', { intervalMs: 20 })))
      const wantStart = performance.now()
      const results = await Promise.all(peerProcs.map((p, k) => p.call('want', { cids: slices[k], timeoutMs: 90_000 }, 120_000)))
      const wantMs = performance.now() - wantStart
      const peak = Object.fromEntries(await Promise.all(Object.entries(measured).map(async ([name, role]) => [name, await role.call('memory-watch-stop')])))
      const stats = proxy != null ? statsDelta(statsBefore, await proxy.call('stats')) : undefined

      await Promise.all(peerProcs.map(p => p.call('disconnect')))
      await new Promise(resolve => setTimeout(resolve, 1_000))
      const after = await memAll(true)
      const connectionsAfter = await (proxy ?? downstream).call('connections')

      const sum = (key) => results.reduce((acc, r) => acc + r[key], 0)
      const completion = results.flatMap(r => r.completionMs)
      waves.push({
        outcome: {
          peers: PEERS,
          connected: connected.reduce((acc, c) => acc + c.connected, 0),
          wanted: sum('wanted'),
          received: sum('received'),
          completePeers: sum('complete'),
          duplicates: sum('duplicates'),
          unwanted: sum('unwanted'),
          dontHaves: sum('dontHaves'),
          wantsSeenByPeers: sum('wantsSeen'),
          inboundStreams: sum('inboundStreams'),
          errors: results.flatMap(r => r.errors).slice(0, 3),
          connectSeconds: round(connectMs / 1000, 2),
          wantSeconds: round(wantMs / 1000, 2),
          blocksPerSecond: round(sum('received') / (wantMs / 1000), 0),
          peerCompletionMs: { p50: round(percentile(completion, 50), 0), p99: round(percentile(completion, 99), 0), max: round(percentile(completion, 100), 0) },
          connectionsAfter
        },
        idle,
        peak,
        after,
        proxyStats: stats
      })
    }

    const memory = {}
    const firstWave = waves[0]
    const lastWave = waves[waves.length - 1]
    for (const name of Object.keys(measured)) {
      const peakOf = (key) => Math.max(...waves.map(w => w.peak[name][key]))
      memory[name] = {
        rss: { before: before[name].rss, connected: firstWave.idle[name].rss, peak: peakOf('rss'), after: firstWave.after[name].rss, afterLastWave: lastWave.after[name].rss, kernelMaxRss: lastWave.peak[name].maxRss },
        heapUsed: { before: before[name].heapUsed, connected: firstWave.idle[name].heapUsed, peak: peakOf('heapUsed'), after: firstWave.after[name].heapUsed, afterLastWave: lastWave.after[name].heapUsed },
        heapTotal: { before: before[name].heapTotal, connected: firstWave.idle[name].heapTotal, after: firstWave.after[name].heapTotal, afterLastWave: lastWave.after[name].heapTotal },
        external: { before: before[name].external, peak: peakOf('external'), after: firstWave.after[name].external, afterLastWave: lastWave.after[name].external },
        arrayBuffers: { before: before[name].arrayBuffers, peak: peakOf('arrayBuffers'), after: firstWave.after[name].arrayBuffers, afterLastWave: lastWave.after[name].arrayBuffers },
        gcExposed: before[name].gcExposed
      }
    }
    return { path, waves: waves.map(w => ({ outcome: w.outcome, proxyStats: w.proxyStats })), memory }
  } finally {
    await stopAll([...peerProcs, proxy, downstream])
  }
}

function memoryRows (label, m) {
  const cols = (x) => [fmt(mib(x.before), 1), fmt(mib(x.connected), 1), fmt(mib(x.peak), 1), fmt(mib(x.after), 1), ...(WAVES > 1 ? [fmt(mib(x.afterLastWave), 1)] : [])]
  return [
    [`${label} RSS`, ...cols(m.rss)],
    [`${label} heapUsed`, ...cols(m.heapUsed)]
  ]
}

async function memoryPhases () {
  say(`Memory: ${PEERS} raw Bitswap 1.2.0 upstream peers (${PEER_PROCS} processes) each want ${WANTS} distinct ${BLOCK_BYTES}-byte raw blocks at once (${PEERS * WANTS} blocks); fresh processes per path`)
  const out = {}
  for (const path of PATHS) {
    const r = out[path] = await memoryPhase(path)
    r.waves.forEach(({ outcome: o, proxyStats: st }, w) => {
      const stalled = o.received < o.wanted
      say(`  ${path === 'direct' ? 'direct (peers → Helia downstream)' : 'via proxy (peers → proxy → Helia downstream)'}${WAVES > 1 ? `, wave ${w + 1}` : ''}: ${o.connected}/${o.peers} connected in ${fmt(o.connectSeconds, 1)} s; ` +
        `${o.received}/${o.wanted} blocks in ${fmt(o.wantSeconds, 1)} s (${fmt(o.blocksPerSecond, 0)} blocks/s), ${o.completePeers} peers complete, per-peer completion p50 ${o.peerCompletionMs.p50} ms, max ${o.peerCompletionMs.max} ms` +
        (o.duplicates + o.unwanted + o.dontHaves + o.wantsSeenByPeers > 0 ? `; ${o.duplicates} duplicate, ${o.unwanted} unwanted blocks, ${o.dontHaves} DONT_HAVEs, ${o.wantsSeenByPeers} wants passed to peers` : '') +
        (o.errors.length > 0 ? `; errors: ${o.errors.join(' | ')}` : '') +
        (stalled ? '  ** STALLED: not every block arrived **' : ''))
      if (st != null) {
        say(`    proxy: ${st.wantsReceived} wants in, ${st.wantsForwarded} forwarded, ${st.blocksReceived} blocks in, ${st.blocksSent} out, ${st.refusedWants} refused, ${st.cutOffs} cut-offs, ${st.timeouts} timeouts; ${o.connectionsAfter} connection(s) left after the peers hung up`)
      }
    })
  }
  const rows = [['MiB', 'before', `${PEERS} connected`, 'peak during', 'after', ...(WAVES > 1 ? [`after wave ${WAVES}`] : [])]]
  rows.push(...memoryRows('direct: downstream', out.direct.memory.downstream))
  rows.push(...memoryRows('via proxy: proxy', out.proxy.memory.proxy))
  rows.push(...memoryRows('via proxy: its downstream', out.proxy.memory.downstream))
  say(table(rows).split('\n').map(l => `  ${l}`).join('\n'))
  say(`  (before, connected, after: after a full GC; peak: sampled every 20 ms, no forced GC${WAVES > 1 ? `, highest of ${WAVES} waves (peers connect, want, hang up)` : ''})`)
  say('')
  return out
}

async function main () {
  bench.sayMachine('Kitsune Bitswap benchmark')
  say('proxy: @kitsune/proxy + bitswapForwarder() as `kitsune proxy` builds it (front-door noise crypto, muxer and connection manager; no block cache); every node its own process, 127.0.0.1')
  if (PHASES.has('file')) {
    say('plain bridged stream for comparison: the same proxy also routes a sink protocol (route defaults) to the same downstream; the file\'s client pushes as many bytes as the file through it on the same connection')
  }
  say('')

  const results = { benchmark: 'bitswap', machine, settings: { fileBytes: FILE_BYTES, rounds: ROUNDS, blocks: BLOCKS, blockBytes: BLOCK_BYTES, concurrency: CONCURRENCY, peers: PEERS, wantsPerPeer: WANTS, peerProcesses: PEER_PROCS, waves: WAVES, proxyStreamWindow: WINDOW ?? 'frontDoorMuxerOptions()', phases: [...PHASES] } }
  if (PHASES.has('file') || PHASES.has('blocks')) {
    Object.assign(results, await fetchPhases())
  }
  if (PHASES.has('memory')) {
    results.memory = await memoryPhases()
  }
  bench.endLoad()
  bench.sayProfiles(results, 'CPU profiles of the proxy during its last fetch of each kind (and its last plain bridged push)')

  if (opts.json) {
    console.log(JSON.stringify(results, null, 2))
    return
  }

  say('Summary')
  const rows = [['figure', 'direct', 'via proxy', 'via proxy / direct']]
  if (results.file != null) {
    rows.push([`${fmt(FILE_BYTES / MiB, 0)} MiB UnixFS file, MB/s`, fmt(results.file.direct, 1), fmt(results.file.proxy, 1), `${fmt(results.file.ratio, 2)} (target >= ${TARGET_RATIO})`])
    // not direct / via proxy: the proxy's own CPU, plain bridge (left)
    // against Bitswap (right), both measured in this run
    const c = results.file.proxyCpuPerGiB
    rows.push(['  proxy CPU s/GiB: plain bridge | Bitswap', fmt(c.bridge, 2), fmt(c.bitswap, 2), `Bitswap / bridge ${fmt(c.ratio, 2)} (target <= ${TARGET_CPU_OVER_BRIDGE})`])
  }
  if (results.blocks != null) {
    rows.push([`${BLOCKS} × ${BLOCK_BYTES} B raw blocks, blocks/s`, fmt(results.blocks.direct, 0), fmt(results.blocks.proxy, 0), `${fmt(results.blocks.ratio, 2)} (target >= ${TARGET_RATIO})`])
  }
  // CPU seconds per fetch (medians): the direct path's two endpoints next to
  // the proxy's own; on 2 cores the three processes of the proxy path compete
  for (const [name, r] of [['file', results.file], ['blocks', results.blocks]]) {
    if (r != null) {
      const c = r.medianCpuSeconds
      rows.push([`  CPU s per ${name} fetch (direct: both ends)`, fmt(c.directClient + c.directDownstream, 2), fmt(c.proxy, 2), `proxy alone × ${fmt(c.proxy / (c.directClient + c.directDownstream), 2)}`])
    }
  }
  if (results.memory != null) {
    const d = results.memory.direct.memory.downstream
    const p = results.memory.proxy.memory.proxy
    const pd = results.memory.proxy.memory.downstream
    rows.push([`${PEERS} peers × ${WANTS} wants: peak RSS, MiB`, fmt(mib(d.rss.peak), 1), fmt(mib(p.rss.peak), 1), `${fmt(p.rss.peak / d.rss.peak, 2)} (its downstream ${fmt(mib(pd.rss.peak), 1)})`])
    rows.push(['  RSS before → after, MiB', `${fmt(mib(d.rss.before), 0)} → ${fmt(mib(d.rss.after), 0)}`, `${fmt(mib(p.rss.before), 0)} → ${fmt(mib(p.rss.after), 0)}`, ''])
    rows.push(['  peak heapUsed, MiB', fmt(mib(d.heapUsed.peak), 1), fmt(mib(p.heapUsed.peak), 1), `${fmt(p.heapUsed.peak / d.heapUsed.peak, 2)} (its downstream ${fmt(mib(pd.heapUsed.peak), 1)})`])
  }
  say(table(rows))
  say(`load average at end ${machine.loadAvgAtEnd.join(' ')}`)
}

bench.run(main)
