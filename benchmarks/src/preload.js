#!/usr/bin/env node
/**
 * Preload benchmark: a stock Helia client adds a file and asks a preload
 * node to fetch it (`POST /api/v0/refs?arg=<root>&recursive=true`, what
 * js-ipfs-era apps do after adding), directly and through the Kitsune proxy,
 * in the same run. Every node is its own process (src/rpc.js roles):
 *
 *   helia-client ◄──── Bitswap ──── helia-downstream (withPreload)      direct
 *        └─ POST /api/v0/refs ─────────►┘
 *
 *   helia-client ◄── Bitswap ── forwarder-proxy ◄── Bitswap ── helia-downstream (withPreload)
 *        └─ POST /api/v0/refs ───►┘ (proxyPreload) └─ POST /api/v0/refs ─►┘      via proxy
 *
 * Direct: the client is connected to the downstream only and asks the
 * downstream's own API; the downstream fetches the DAG from the client.
 * Via proxy: the client is connected to the proxy only and asks the proxy's
 * preload endpoint, which confirms the client holds the root (want-have),
 * opens a preload window in the forwarder and asks its downstream (given by
 * `downstreamApis`) to fetch the DAG through the window; the response ends
 * when the downstream holds every block.
 *
 * Each path has its own downstream (same configuration, both alive for the
 * whole run), so neither path's downstream is ever connected to the other
 * path's peers. A fresh client process per preload, with new content: a
 * different seed per round and path, so no downstream holds any of it
 * before. Each client first preloads a smaller file over the same path,
 * untimed (JIT, connections, the HTTP client). Rounds alternate which path
 * goes first; medians over rounds. Afterwards every block is checked in the
 * downstream's blockstore.
 *
 * Usage: node src/preload.js [--json] [--file MiB=16] [--rounds N=5]
 *        [--chunk KiB] (fixed-size leaves; default: @helia/unixfs's, 1 MiB)
 *        [--warmup MiB=8] [--timeout s=180]
 *        [--profile]  (V8 CPU profiles of every process on each path during
 *                      the last round, into benchmarks/profiles/)
 */

import { cpuText, cpuTotal, medianCpuSeconds, requirePositiveIntegers, rounded, setupBenchmark, stopAll } from './harness.js'
import { cpuSeconds } from './rpc.js'
import { MB, MiB, fmt, median, round, table } from './stats.js'

const bench = setupBenchmark({
  usage: 'node src/preload.js [--json] [--file MiB=16] [--rounds N=5] [--chunk KiB] [--warmup MiB=8] [--timeout s=180] [--profile]',
  timeout: 180,
  options: { file: '16', rounds: '5', chunk: null, warmup: '8', profile: false }
})
const { opts, say, machine, start } = bench

const FILE_BYTES = Math.round(Number(opts.file) * MiB)
const WARMUP_BYTES = Math.round(Number(opts.warmup) * MiB)
const ROUNDS = Number(opts.rounds)
const CHUNK_BYTES = opts.chunk == null ? undefined : Math.round(Number(opts.chunk) * 1024)
requirePositiveIntegers({ file: FILE_BYTES, warmup: WARMUP_BYTES, rounds: ROUNDS, ...(CHUNK_BYTES == null ? {} : { chunk: CHUNK_BYTES }) })

const TARGET = 1.2
const PATHS = ['direct', 'proxy']
// both preload APIs answer many refs requests from 127.0.0.1 in a minute
// (their default rate limit, 60 a minute per address, is for the internet)
const PRELOAD_LIMITS = { rateLimit: 100_000 }
const CHUNKING = CHUNK_BYTES == null ? '@helia/unixfs defaults: CIDv1, 1 MiB raw leaves' : `CIDv1, ${CHUNK_BYTES / 1024} KiB raw leaves`

/** ms, or a dash where there was nothing to time (a one-block DAG has no refs) */
const ms = (value) => value == null || Number.isNaN(value) ? '–' : fmt(value, 0)

