#!/usr/bin/env node
/**
 * The `kitsune` command: dispatches to a command and turns its outcome into
 * an exit code. 0: done; 1: a run-time failure; 2: bad flags or config.
 */

import { logger } from '@libp2p/logger'
import { runParsed } from './command.ts'
import { parseGetArgs, parseNodeArgs, parseProxyArgs } from './config.ts'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './constants.ts'
import { UsageError } from './errors.ts'
import { getUsage, mainUsage, nodeUsage, proxyUsage, usageFor } from './usage.ts'
import { version } from './version.ts'

const log = logger('kitsune:cli')

async function main (args: string[]): Promise<number> {
  const [command, ...rest] = args

  switch (command) {
    // parse first, then load libp2p and Helia: help and usage errors are quick
    case 'proxy':
      return runParsed(await parseProxyArgs(rest), proxyUsage, async options => (await import('./proxy-command.ts')).runProxy(options))
    case 'node':
      return runParsed(await parseNodeArgs(rest), nodeUsage, async options => (await import('./node-command.ts')).runNode(options))
    case 'get':
      return runParsed(parseGetArgs(rest), getUsage, async options => (await import('./get-command.ts')).runGet(options))
    case 'help':
      process.stdout.write(usageFor(rest[0]))
      return EXIT_OK
    case '-h':
    case '--help':
      process.stdout.write(mainUsage())
      return EXIT_OK
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`)
      return EXIT_OK
    case undefined:
      throw new UsageError('missing command (proxy, node or get)')
    default:
      throw new UsageError(`unknown command "${command}" (known: proxy, node, get, help)`)
  }
}

function report (err: any, command?: string): number {
  log.error('%s failed - %e', command ?? 'kitsune', err)
  const prefix = command === 'proxy' || command === 'node' || command === 'get' ? `kitsune ${command}` : 'kitsune'

  if (err instanceof UsageError) {
    const help = err.command != null ? `kitsune ${err.command} --help` : 'kitsune --help'
    process.stderr.write(`${prefix}: ${err.message} (see ${help})\n`)
    return EXIT_USAGE
  }
  if (err?.name === 'IdentityError') {
    process.stderr.write(`${prefix}: cannot load the identity: ${err.message}\n`)
    return EXIT_FAILURE
  }
  process.stderr.write(`${prefix}: ${err?.message ?? String(err)}\n`)
  return EXIT_FAILURE
}

// `kitsune get … | head` closes stdout early: that is not an error
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') {
    process.exit(EXIT_OK)
  }
  throw err
})

const args = process.argv.slice(2)
const code = await main(args).catch(err => report(err, args[0]))

// let stdout and stderr drain, but do not wait for stray handles
process.exitCode = code
setTimeout(() => { process.exit(code) }, 1000).unref()
