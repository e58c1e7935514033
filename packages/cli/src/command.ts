/**
 * What the commands share: help or run, and for the long-running ones
 * (`kitsune proxy`, `kitsune node`): start, print a `ready` line, run until
 * SIGINT or SIGTERM, stop gracefully and exit 0.
 */

import { EXIT_FAILURE, EXIT_OK, SHUTDOWN_TIMEOUT } from './constants.ts'
import { humanOutput, jsonOutput } from './output.ts'
import { version } from './version.ts'
import type { Parsed } from './config.ts'
import type { Output, OutputStreams } from './output.ts'
import type { Logger } from '@libp2p/interface'

/**
 * Prints a command's usage when it was asked for, and runs the command
 * otherwise. Returns the exit code.
 */
export async function runParsed <T> (parsed: Parsed<T>, usage: () => string, run: (options: T) => Promise<number>, streams?: Partial<OutputStreams>): Promise<number> {
  if (parsed.help) {
    (streams?.stdout ?? process.stdout).write(usage())
    return EXIT_OK
  }
  return run(parsed.options)
}

/**
 * Resolves with the name of the first SIGINT or SIGTERM; `cancel` removes the
 * handlers
 */
function onSignal (): { signalled: Promise<NodeJS.Signals>, cancel(): void } {
  let cancel = (): void => {}
  const signalled = new Promise<NodeJS.Signals>(resolve => {
    const handler = (signal: NodeJS.Signals): void => {
      cancel()
      resolve(signal)
    }
    cancel = () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    }
    process.on('SIGINT', handler)
    process.on('SIGTERM', handler)
  })
  return { signalled, cancel }
}

/**
 * A daemon for {@link runDaemon}
 */
export interface DaemonInit<T extends { stop(): Promise<void> }> {
  /** The command, for the first human line */
  command: string
  /** JSON lines: the `ready` line comes first, warnings from the start wait for it */
  json: boolean
  streams?: OutputStreams
  log: Logger
  /** Starts the daemon; rejects with a `UsageError` or another error */
  start(onWarning: (message: string) => void): Promise<T>
  /** Prints the start-up lines, ending with the `ready` event */
  ready(running: T, output: Output): void
  /** Runs after the start-up warnings: event listeners, hints */
  started?(running: T, output: Output): void
}

/**
 * Starts a daemon, prints its `ready` line (JSON lines or human lines),
 * waits for SIGINT or SIGTERM and stops it within {@link SHUTDOWN_TIMEOUT}.
 * A second signal exits at once. Returns the exit code; throws what `start`
 * throws, for the caller to report.
 */
export async function runDaemon <T extends { stop(): Promise<void> }> (init: DaemonInit<T>): Promise<number> {
  const { json, log } = init
  const output: Output = json ? jsonOutput(init.streams) : humanOutput(init.streams)
  output.info(`kitsune ${init.command} ${version()}`)

  // listen before anything is printed: whoever reads the ready line may
  // signal at once. A signal during start-up stops the daemon once it is up.
  const { signalled, cancel } = onSignal()

  // in JSON mode the ready line comes first: warnings from the start wait for it
  const startupWarnings: string[] = []
  let running: T
  try {
    running = await init.start((message) => { json ? startupWarnings.push(message) : output.warn(message) })
  } catch (err: any) {
    cancel()
    if (json) {
      output.error(err.message)
    }
    throw err
  }

  // the ready line reflects every state change so far; later ones are events
  init.ready(running, output)
  startupWarnings.forEach(message => { output.warn(message) })
  init.started?.(running, output)

  // a stray rejection inside a library should not take the daemon down
  const onRejection = (reason: any): void => {
    log.error('unhandled rejection - %e', reason)
    output.error(`unhandled rejection: ${reason?.message ?? String(reason)}`)
  }
  process.on('unhandledRejection', onRejection)

  const signal = await signalled
  process.off('unhandledRejection', onRejection)
  output.emit({ event: 'stopping', signal })

  // a second signal does not wait for the graceful stop
  const force = (): void => {
    output.error('stopped without finishing the shutdown')
    process.exit(EXIT_FAILURE)
  }
  process.once('SIGINT', force)
  process.once('SIGTERM', force)

  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = await Promise.race([
    running.stop().then(() => false),
    new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, SHUTDOWN_TIMEOUT) })
  ])
  clearTimeout(timer)
  process.off('SIGINT', force)
  process.off('SIGTERM', force)

  if (timedOut) {
    output.error(`the shutdown took longer than ${SHUTDOWN_TIMEOUT} ms; exiting anyway`)
    return EXIT_FAILURE
  }

  output.emit({ event: 'stopped' })
  return EXIT_OK
}