/** The change of every numeric counter between two snapshots */
const delta = (before, after) => Object.fromEntries(Object.entries(after).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, v - (before[k] ?? 0)]))

async function main () {
  bench.sayMachine('Kitsune preload benchmark')
  say('proxy: @kitsune/proxy + bitswapForwarder() + proxyPreload() as `kitsune proxy --preload-listen` builds it (front-door noise crypto, muxer and connection manager); downstreams: stock Helia + withPreload; every node its own process, 127.0.0.1')
  say('')

  const downstreams = {
    direct: start('helia-downstream', { config: { preload: PRELOAD_LIMITS } }),
    proxy: start('helia-downstream', { config: { preload: PRELOAD_LIMITS } })
  }
  let proxy
  try {
    const [directDs, proxyDs] = await Promise.all([downstreams.direct.ready, downstreams.proxy.ready])
    proxy = start('forwarder-proxy', { config: { downstreamApi: proxyDs.api, preload: PRELOAD_LIMITS } })
    const px = await proxy.ready
    // whom the client dials, whose API it asks, and who must end up holding the DAG
    const targets = {
      direct: { peerId: directDs.peerId, multiaddr: directDs.multiaddr, api: directDs.api, downstream: downstreams.direct, downstreamPeer: directDs.peerId },
      proxy: { peerId: px.peerId, multiaddr: px.multiaddr, api: px.preload, downstream: downstreams.proxy, downstreamPeer: proxyDs.peerId }
    }
    const rounds = await runRounds(targets, proxy)
    return summarise(rounds, await proxy.call('preload-status'))
  } finally {
    await stopAll([proxy, downstreams.direct, downstreams.proxy])
  }
}

/**
 * One measured preload by a fresh client process on `path`: add the files,
 * connect, an untimed warm-up preload, marks, the timed preload, marks, then
 * the checks
 */
async function preloadOnce (targets, proxy, path, r, profile) {
  const target = targets[path]
  const client = start('helia-client')
  try {
    const { peerId: clientPeer } = await client.ready
    // new content for every round and path: no downstream ever holds it
    const seed = 1_000 + 2 * r + PATHS.indexOf(path)
    const warm = await client.call('add-file', { bytes: WARMUP_BYTES, seed: 100_000 + seed, chunkBytes: CHUNK_BYTES })
    const file = await client.call('add-file', { bytes: FILE_BYTES, seed, chunkBytes: CHUNK_BYTES })
    const { remotePeer } = await client.call('connect', { addr: target.multiaddr })
    if (remotePeer !== target.peerId) {
      throw new Error('reached the wrong peer')
    }
    await client.call('preload', { url: target.api, cid: warm.cid, blocks: warm.blocks })

    const measured = { client, proxy, downstream: target.downstream }
    const profiled = profile ? Object.keys(measured).filter(name => path === 'proxy' || name !== 'proxy') : []
    await Promise.all(profiled.map(name => measured[name].call('profile-start')))
    const forwarderBefore = await proxy.call('stats')
    const before = await Promise.all(Object.values(measured).map(role => role.call('mark')))
    const result = await client.call('preload', { url: target.api, cid: file.cid, blocks: file.blocks }, 150_000)
    const after = await Promise.all(Object.values(measured).map(role => role.call('mark')))
    const forwarder = delta(forwarderBefore, await proxy.call('stats'))
    for (const name of profiled) {
      await measured[name].call('profile-stop', { file: bench.profileFile(`preload-${path}-${name}`) })
    }

    // a 200 means persisted: every block must be in the downstream's blockstore
    const { held, missing } = await target.downstream.call('has', { cids: file.blocks })
    if (missing.length > 0) {
      throw new Error(`the downstream holds ${held} of the ${file.blocks.length} blocks after the response ended (missing e.g. ${missing[0]})`)
    }
    // each path's peers only: the client reached its target and nothing else,
    // and the downstream could get the blocks from one peer only
    const downstreamPeers = await target.downstream.call('peers')
    const onlyPeer = path === 'direct' ? clientPeer : targets.proxy.peerId
    if (result.connectedTo.length !== 1 || result.connectedTo[0] !== target.peerId || downstreamPeers.length !== 1 || downstreamPeers[0] !== onlyPeer) {
      throw new Error(`the client was connected to ${result.connectedTo.join(', ')} and the downstream to ${downstreamPeers.join(', ')}, not only to each path's peer`)
    }
    if (path === 'proxy') {
      const status = await proxy.call('preload-status')
      if (forwarder.windowBlocksPassed !== file.blocks.length || forwarder.cacheHits !== 0 || status.windows !== 0 || status.forwarderWindows !== 0) {
        throw new Error(`the window passed ${forwarder.windowBlocksPassed} blocks (${forwarder.cacheHits} cache hits) for a DAG of ${file.blocks.length}; ${status.windows} preload windows / ${status.forwarderWindows} forwarder windows still open`)
      }
    } else if (forwarder.windowBlocksPassed !== 0 || forwarder.wantsReceived !== 0) {
      throw new Error(`the proxy saw ${forwarder.wantsReceived} wants during the direct preload`)
    }

    const cpu = {}
    Object.keys(measured).forEach((name, i) => { cpu[name] = cpuSeconds(before[i], after[i]) })
    const seconds = result.ms / 1000
    return {
      path,
      seconds,
      mbps: FILE_BYTES / MB / seconds,
      headersMs: result.headersMs,
      firstRefMs: result.firstRefMs ?? null,
      blocks: file.blocks.length,
      refs: result.refs,
      cpu,
      // every counter of the forwarder that moved during the preload
      forwarder: path === 'proxy' ? Object.fromEntries(Object.entries(forwarder).filter(([, v]) => v !== 0)) : undefined
    }
  } catch (err) {
    throw new Error(`round ${r + 1}, ${path} path: ${err.message}`, { cause: err })
  } finally {
    await client.stop()
  }
}

