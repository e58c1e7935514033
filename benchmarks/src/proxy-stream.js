#!/usr/bin/env node
/**
 * Proxy stream benchmark: every figure is measured in the same run as the
 * direct path it is compared with.
 *
 * Three processes, each its own Node (so `process.cpuUsage()` is per role):
 *
 *   client ──────────────────────────────► downstream    (direct path)
 *   client ──────► proxy ────────────────► downstream    (via proxy)
 *
 * 1. Throughput: one large one-way "sink" stream per path per round; rounds
 *    alternate which path goes first. MB/s of each and the ratio.
 * 2. CPU: CPU seconds per GiB of the proxy process during the proxy run,
 *    against the client's plus the downstream's CPU seconds per GiB during the
 *    direct run (the floor, see below).
 * 3. Latency: open an echo stream, send one byte, time to the first echoed
 *    byte; p50/p99 of each path and the difference.
 *
 * Usage: node src/proxy-stream.js [--json] [--size MiB] [--rounds N]
 *        [--samples N] [--warmup N] [--chunk KiB] [--profile] [--timeout s]
 *        [--max-buffered MiB]  (the proxy route's maxBufferedBytes; default: the proxy's)
 *        [--pace MB/s]  (cap the client's send rate on both paths)
 *        [--window MiB]  (the proxy's yamux maxStreamWindowSize; default:
 *                         frontDoorMuxerOptions()'s)
 *        [--stock-noise]  (the proxy uses @libp2p/noise's default crypto instead
 *                         of frontDoorNoiseCrypto, as kitsune proxy does)
 *
 * --profile   V8 CPU profiles of the last round only: the proxy during its
 *             proxy-path transfer, client and downstream during their direct
 *             transfer, written to benchmarks/profiles/ (read them with
 *             src/profile-summary.js or Chrome DevTools)
 * --cpu-prof  run the proxy role under `node --cpu-prof` (whole life of the
 *             process, start-up and idle included)
 */

import { basename, dirname } from 'node:path'
import { rounded, setupBenchmark } from './harness.js'
import { cpuSeconds } from './rpc.js'
import { GiB, MB, MiB, fmt, median, round, summarize, table } from './stats.js'

const bench = setupBenchmark({
  usage: 'node src/proxy-stream.js [--json] [--size MiB=768] [--rounds N=5] [--samples N=300] [--warmup N=50] [--chunk KiB=64] [--profile] [--cpu-prof] [--timeout s=600] [--max-buffered MiB] [--window MiB] [--pace MB/s] [--stock-noise]',
  timeout: 600,
  options: {
    size: '768',
    rounds: '5',
    samples: '300',
    warmup: '50',
    chunk: '64',
    profile: false,
    'cpu-prof': false,
    'max-buffered': null,
    pace: null,
    window: null,
    'stock-noise': false
  }
})
const { opts, say, machine } = bench

const BYTES = Math.round(Number(opts.size) * MiB)
const ROUNDS = Number(opts.rounds)
const SAMPLES = Number(opts.samples)
const WARMUP = Number(opts.warmup)
const CHUNK = Math.round(Number(opts.chunk) * 1024)
const WARMUP_BYTES = Math.min(BYTES, 64 * MiB)
const PACE = opts.pace == null ? undefined : Number(opts.pace)

