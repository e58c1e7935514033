/**
 * A small request/response channel over Node's IPC between the orchestrator
 * and its role processes (client, proxy, downstream), and the CPU/memory
 * "mark" every role answers.
 *
 * Child -> parent: {type:'ready', info} once, {type:'reply', id, ok, result|error}
 * Parent -> child: {type:'call', id, cmd, args}
 */

import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { fileURLToPath } from 'node:url'

/**
 * What every role reports when asked for a mark: the process's own CPU time
 * (user + system, all threads) and memory at this instant.
 */
export function mark () {
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  return {
    at: performance.timeOrigin + performance.now(),
    user: cpu.user / 1e6,
    system: cpu.system / 1e6,
    rss: mem.rss,
    maxRss: process.resourceUsage().maxRSS * 1024
  }
}

/**
 * CPU seconds spent between two marks
 *
 * @param {ReturnType<typeof mark>} a
 * @param {ReturnType<typeof mark>} b
 */
export function cpuSeconds (a, b) {
  return (b.user - a.user) + (b.system - a.system)
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set()

/**
 * Kills every role process still alive. Safe to call many times and from
 * 'exit' handlers (synchronous).
 */
export function killAllRoles () {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL') } catch {}
    }
  }
}

/**
 * Forks `roles/<name>.js` with the current Node binary. The child's stdout
 * and stderr go to our stderr so that `--json` output stays clean.
 *
 * @param {string} name
 * @param {object} [options]
 * @param {string[]} [options.execArgv] extra Node flags (e.g. --cpu-prof)
 * @param {object} [options.config] passed to the role as JSON in argv[2]
 * @param {number} [options.readyTimeout]
 */