async function runRounds (targets, proxy) {
  say(`${fmt(FILE_BYTES / MiB, 0)} MiB UnixFS file (${CHUNKING}) added by a fresh stock Helia client, then POST /api/v0/refs?arg=<root>&recursive=true until the response ends; MB = 10^6 bytes`)
  say(`  warm-up per client: a ${fmt(WARMUP_BYTES / MiB, 0)} MiB file preloaded over the same path, untimed`)
  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? PATHS : [...PATHS].reverse()
    const result = {}
    for (const path of order) {
      result[path] = await preloadOnce(targets, proxy, path, r, opts.profile && r === ROUNDS - 1)
    }
    const d = result.direct
    const p = result.proxy
    rounds.push({ order: order.join(','), direct: d, proxy: p, ratio: p.seconds / d.seconds, cpuRatio: cpuTotal(p) / cpuTotal(d) })
    say(`  round ${r + 1} (${order.join(' then ')}): direct ${fmt(d.seconds, 3)} s (${fmt(d.mbps, 1)} MB/s), via proxy ${fmt(p.seconds, 3)} s (${fmt(p.mbps, 1)} MB/s), ratio ${fmt(p.seconds / d.seconds, 2)}; ` +
      `first ref after ${ms(d.firstRefMs)} / ${ms(p.firstRefMs)} ms; ${cpuText(d, p)}; ` +
      `${d.refs} refs each; window: ${p.forwarder.windowWantsPassed} wants, ${p.forwarder.windowBlocksPassed} blocks passed` +
      ((p.forwarder.duplicateBlocks ?? 0) + (p.forwarder.dontHavesSent ?? 0) > 0 ? `, ${p.forwarder.duplicateBlocks ?? 0} duplicates, ${p.forwarder.dontHavesSent ?? 0} DONT_HAVEs` : ''))
  }
  return rounds
}

