/**
 * What the browser tests share: the real `kitsune` command (built with
 * `npm run build` at the root) run as child processes, the site served from
 * dist/, and the system's Chromium through test-support's launcher.
 */

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from '../build.js'
import { serveStatic } from '../static-server.js'

/** The built `kitsune` bin, beside the CLI's entry point */
export const BIN = join(dirname(fileURLToPath(import.meta.resolve('@kitsune/cli'))), 'bin.js')

/** How long one page may take to reach a final state, in ms */
export const PAGE_TIMEOUT = 30_000

/** Children still running: killed if the test process exits without stopping them */
const running = new Set()
process.on('exit', () => {
  for (const child of running) {
    child.kill('SIGKILL')
  }
})

/**
 * A long-running `kitsune proxy --json`, read line by line
 */
export class Kitsune {
  /** @param {string[]} args */
  constructor (args) {
    if (!existsSync(BIN)) {
      throw new Error(`${BIN} is missing: run \`npm run build\` at the repository root first`)
    }
    this.args = args
    /** @type {any[]} */
    this.events = []
    this.stderr = ''
    this.buffered = ''
    /** @type {Array<{ match: (event: any) => boolean, resolve: (event: any) => void }>} */
    this.waiters = []
    this.child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(this.child)
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => { this.onData(chunk) })
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => { this.stderr = (this.stderr + chunk).slice(-20_000) })
    /** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} */
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
      const event = JSON.parse(line)
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
   * The first event of this name, seen or to come
   *
   * @param {string} name
   * @param {number} [timeout]
   */
  async event (name, timeout = 30_000) {
    const seen = this.events.find(event => event.event === name)
    if (seen != null) {
      return seen
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`kitsune ${this.args[0]}: no ${name} event within ${timeout} ms; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr}`))
      }, timeout)
      this.waiters.push({ match: event => event.event === name, resolve: (event) => { clearTimeout(timer); resolve(event) } })
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`kitsune ${this.args[0]} exited (${code ?? signal}) before ${name}; stderr: ${this.stderr}`))
      }, () => {})
    })
  }

  /** SIGTERM, and the exit */
  async stop () {
    if (this.child.exitCode == null && this.child.signalCode == null) {
      this.child.kill('SIGTERM')
    }
    return this.exited
  }
}

/**
 * `kitsune proxy --json` in embedded mode, listening on TCP and WebSockets on
 * loopback. Resolves with the process, its ready line, its WebSockets
 * address and its preload URL.
 *
 * @param {string[]} [extraArgs]
 */
export async function startProxy (extraArgs = []) {
  const proxy = new Kitsune(['proxy', '--json',
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--listen', '/ip4/127.0.0.1/tcp/0/ws',
    ...extraArgs])
  try {
    const ready = await proxy.event('ready')
    const ws = ready.multiaddrs.find((address) => address.includes('/ws/'))
    if (ws == null || ready.preload == null) {
      throw new Error(`the proxy has no WebSockets address or no preload endpoint: ${JSON.stringify(ready)}`)
    }
    const embedded = await proxy.event('embedded')
    return { proxy, ready, ws, preload: ready.preload, embedded }
  } catch (err) {
    await proxy.stop()
    throw err
  }
}

/**
 * `kitsune get <cid> --peer <peer>` to the end, in a fresh process; resolves
 * with its exit code and stdout bytes
 *
 * @param {string} cid
 * @param {string} peer
 * @param {number} [timeout]
 */
export async function kitsuneGet (cid, peer, timeout = 20_000) {
  const child = spawn(process.execPath, [BIN, 'get', cid, '--peer', peer, '--timeout', String(timeout)], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  /** @type {Buffer[]} */
  const chunks = []
  let stderr = ''
  child.stdout.on('data', (chunk) => { chunks.push(chunk) })
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => { running.delete(child); resolve(code) })
  })
  return { code, stdout: Buffer.concat(chunks), stderr }
}

/**
 * Builds dist/ and serves it; with `origins: 2`, from two servers, i.e. two
 * origins
 */
export async function buildAndServe (count = 1) {
  const size = await build({ quiet: true })
  const servers = []
  for (let i = 0; i < count; i++) {
    servers.push(await serveStatic(size.dir))
  }
  return { size, servers }
}

/**
 * The page's URL for `params` on `server`
 *
 * @param {{ url: string }} server
 * @param {Record<string, string>} params
 */
export function pageUrl (server, params) {
  return `${server.url}?${new URLSearchParams(params)}`
}

/**
 * Watches everything a page asks the network for: HTTP(S) requests (through
 * Playwright's request events, which include fetches and the page itself)
 * and WebSockets
 *
 * @param {import('@kitsune/test-support').Page} page
 */
export function watchNetwork (page) {
  /** @type {string[]} */
  const requests = []
  /** @type {string[]} */
  const webSockets = []
  /** @type {string[]} */
  const console = []
  page.on('request', request => { requests.push(`${request.method()} ${request.url()}`) })
  page.on('websocket', ws => { webSockets.push(ws.url()) })
  page.on('console', message => { console.push(`${message.type()}: ${message.text()}`) })
  page.on('pageerror', err => { console.push(`pageerror: ${err.message}`) })
  return { requests, webSockets, console }
}

/**
 * Resolves with `#status` once it is one of the final states (anything but
 * `idle` and `connecting`)
 *
 * @param {import('@kitsune/test-support').Page} page
 * @param {number} [timeout]
 */
export async function finalStatus (page, timeout = PAGE_TIMEOUT) {
  await page.waitForFunction(() => {
    const status = document.getElementById('status')?.textContent ?? ''
    return status !== 'idle' && status !== 'connecting'
  }, undefined, { timeout })
  return (await page.textContent('#status')) ?? ''
}
