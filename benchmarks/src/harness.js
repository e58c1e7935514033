/**
 * What every orchestrator (proxy-stream.js, bitswap.js, preload.js) does the
 * same way: refuse an old Node, parse its options (plus `--json`,
 * `--timeout` and `--help`), print progress to stderr in `--json` mode, kill
 * every role process on any exit path (error, SIGINT/SIGTERM, a watchdog),
 * describe the machine (load average at start and end), and the per-round
 * CPU figures of a path (client, proxy, downstream).
 */

import { mkdirSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { killAllRoles, spawnRole } from './rpc.js'
import { GiB, fmt, median, round } from './stats.js'

/** Where --profile writes (git-ignored) */
const PROFILE_DIR = fileURLToPath(new URL('../profiles/', import.meta.url))

/**
 * Sets a benchmark up; call it first, at the top level of the script.
 *
 * @param {object} init
 * @param {string} init.usage the usage line printed by --help
 * @param {Record<string, string | boolean | null>} init.options the script's own options, each by its default: a string (a value option), a boolean (a flag), or null (a value option without a default)
 * @param {number} init.timeout default of --timeout, in seconds
 */
export function setupBenchmark ({ usage, options, timeout }) {
  if (Number(process.versions.node.split('.')[0]) < 22) {
    console.error(`Node ${process.version} is too old for libp2p 3 (needs >= 22): run it with \`npm run bench\`, which uses the repo's Node 24`)
    process.exit(2)
  }

  const { values: opts } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: String(timeout) },
      help: { type: 'boolean', short: 'h', default: false },
      ...Object.fromEntries(Object.entries(options).map(([name, value]) => [name, value == null
        ? { type: 'string' }
        : { type: typeof value === 'boolean' ? 'boolean' : 'string', default: value }]))
    }
  })
  if (opts.help) {
    console.log(`Usage: ${usage}`)
    process.exit(0)
  }

  // progress goes to stderr in --json mode so stdout holds only the JSON object
  const say = opts.json ? (...a) => console.error(...a) : (...a) => console.log(...a)

  // never leave a role process behind: on any exit path, kill what is left
  process.on('exit', killAllRoles)
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      killAllRoles()
      process.exit(130)
    })
  }
  const watchdog = setTimeout(() => {
    console.error(`benchmark did not finish within ${opts.timeout}s, giving up`)
    killAllRoles()
    process.exit(1)
  }, Number(opts.timeout) * 1000)
  watchdog.unref()

  const machine = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    memoryGiB: round(os.totalmem() / GiB, 1),
    // other work on the machine skews everything; say how busy it was
    loadAvgAtStart: os.loadavg().map(l => round(l, 2)),
    date: new Date().toISOString()
  }

  /** every role started and not yet exited, so a failure can stop them */
  const live = new Set()
  const stamp = machine.date.replace(/[:.]/g, '-')
  /** @type {string[]} */
  const profiles = []

  return {
    opts,
    say,
    machine,
    /**
     * The file for a CPU profile called `name` (in benchmarks/profiles/,
     * prefixed with the start time); listed by `sayProfiles`
     *
     * @param {string} name
     */
    profileFile (name) {
      mkdirSync(PROFILE_DIR, { recursive: true })
      const file = `${PROFILE_DIR}${stamp}-${name}.cpuprofile`
      profiles.push(file)
      return file
    },

    /**
     * Lists the profiles written (and adds them to `results`)
     *
     * @param {Record<string, any>} results
     * @param {string} what
     */
    sayProfiles (results, what) {
      if (profiles.length === 0) {
        return
      }
      results.profiles = profiles
      say(`${what} (summarise with: node src/profile-summary.js <file>):`)
      for (const file of profiles) {
        say(`  ${file}`)
      }
      say('')
    },

    /** The header lines every benchmark prints first */
    sayMachine (title) {
      say(`${title}, ${machine.date}`)
      say(`Node ${machine.node} · ${machine.platform} · ${machine.cores} cores (${machine.cpu}) · ${machine.memoryGiB} GiB RAM · load average ${machine.loadAvgAtStart.join(' ')}`)
    },

    /** Records the load average at the end into `machine` */
    endLoad () {
      machine.loadAvgAtEnd = os.loadavg().map(l => round(l, 2))
      return machine.loadAvgAtEnd
    },

    /**
     * Forks a role (see rpc.js) that a failure will stop
     *
     * @param {string} name
     * @param {Parameters<typeof spawnRole>[1]} [roleOptions]
     */
    start (name, roleOptions) {
      const role = spawnRole(name, roleOptions)
      live.add(role)
      role.exited.then(() => live.delete(role))
      return role
    },

    /**
     * Runs `main`; on failure prints the error, stops what is left (politely
     * first) and sets a failing exit code
     *
     * @param {() => Promise<void>} main
     */
    run (main) {
      main().then(() => {
        clearTimeout(watchdog)
      }, async (err) => {
        console.error('benchmark failed:', err?.stack ?? err)
        process.exitCode = 1
        await Promise.race([
          Promise.all([...live].map(role => role.stop(3_000).catch(() => {}))),
          new Promise(resolve => setTimeout(resolve, 5_000).unref())
        ])
        killAllRoles()
        clearTimeout(watchdog)
      })
    }
  }
}

