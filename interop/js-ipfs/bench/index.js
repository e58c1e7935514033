/**
 * js-ipfs 0.18.1 through `kitsune proxy`, each figure next to the direct
 * path measured in the same run (loopback, this machine):
 *
 * (a) a fresh js-ipfs `cat`s a 16 MiB file held by a `kitsune node`:
 *     through the proxy (js-ipfs connected to the proxy only) vs. directly
 *     from a js-ipfs peer that holds it (js-ipfs ↔ js-ipfs, the path these
 *     apps had without a preload node). Directly from the `kitsune node` is
 *     measured too, but fails past ~4 MiB: Helia's Bitswap writes a whole
 *     wantlist's blocks on one mplex stream, and js-ipfs resets a stream
 *     once 4 MiB wait unread (the proxy's forwarder sends blocks apart);
 * (b) a js-ipfs adds 16 MiB and its own preloader calls
 *     `POST /api/v0/refs`: on the proxy's preload endpoint (the downstream
 *     pulls the DAG through the proxy's preload window) vs. on the
 *     `kitsune node`'s API with js-ipfs connected to the node directly.
 *
 * Every js-ipfs round runs in a fresh process (bench/worker.js); rounds
 * alternate between the two paths; figures are medians.
 *
 *   node bench/index.js            # BENCH_ROUNDS=3, BENCH_MIB=16
 *   node bench/index.js --json     # one JSON object instead of the table
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { createIpfs } from '../src/ipfs.js'
import { startTopology } from '../src/kitsune.js'
import { mark, waitForPreload } from '../src/preload-log.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const MIB = Number(process.env.BENCH_MIB ?? 16)
const SIZE = MIB * 1024 * 1024
const JSON_OUTPUT = process.argv.includes('--json')
const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))

/**
 * @param {string[]} args
 * @returns {Promise<any>}
 */
async function worker (args) {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', resolve)
  })
  const line = stdout.trim().split('\n').filter(Boolean).pop()
  if (code !== 0 || line == null) {
    throw new Error(`worker ${args[0]} exited ${code}: ${stderr.slice(-3000)}`)
  }
  return JSON.parse(line)
}