function summarise (rounds, status) {
  const direct = median(rounds.map(r => r.direct.seconds))
  const viaProxy = median(rounds.map(r => r.proxy.seconds))
  const ratios = rounds.map(r => r.ratio)
  const cpuRatio = median(rounds.map(r => r.cpuRatio))
  const firstRefOf = (path) => round(median(rounds.map(r => r[path].firstRefMs).filter(x => x != null)), 1)
  const firstRef = { direct: firstRefOf('direct'), proxy: firstRefOf('proxy') }
  say(`  median: direct ${fmt(direct, 3)} s, via proxy ${fmt(viaProxy, 3)} s → via proxy / direct = ${fmt(viaProxy / direct, 2)} (target <= ${TARGET})` +
    ` (per-round ratios ${ratios.map(x => fmt(x, 2)).join(' ')}, median ${fmt(median(ratios), 2)})`)
  say(`  first ref line after (median): direct ${ms(firstRef.direct)} ms, via proxy ${ms(firstRef.proxy)} ms (${ms(firstRef.proxy - firstRef.direct)} ms more)`)
  say(`  CPU: all processes' CPU s per preload, via proxy / direct = ${fmt(cpuRatio, 2)} (the time ratio if both paths kept the same number of cores busy)`)
  say('')
  return {
    benchmark: 'preload',
    machine,
    settings: { fileBytes: FILE_BYTES, warmupBytes: WARMUP_BYTES, rounds: ROUNDS, chunking: CHUNKING, profiled: opts.profile },
    preload: {
      directSeconds: round(direct, 3),
      proxySeconds: round(viaProxy, 3),
      ratio: round(viaProxy / direct, 3),
      target: TARGET,
      roundRatios: ratios.map(x => round(x, 3)),
      directMBps: round(FILE_BYTES / MB / direct, 1),
      proxyMBps: round(FILE_BYTES / MB / viaProxy, 1),
      firstRefMs: { direct: Number.isNaN(firstRef.direct) ? null : firstRef.direct, proxy: Number.isNaN(firstRef.proxy) ? null : firstRef.proxy },
      cpuRatio: round(cpuRatio, 3),
      medianCpuSeconds: medianCpuSeconds(rounds),
      blocks: rounds[0].direct.blocks,
      rounds: rounds.map(rounded)
    },
    proxyAfter: status
  }
}

bench.run(async () => {
  const results = await main()
  bench.endLoad()
  bench.sayProfiles(results, 'CPU profiles of the last round')
  if (opts.json) {
    console.log(JSON.stringify(results, null, 2))
    return
  }

  const p = results.preload
  const c = p.medianCpuSeconds
  say('Summary')
  say(table([
    ['figure', 'direct', 'via proxy', 'via proxy / direct'],
    [`preload ${fmt(FILE_BYTES / MiB, 0)} MiB (${p.blocks} blocks), s`, fmt(p.directSeconds, 3), fmt(p.proxySeconds, 3), `${fmt(p.ratio, 2)} (target <= ${TARGET})`],
    ['  MB/s', fmt(p.directMBps, 1), fmt(p.proxyMBps, 1), ''],
    ['  first ref line after, ms', ms(p.firstRefMs.direct), ms(p.firstRefMs.proxy), `${ms(p.firstRefMs.direct == null ? null : p.firstRefMs.proxy - p.firstRefMs.direct)} ms more`],
    ['  CPU s, client + downstream (+ proxy)', fmt(c.directClient + c.directDownstream, 2), fmt(c.proxyClient + c.proxyDownstream + c.proxy, 2), `${fmt(p.cpuRatio, 2)} (proxy alone ${fmt(c.proxy, 2)})`]
  ]))
  say(`proxy after the run: ${results.proxyAfter.windows} preload windows, ${results.proxyAfter.forwarderWindows} forwarder windows open; ${results.proxyAfter.endpoint.requests} refs requests answered; load average at end ${machine.loadAvgAtEnd.join(' ')}`)
  if (opts.profile) {
    say('profiled run: the figures include profiler overhead, do not quote them')
  }
})
