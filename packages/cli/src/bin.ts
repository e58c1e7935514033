#!/usr/bin/env node
/**
 * The `kitsune` command: dispatches to a command and turns its outcome into
 * an exit code. 0: done; 1: a run-time failure; 2: bad flags or config.
 */

import { logger } from '@libp2p/logger'
import { runParsed } from './command.ts'
import { COMMANDS } from './commands.ts'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './constants.ts'
import { UsageError } from './errors.ts'
import { mainUsage, usageFor } from './usage.ts'
import { version } from './version.ts'

const log = logger('kitsune:cli')

/**
 * The command named by the first arguments (one word, or two for a command
 * with subcommands such as `slices bridge`), and the arguments after it
 */
function resolve (args: string[]): [string | undefined, string[]] {
  const two = args.slice(0, 2).join(' ')
  return Object.hasOwn(COMMANDS, two) ? [two, args.slice(2)] : [args[0], args.slice(1)]
}

async function main (args: string[]): Promise<number> {
  const [name, rest] = resolve(args)
  const command = name != null && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined

  if (command != null) {
    // parse first, then load libp2p and Helia: help and usage errors are quick
    return runParsed(await command.parse(rest), () => usageFor(name), command.run)
  }

  switch (name) {
    case 'help':
      process.stdout.write(usageFor(resolve(rest)[0]))
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
      throw new UsageError(`missing command (${Object.keys(COMMANDS).join(', ').replace(/, ([^,]*)$/, ' or $1')})`)
    default:
      throw new UsageError(`unknown command "${name}" (known: ${[...Object.keys(COMMANDS), 'help'].join(', ')})`)
  }
}

function report (err: any, command?: string): number {
  log.error('%s failed - %e', command ?? 'kitsune', err)
  const prefix = command != null && Object.hasOwn(COMMANDS, command) ? `kitsune ${command}` : 'kitsune'

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
const code = await main(args).catch(err => report(err, resolve(args)[0]))

// let stdout and stderr drain, but do not wait for stray handles
process.exitCode = code
setTimeout(() => { process.exit(code) }, 1000).unref()