/** @param {number[]} values */
function median (values) {
  if (values.length === 0) {
    return NaN
  }
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const log = (/** @type {string} */ message) => { if (!JSON_OUTPUT) process.stderr.write(`${message}\n`) }

const topology = await startTopology()
/** @type {(() => Promise<void>) | undefined} */
let publisherStop
try {
  const { node, proxy } = topology
  const nodeAddr = node.multiaddrs[0]
  const nodeApi = new URL(node.api)
  const nodePreload = `/ip4/${nodeApi.hostname}/tcp/${nodeApi.port}/http`

  // the file for (a): added by a js-ipfs and preloaded through the proxy,
  // so the downstream holds it; then that js-ipfs goes away
  log(`adding and preloading ${MIB} MiB through the proxy…`)
  const data = randomBytes(SIZE)
  const sha256 = createHash('sha256').update(data).digest('hex')
  const publisher = await createIpfs({ bootstrap: [proxy.tcp], preload: proxy.preloadMultiaddr })
  publisherStop = async () => { await publisher.stop() }
  let cid
  try {
    await publisher.ipfs.swarm.connect(multiaddr(proxy.tcp))
    const since = mark()
    cid = (await publisher.ipfs.add(data)).cid.toString()
    await waitForPreload(cid, { since, timeout: 180_000 })
  } catch (err) {
    publisherStop = undefined
    await publisher.stop()
    throw err
  }
  // the publisher stays, disconnected from the proxy, as the js-ipfs holder
  // of the direct path: the proxy's fetches come from the downstream only
  await publisher.ipfs.swarm.disconnect(multiaddr(proxy.tcp))
  const holderAddr = `${(await publisher.ipfs.id()).addresses.find((a) => /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(a.toString()))}`

  const fetch = { proxy: /** @type {number[]} */ ([]), direct: /** @type {number[]} */ ([]), node: /** @type {number[]} */ ([]) }
  const preload = { proxy: /** @type {number[]} */ ([]), direct: /** @type {number[]} */ ([]) }
  /** @type {string[]} */
  const failures = []
  /** @type {string[]} the known failure of the kitsune node direct path */
  const known = []
  /**
   * One round in a fresh process; a failed round is reported, not measured
   *
   * @param {string} label
   * @param {number[]} into
   * @param {string[]} args
   * @param {string[]} [failed]
   */
  const measure = async (label, into, args, failed = failures) => {
    try {
      into.push((await worker(args)).ms)
    } catch (err) {
      failed.push(`${label}: ${(err.message.split('\n').find((line) => /cat failed|preloaded/.test(line)) ?? err.message.split('\n').find((line) => /Error/.test(line))) ?? err.message.slice(0, 300)}`)
    }
  }
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}: cat via proxy, cat direct (js-ipfs holder, kitsune node), preload via proxy, preload direct`)
    await measure('cat via proxy', fetch.proxy, ['fetch', proxy.tcp, cid, sha256])
    await measure('cat direct', fetch.direct, ['fetch', holderAddr, cid, sha256])
    if (round === 1) {
      // once: it fails by timing out
      await measure('cat direct from kitsune node', fetch.node, ['fetch', nodeAddr, cid, sha256], known)
    }
    await measure('preload via proxy', preload.proxy, ['preload', proxy.tcp, proxy.preloadMultiaddr, String(SIZE)])
    await measure('preload direct', preload.direct, ['preload', nodeAddr, nodePreload, String(SIZE)])
  }

  const rows = [
    { name: `js-ipfs cat ${MIB} MiB (direct: from a js-ipfs holder)`, proxy: median(fetch.proxy), direct: median(fetch.direct) },
    { name: `preload of ${MIB} MiB (js-ipfs's refs call; direct: the kitsune node's API)`, proxy: median(preload.proxy), direct: median(preload.direct) }
  ]
  const mbps = (/** @type {number} */ ms) => (SIZE / 1e6 / (ms / 1000)).toFixed(1)
  const cell = (/** @type {number} */ ms) => Number.isNaN(ms) ? 'failed' : `${ms.toFixed(0)} ms (${mbps(ms)} MB/s)`
  const ratio = (/** @type {{ proxy: number, direct: number }} */ row) => Number.isNaN(row.proxy / row.direct) ? 'n/a' : (row.proxy / row.direct).toFixed(2)

  if (JSON_OUTPUT) {
    console.log(JSON.stringify({ rounds: ROUNDS, bytes: SIZE, fetch, preload, failures, known, medians: rows.map(r => ({ ...r, ratio: r.proxy / r.direct })) }))
  } else {
    console.log(`\njs-ipfs 0.18.1 and kitsune, ${MIB} MiB, median of ${ROUNDS} rounds, loopback, node ${process.version}`)
    console.log('| measurement | via proxy | direct | via proxy / direct (time) |')
    console.log('| --- | --- | --- | --- |')
    for (const row of rows) {
      console.log(`| ${row.name} | ${cell(row.proxy)} | ${cell(row.direct)} | ${ratio(row)} |`)
    }
    console.log(`| js-ipfs cat ${MIB} MiB directly from the kitsune node (known to fail past ~4 MiB) | | ${cell(median(fetch.node))} | |`)
    console.log(`\ncat: via proxy / direct = ${ratio(rows[0])}`)
    console.log(`preload: via proxy / direct = ${ratio(rows[1])}`)
    for (const failure of failures) {
      console.log(`failed round: ${failure}`)
    }
    for (const failure of known) {
      console.log(`known failure: ${failure}`)
    }
    console.log(`all rounds (ms): cat via proxy ${fetch.proxy.map(Math.round).join(', ')}; cat direct ${fetch.direct.map(Math.round).join(', ')}; preload via proxy ${preload.proxy.map(Math.round).join(', ')}; preload direct ${preload.direct.map(Math.round).join(', ')}`)
  }
  if (failures.length > 0) {
    process.exitCode = 1
  }
} finally {
  await publisherStop?.()
  await topology.stop()
}