for (const [name, value] of Object.entries({ size: BYTES, rounds: ROUNDS, samples: SAMPLES, chunk: CHUNK })) {
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a positive number`)
    process.exit(2)
  }
}

const roles = {}

async function main () {
  bench.sayMachine('Kitsune proxy benchmark')
  say(`${fmt(BYTES / MiB, 0)} MiB per transfer × ${ROUNDS} rounds per path, ${CHUNK / 1024} KiB writes${PACE == null ? '' : `, client paced to ${PACE} MB/s`}; latency ${SAMPLES} samples per path after ${WARMUP} warm-up`)
  say(`proxy noise crypto: ${opts['stock-noise'] ? '@libp2p/noise default (--stock-noise)' : 'frontDoorNoiseCrypto (as kitsune proxy runs)'}`)
  say('')

  // ── start the three roles ────────────────────────────────────────────────
  roles.downstream = bench.start('downstream')
  const downstream = await roles.downstream.ready

  const proxyArgv = []
  if (opts['cpu-prof']) {
    const file = bench.profileFile('proxy-whole-process')
    proxyArgv.push('--cpu-prof', `--cpu-prof-dir=${dirname(file)}`, `--cpu-prof-name=${basename(file)}`)
  }
  roles.proxy = bench.start('proxy', { config: { downstream: downstream.multiaddr, maxBufferedBytes: opts['max-buffered'] == null ? undefined : Math.round(Number(opts['max-buffered']) * MiB), maxStreamWindowSize: opts.window == null ? undefined : Math.round(Number(opts.window) * MiB), stockNoise: opts['stock-noise'] }, execArgv: proxyArgv })
  roles.client = bench.start('client')
  const [proxyInfo] = await Promise.all([roles.proxy.ready, roles.client.ready])

  await roles.client.call('connect', { name: 'direct', addr: downstream.multiaddr })
  const viaProxy = await roles.client.call('connect', { name: 'proxy', addr: proxyInfo.multiaddr })
  if (viaProxy.remotePeer !== proxyInfo.peerId) {
    throw new Error('the proxy connection reached the wrong peer')
  }

  const transferTimeout = 30_000 + (BYTES / (Math.min(5, PACE ?? 5) * MB)) * 1000
  const markAll = async () => {
    const [client, proxy, downstream] = await Promise.all([roles.client.call('mark'), roles.proxy.call('mark'), roles.downstream.call('mark')])
    return { client, proxy, downstream }
  }

  /**
   * One measured transfer on `path`, with a CPU mark in every process just
   * before and just after (the marks cost a few IPC messages, nothing next
   * to seconds of transfer)
   */
  const transfer = async (path, bytes, profile = false) => {
    // profile the process(es) that matter for this path: the proxy on the
    // proxy path, the two endpoints on the direct path
    const profiled = profile ? (path === 'proxy' ? ['proxy'] : ['client', 'downstream']) : []
    await Promise.all(profiled.map(r => roles[r].call('profile-start')))
    const before = await markAll()
    const { ms } = await roles.client.call('throughput', { target: path, bytes, chunkSize: CHUNK, paceMBps: PACE }, transferTimeout)
    const after = await markAll()
    for (const r of profiled) {
      await roles[r].call('profile-stop', { file: bench.profileFile(`${r}-${path}`) })
    }
    const gib = bytes / GiB
    const cpu = {}
    const cpuPerGiB = {}
    const sysShare = {}
    for (const role of ['client', 'proxy', 'downstream']) {
      cpu[role] = cpuSeconds(before[role], after[role])
      cpuPerGiB[role] = cpu[role] / gib
      sysShare[role] = (after[role].system - before[role].system) / cpu[role]
    }
    return { path, bytes, seconds: ms / 1000, mbps: bytes / MB / (ms / 1000), cpu, cpuPerGiB, sysShare, maxRss: { proxy: after.proxy.maxRss } }
  }

  // ── 1 + 2: throughput and CPU ────────────────────────────────────────────
  say('Throughput and CPU (one-way sink stream; MB = 10^6 bytes; CPU = user+sys of each process)')
  say(`  warm-up: ${WARMUP_BYTES / MiB} MiB on each path (JIT, yamux windows)`)
  await transfer('direct', WARMUP_BYTES)
  await transfer('proxy', WARMUP_BYTES)

  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['direct', 'proxy'] : ['proxy', 'direct']
    const result = {}
    for (const path of order) {
      result[path] = await transfer(path, BYTES, opts.profile && r === ROUNDS - 1)
    }
    const d = result.direct
    const p = result.proxy
    const floor = d.cpuPerGiB.client + d.cpuPerGiB.downstream
    rounds.push({
      order: order.join(','),
      directMBps: d.mbps,
      proxyMBps: p.mbps,
      throughputRatio: p.mbps / d.mbps,
      // sysShare: the part of each process's CPU spent in the kernel (mostly
      // loopback TCP send/receive), the rest is JS, crypto and GC
      direct: { clientCpuPerGiB: d.cpuPerGiB.client, downstreamCpuPerGiB: d.cpuPerGiB.downstream, idleProxyCpuPerGiB: d.cpuPerGiB.proxy, clientSysShare: d.sysShare.client, downstreamSysShare: d.sysShare.downstream },
      proxy: { clientCpuPerGiB: p.cpuPerGiB.client, proxyCpuPerGiB: p.cpuPerGiB.proxy, downstreamCpuPerGiB: p.cpuPerGiB.downstream, proxySysShare: p.sysShare.proxy },
      floorCpuPerGiB: floor,
      cpuRatio: p.cpuPerGiB.proxy / floor,
      proxyMaxRss: p.maxRss.proxy
    })
    say(`  round ${r + 1} (${order.join(' then ')}): direct ${fmt(d.mbps, 1, 6)} MB/s, proxy ${fmt(p.mbps, 1, 6)} MB/s, ratio ${fmt(p.mbps / d.mbps, 2)}; ` +
      `cpu s/GiB: proxy ${fmt(p.cpuPerGiB.proxy, 2)} vs direct client ${fmt(d.cpuPerGiB.client, 2)} + downstream ${fmt(d.cpuPerGiB.downstream, 2)} = ${fmt(floor, 2)}, ratio ${fmt(p.cpuPerGiB.proxy / floor, 2)}`)
  }

  const directMBps = median(rounds.map(r => r.directMBps))
  const proxyMBps = median(rounds.map(r => r.proxyMBps))
  const proxyCpu = median(rounds.map(r => r.proxy.proxyCpuPerGiB))
  const directClientCpu = median(rounds.map(r => r.direct.clientCpuPerGiB))
  const directDownstreamCpu = median(rounds.map(r => r.direct.downstreamCpuPerGiB))
  // The floor. On the direct path the client encrypts (noise) and frames
  // (yamux) every byte once and the downstream unframes and decrypts it once.
  // A proxy has to do both halves for every byte: it is the receiving end of
  // the client's connection (decrypt + unframe) and the sending end of its
  // own connection to the downstream (frame + encrypt). So the two endpoints'
  // CPU per GiB added together is the least the middle can spend; the bridge
  // itself should add next to nothing on top (the endpoints' own application
  // work, generating and discarding bytes, is tiny).
  const floorCpu = directClientCpu + directDownstreamCpu
  // each round's two transfers run minutes apart at most, so the per-round
  // ratios are less exposed to the machine's load drifting over the run
  const roundCpuRatios = rounds.map(r => r.cpuRatio)
  const roundThroughputRatios = rounds.map(r => r.throughputRatio)

  say(`  median: direct ${fmt(directMBps, 1)} MB/s, via proxy ${fmt(proxyMBps, 1)} MB/s → via proxy / direct = ${fmt(proxyMBps / directMBps, 2)}` +
    ` (per-round ratios ${roundThroughputRatios.map(x => fmt(x, 2)).join(' ')}, median ${fmt(median(roundThroughputRatios), 2)})`)
  say(`  median: proxy ${fmt(proxyCpu, 2)} CPU s/GiB, direct endpoints ${fmt(directClientCpu, 2)} + ${fmt(directDownstreamCpu, 2)} (client + downstream) = ${fmt(floorCpu, 2)} CPU s/GiB`)
  say(`          proxy cpu / direct endpoints cpu = ${fmt(proxyCpu / floorCpu, 2)} (target <= 1.0)` +
    ` (per-round ratios ${roundCpuRatios.map(x => fmt(x, 2)).join(' ')}, median ${fmt(median(roundCpuRatios), 2)})`)
  say('')

  // ── 3: latency ───────────────────────────────────────────────────────────
  say('Stream-open latency (open an echo stream, send 1 byte, first byte back; sequential, paths interleaved)')
  if (opts.profile) {
    await roles.proxy.call('profile-start', { intervalUs: 250 })
  }
  const latBefore = await roles.proxy.call('mark')
  const samples = await roles.client.call('latency', { names: ['direct', 'proxy'], warmup: WARMUP, samples: SAMPLES }, 120_000 + (WARMUP + SAMPLES) * 200)
  const latAfter = await roles.proxy.call('mark')
  if (opts.profile) {
    await roles.proxy.call('profile-stop', { file: bench.profileFile('proxy-stream-opens') })
  }
  // the proxy is idle during the direct samples, so all of its CPU in this
  // phase went into the bridged streams (open, one byte each way, close)
  const proxyCpuPerStreamMs = cpuSeconds(latBefore, latAfter) * 1000 / (WARMUP + SAMPLES)
  const latDirect = summarize(samples.direct)
  const latProxy = summarize(samples.proxy)
  const added = { p50: round(latProxy.p50 - latDirect.p50, 3), p99: round(latProxy.p99 - latDirect.p99, 3) }
  say(`  direct    p50 ${fmt(latDirect.p50, 3, 7)} ms   p99 ${fmt(latDirect.p99, 3, 7)} ms   (min ${fmt(latDirect.min, 3)}, max ${fmt(latDirect.max, 3)})`)
  say(`  proxy     p50 ${fmt(latProxy.p50, 3, 7)} ms   p99 ${fmt(latProxy.p99, 3, 7)} ms   (min ${fmt(latProxy.min, 3)}, max ${fmt(latProxy.max, 3)})`)
  say(`  added     p50 ${fmt(added.p50, 3, 7)} ms   p99 ${fmt(added.p99, 3, 7)} ms`)
  say(`  proxy CPU per bridged stream (open, 1 byte each way, close): ${fmt(proxyCpuPerStreamMs, 3)} ms`)
  say('')

  // the proxy must not keep bridges (or memory) after the streams are gone
  const status = await roles.proxy.call('status')
  const endMarks = await markAll()
  const proxyMark = endMarks.proxy

  const results = {
    benchmark: 'proxy-stream',
    machine,
    settings: { bytesPerTransfer: BYTES, rounds: ROUNDS, chunkBytes: CHUNK, paceMBps: PACE ?? null, proxyMaxBufferedMiB: opts['max-buffered'] ?? 'default', proxyStreamWindowMiB: opts.window ?? 'default', latencySamples: SAMPLES, latencyWarmup: WARMUP, profiled: opts.profile || opts['cpu-prof'] },
    throughput: {
      directMBps: round(directMBps, 1),
      proxyMBps: round(proxyMBps, 1),
      ratio: round(proxyMBps / directMBps, 3),
      medianOfRoundRatios: round(median(roundThroughputRatios), 3)
    },
    cpu: {
      proxyCpuSecondsPerGiB: round(proxyCpu, 3),
      directClientCpuSecondsPerGiB: round(directClientCpu, 3),
      directDownstreamCpuSecondsPerGiB: round(directDownstreamCpu, 3),
      directEndpointsCpuSecondsPerGiB: round(floorCpu, 3),
      ratio: round(proxyCpu / floorCpu, 3),
      medianOfRoundRatios: round(median(roundCpuRatios), 3),
      target: 1.0
    },
    latencyMs: { direct: latDirect, proxy: latProxy, added },
    proxyCpuMsPerBridgedStream: round(proxyCpuPerStreamMs, 3),
    proxy: {
      openBridgesAfter: status.openBridges
    },
    // peak resident memory of each process over the whole run
    maxRssMiB: {
      client: round(endMarks.client.maxRss / MiB, 1),
      proxy: round(endMarks.proxy.maxRss / MiB, 1),
      downstream: round(endMarks.downstream.maxRss / MiB, 1)
    },
    rounds: rounds.map(rounded)
  }

  // ── stop the roles (gracefully, so a --cpu-prof profile gets written) ────
  await Promise.all(Object.values(roles).map(role => role.stop()))
  bench.sayProfiles(results, 'CPU profiles')
  bench.endLoad()

  if (opts.json) {
    console.log(JSON.stringify(results, null, 2))
    return
  }

  say('Summary')
  say(table([
    ['figure', 'direct', 'via proxy', 'proxy vs direct'],
    ['throughput, MB/s', fmt(directMBps, 1), fmt(proxyMBps, 1), `× ${fmt(proxyMBps / directMBps, 2)}`],
    ['CPU s/GiB (direct: client + downstream)', `${fmt(floorCpu, 2)}`, fmt(proxyCpu, 2), `× ${fmt(proxyCpu / floorCpu, 2)} (target <= 1.0)`],
    ['stream open + first byte p50, ms', fmt(latDirect.p50, 3), fmt(latProxy.p50, 3), `+ ${fmt(added.p50, 3)} ms`],
    ['stream open + first byte p99, ms', fmt(latDirect.p99, 3), fmt(latProxy.p99, 3), `+ ${fmt(added.p99, 3)} ms`]
  ]))
  say(`proxy: ${status.openBridges} bridges open after the run; peak RSS MiB: client ${fmt(endMarks.client.maxRss / MiB, 0)}, proxy ${fmt(proxyMark.maxRss / MiB, 0)}, downstream ${fmt(endMarks.downstream.maxRss / MiB, 0)}; load average at end ${machine.loadAvgAtEnd.join(' ')}`)
  if (opts.profile || opts['cpu-prof']) {
    say('profiled run: the CPU figures include profiler overhead, do not quote them')
  }
}

bench.run(main)
