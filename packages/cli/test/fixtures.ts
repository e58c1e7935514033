import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { CID } from 'multiformats/cid'
import type { ChildProcess } from 'node:child_process'

/**
 * The built bin (build first: `aegir build`); the tests run the real
 * command, as an operator would, with the Node that runs the tests
 */
export const BIN = fileURLToPath(new URL('../dist/src/bin.js', import.meta.url))

export interface Result {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs `kitsune <args>` to the end, with the Node running the tests
 */
export async function run (args: string[], options: { timeout?: number, cwd?: string } = {}): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, options.timeout ?? 30_000)

  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/**
 * Runs `kitsune <args>` and collects its stdout bytes (for `get` to stdout)
 */
export async function runBinary (args: string[], timeout = 30_000): Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeout)

  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(chunks), stderr })
    })
  })
}

/**
 * A long-running command without `--json`: resolves once it prints `ready`,
 * with its stdout so far and a way to stop it
 */
export async function startHuman (args: string[]): Promise<{ stdout: string, stop(signal?: NodeJS.Signals): Promise<{ code: number | null, stdout: string }> }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<number | null>(resolve => { child.once('exit', resolve) })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk
      if (/^ready$/m.test(stdout)) {
        resolve()
      }
    })
    exited.then(() => { reject(new Error(`exited early: ${stdout}${stderr}`)) }, reject)
  })
  return {
    stdout,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal)
      const code = await exited
      return { code, stdout }
    }
  }
}

/**
 * A whole block from a Helia blockstore (which yields it in chunks)
 */
export async function readBlock (helia: { blockstore: { get(cid: CID, options?: { signal?: AbortSignal }): AsyncIterable<Uint8Array> | Iterable<Uint8Array> } }, cid: CID, timeout = 10_000): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of helia.blockstore.get(cid, { signal: AbortSignal.timeout(timeout) })) {
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * A long-running `kitsune proxy --json` (or `kitsune node --json`), read
 * line by line
 */
export class JsonProcess {
  readonly child: ChildProcess
  readonly events: any[] = []
  stderr = ''
  private buffered = ''
  private readonly waiters: Array<{ match(event: any): boolean, resolve(event: any): void }> = []
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { this.onData(chunk) })
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
    this.exited = new Promise(resolve => {
      this.child.on('exit', (code, signal) => { resolve({ code, signal }) })
    })
  }

  private onData (chunk: string): void {
    this.buffered += chunk
    let newline: number
    while ((newline = this.buffered.indexOf('\n')) !== -1) {
      const line = this.buffered.slice(0, newline)
      this.buffered = this.buffered.slice(newline + 1)
      if (line.trim() === '') {
        continue
      }
      // every stdout line must be JSON
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
   * Resolves with the first event (already seen or still to come) that
   * matches; rejects if the process exits first or the timeout passes
   */
  async next (match: (event: any) => boolean, timeout = 20_000): Promise<any> {
    const seen = this.events.find(match)
    if (seen != null) {
      return seen
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no matching event within ${timeout} ms; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr}`)) }, timeout)
      const waiter = {
        match,
        resolve: (event: any) => { clearTimeout(timer); resolve(event) }
      }
      this.waiters.push(waiter)
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`kitsune exited (${code ?? signal}) before the event; stderr: ${this.stderr}`))
      }, () => {})
    })
  }

  async event (name: string, timeout?: number): Promise<any> {
    return this.next(event => event.event === name, timeout)
  }

  /**
   * Sends a signal and waits for the exit
   */
  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    if (this.child.exitCode == null && this.child.signalCode == null) {
      this.child.kill(signal)
    }
    return this.exited
  }

  kill (): void {
    if (this.child.exitCode == null && this.child.signalCode == null) {
      this.child.kill('SIGKILL')
    }
  }
}
