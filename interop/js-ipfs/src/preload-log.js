/**
 * js-ipfs reports what its preloader did only through its `debug` logger
 * `ipfs:preload` ("successfully preloaded <cid> in <n>ms" or
 * "unsuccessfully preloaded <cid> in <n>ms"; errors on `ipfs:preload:error`).
 * This module enables those namespaces on the very `debug` module instance
 * that js-ipfs's `@libp2p/logger` resolves and routes their output here, so a
 * test can wait for the outcome of js-ipfs's own preload of a CID.
 */
import { existsSync, realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { format } from 'node:util'

const NAMESPACES = ['ipfs:preload', 'ipfs:preload:error']

/**
 * The directory of package `name` as Node resolves it from `fromDir`
 * (walking up through `node_modules`), for packages whose `exports` have no
 * `require` condition
 *
 * @param {string} name
 * @param {string} fromDir
 */
function packageDir (name, fromDir) {
  let dir = fromDir
  while (true) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) {
      return realpathSync(candidate)
    }
    const parent = dirname(dir)
    if (parent === dir) {
      throw new Error(`cannot find ${name} from ${fromDir}`)
    }
    dir = parent
  }
}

// ipfs-core → @libp2p/logger → debug, resolved the way Node resolves them
const ipfsCoreDir = packageDir('ipfs-core', dirname(fileURLToPath(import.meta.url)))
const loggerDir = packageDir('@libp2p/logger', ipfsCoreDir)
const require = createRequire(join(loggerDir, 'package.json'))
/** @type {any} the `debug` function js-ipfs's loggers are made by */
const debug = require('debug')

/**
 * @typedef {object} LogLine
 * @property {number} at - Date.now() when it was logged
 * @property {string} namespace
 * @property {string} text
 */

/** @type {LogLine[]} */
const lines = []
/** @type {Set<() => void>} */
const listeners = new Set()

const enabledBefore = debug.disable()
debug.enable([enabledBefore, ...NAMESPACES].filter(Boolean).join(','))

const originalLog = debug.log
/** @this {any} */
debug.log = function (/** @type {any[]} */ ...args) {
  const namespace = String(this?.namespace ?? '')
  if (!NAMESPACES.includes(namespace)) {
    // namespaces someone enabled with DEBUG keep going to stderr
    return (originalLog ?? console.error).apply(this, args)
  }
  lines.push({ at: Date.now(), namespace, text: format(...args) })
  for (const listener of listeners) {
    listener()
  }
}

/**
 * A position in the log: wait only for lines logged after it
 */
export function mark () {
  return lines.length
}

/**
 * Every captured `ipfs:preload` line (from `since` on)
 *
 * @param {number} [since]
 */
export function preloadLines (since = 0) {
  return lines.slice(since)
}

/**
 * @param {LogLine} line
 */
function outcome (line) {
  const match = /\b(un)?successfully preloaded (\S+) in (\d+)ms/.exec(line.text)
  if (match == null) {
    return undefined
  }
  return { success: match[1] == null, cid: match[2], ms: Number(match[3]) }
}

/**
 * Resolves with `{ ms }` when js-ipfs logs "successfully preloaded <cid>"
 * (after position `since`); rejects, with every line captured since, when it
 * logs "unsuccessfully preloaded <cid>" or `timeout` passes
 *
 * @param {string | { toString(): string }} cid
 * @param {{ since?: number, timeout?: number }} [options]
 * @returns {Promise<{ ms: number, line: string }>}
 */
export async function waitForPreload (cid, options = {}) {
  const wanted = cid.toString()
  const since = options.since ?? 0
  const timeout = options.timeout ?? 60_000

  return new Promise((resolve, reject) => {
    let timer
    const check = () => {
      for (const line of lines.slice(since)) {
        const result = outcome(line)
        if (result?.cid !== wanted) {
          continue
        }
        done()
        if (result.success) {
          resolve({ ms: result.ms, line: line.text })
        } else {
          reject(new Error(`js-ipfs did not preload ${wanted}: ${line.text}\ncaptured ipfs:preload lines:\n${dump(since)}`))
        }
        return
      }
    }
    const done = () => {
      clearTimeout(timer)
      listeners.delete(check)
    }
    timer = setTimeout(() => {
      done()
      reject(new Error(`js-ipfs reported no preload outcome for ${wanted} within ${timeout} ms\ncaptured ipfs:preload lines:\n${dump(since)}`))
    }, timeout)
    listeners.add(check)
    check()
  })
}

/**
 * @param {number} since
 */
function dump (since) {
  const captured = lines.slice(since)
  return captured.length === 0 ? '  (none)' : captured.map(line => `  ${line.text.trim()}`).join('\n')
}