export function spawnRole (name, options = {}) {
  const child = fork(fileURLToPath(new URL(`./roles/${name}.js`, import.meta.url)), [JSON.stringify(options.config ?? {})], {
    execPath: process.execPath,
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 2, 2, 'ipc'],
    serialization: 'advanced'
  })
  children.add(child)

  /** @type {Map<number, {resolve: Function, reject: Function, timer: any, cmd: string}>} */
  const pending = new Map()
  let nextId = 1
  const ready = Promise.withResolvers()
  const exited = Promise.withResolvers()
  ready.promise.catch(() => {})

  child.on('message', (msg) => {
    if (msg?.type === 'ready') {
      ready.resolve(msg.info)
    } else if (msg?.type === 'reply') {
      const call = pending.get(msg.id)
      if (call == null) {
        return
      }
      pending.delete(msg.id)
      clearTimeout(call.timer)
      if (msg.ok) {
        call.resolve(msg.result)
      } else {
        const err = new Error(`${name}.${call.cmd} failed: ${msg.error}`)
        call.reject(err)
      }
    }
  })

  let gone
  const onGone = (why) => {
    if (gone != null) {
      return
    }
    children.delete(child)
    gone = `${name} role ${why}`
    const err = new Error(gone)
    ready.reject(err)
    for (const call of pending.values()) {
      clearTimeout(call.timer)
      call.reject(err)
    }
    pending.clear()
    exited.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  child.on('exit', (code, signal) => { onGone(`exited (code ${code}, signal ${signal})`) })
  child.on('error', (err) => { onGone(`failed: ${err.message}`) })

  const readyTimer = setTimeout(() => {
    ready.reject(new Error(`${name} role not ready after ${options.readyTimeout ?? 30_000} ms`))
  }, options.readyTimeout ?? 30_000)
  ready.promise.finally(() => clearTimeout(readyTimer)).catch(() => {})

  return {
    name,
    child,
    /** Resolves with the role's info (e.g. its multiaddr) once it listens */
    ready: ready.promise,
    /** Resolves once the process has exited, however it ended */
    exited: exited.promise,
    /**
     * @param {string} cmd
     * @param {any} [args]
     * @param {number} [timeout] ms
     */
    call (cmd, args = {}, timeout = 120_000) {
      if (!child.connected) {
        return Promise.reject(new Error(gone ?? `${name} role is not connected`))
      }
      const id = nextId++
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${name}.${cmd} timed out after ${timeout} ms`))
        }, timeout)
        pending.set(id, { resolve, reject, timer, cmd })
        child.send({ type: 'call', id, cmd, args })
      })
    },
    /**
     * Asks the role to stop its node and exit (so e.g. --cpu-prof is
     * written); kills it if it has not exited within `timeout` ms
     */
    async stop (timeout = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return exited.promise
      }
      if (child.connected) {
        try { child.send({ type: 'call', id: 0, cmd: 'stop', args: {} }) } catch {}
      }
      const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, timeout)
      const result = await exited.promise
      clearTimeout(timer)
      return result
    }
  }
}

/**
 * Runs inside a role process: `setup(config)` starts the role and returns
 * `{ info, handlers, stop }`. Answers 'mark', 'profile-start', 'profile-stop'
 * and 'stop' itself; exits when the parent goes away, so no role outlives
 * the orchestrator.
 *
 * @param {string} name
 * @param {(config: any) => Promise<{info: any, handlers?: Record<string, (args: any) => any>, stop: () => Promise<void>}>} setup
 */
export function serveRole (name, setup) {
  const config = JSON.parse(process.argv[2] ?? '{}')
  let role
  let stopping = false
  let profiler

  // in-process V8 CPU profiling (what `node --cpu-prof` does, but for a
  // window the orchestrator chooses, e.g. exactly one transfer)
  const builtins = {
    mark: () => mark(),
    'profile-start': async ({ intervalUs = 1000 } = {}) => {
      profiler = new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.setSamplingInterval', { interval: intervalUs })
      await profiler.post('Profiler.start')
    },
    'profile-stop': async ({ file }) => {
      const { profile } = await profiler.post('Profiler.stop')
      profiler.disconnect()
      profiler = undefined
      writeFileSync(file, JSON.stringify(profile))
      return { file }
    }
  }

  const send = (msg) => {
    if (process.connected) {
      try { process.send(msg) } catch {}
    }
  }

  const shutdown = async (code) => {
    if (stopping) {
      return
    }
    stopping = true
    // a node that will not stop must not keep the process alive
    setTimeout(() => process.exit(code === 0 ? 3 : code), 5_000).unref()
    try {
      await role?.stop()
    } catch (err) {
      console.error(`[${name}] stop failed:`, err)
    }
    process.exit(code)
  }

  process.on('disconnect', () => { shutdown(0) })
  process.on('SIGTERM', () => { shutdown(0) })
  process.on('SIGINT', () => { shutdown(0) })
  process.on('uncaughtException', (err) => {
    console.error(`[${name}] uncaught exception:`, err)
    shutdown(1)
  })
  process.on('unhandledRejection', (err) => {
    console.error(`[${name}] unhandled rejection:`, err)
    shutdown(1)
  })

  process.on('message', async (msg) => {
    if (msg?.type !== 'call') {
      return
    }
    if (msg.cmd === 'stop') {
      await shutdown(0)
      return
    }
    try {
      let result
      if (builtins[msg.cmd] != null) {
        result = await builtins[msg.cmd](msg.args)
      } else {
        const handler = role?.handlers?.[msg.cmd]
        if (handler == null) {
          throw new Error(`unknown command ${msg.cmd}`)
        }
        result = await handler(msg.args)
      }
      send({ type: 'reply', id: msg.id, ok: true, result })
    } catch (err) {
      send({ type: 'reply', id: msg.id, ok: false, error: err?.stack ?? String(err) })
    }
  })

  setup(config).then((r) => {
    role = r
    send({ type: 'ready', info: r.info })
  }, (err) => {
    console.error(`[${name}] setup failed:`, err)
    process.exit(1)
  })
}