/**
 * Exits with a usage error unless every value is a positive integer
 *
 * @param {Record<string, number>} values option name → parsed value
 */
export function requirePositiveIntegers (values) {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value <= 0) {
      console.error(`--${name} must be a positive integer`)
      process.exit(2)
    }
  }
}

/**
 * Stops roles gracefully (so a --cpu-prof profile gets written)
 *
 * @param {Array<{ stop(): Promise<unknown> } | undefined>} roles
 */
export async function stopAll (roles) {
  await Promise.all(roles.filter(r => r != null).map(r => r.stop()))
}

/**
 * CPU seconds of all processes of a path during one measured operation
 *
 * @param {{ cpu: { client: number, proxy: number, downstream: number } }} x
 */
export const cpuTotal = (x) => x.cpu.client + x.cpu.proxy + x.cpu.downstream

/**
 * The CPU part of a round's line: each process's CPU seconds on the direct
 * and the proxy path, and how many cores each path kept busy
 *
 * @param {{ seconds: number, cpu: { client: number, proxy: number, downstream: number } }} d
 * @param {{ seconds: number, cpu: { client: number, proxy: number, downstream: number } }} p
 */
export function cpuText (d, p) {
  return `cpu s: client ${fmt(d.cpu.client, 2)} / ${fmt(p.cpu.client, 2)}, downstream ${fmt(d.cpu.downstream, 2)} / ${fmt(p.cpu.downstream, 2)}, proxy ${fmt(p.cpu.proxy, 2)} (direct / proxy path), ` +
    `cores busy ${fmt(cpuTotal(d) / d.seconds, 1)} / ${fmt(cpuTotal(p) / p.seconds, 1)}`
}

/**
 * Medians over rounds of each process's CPU seconds, for the JSON output
 *
 * @param {Array<{ direct: { cpu: any }, proxy: { cpu: any } }>} rounds
 */
export function medianCpuSeconds (rounds) {
  return {
    directClient: round(median(rounds.map(r => r.direct.cpu.client)), 3),
    directDownstream: round(median(rounds.map(r => r.direct.cpu.downstream)), 3),
    proxyClient: round(median(rounds.map(r => r.proxy.cpu.client)), 3),
    proxyDownstream: round(median(rounds.map(r => r.proxy.cpu.downstream)), 3),
    proxy: round(median(rounds.map(r => r.proxy.cpu.proxy)), 3)
  }
}

/**
 * A copy of `value` with every number rounded to 3 digits, for the JSON output
 *
 * @param {any} value
 */
export function rounded (value) {
  return JSON.parse(JSON.stringify(value, (_k, v) => typeof v === 'number' ? round(v, 3) : v))
}
