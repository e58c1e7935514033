import { EXIT_FAILURE, EXIT_USAGE } from './constants.ts'

/**
 * Bad flags or a bad config file. The CLI prints the message and a `--help`
 * hint and exits with code 2.
 */
export class UsageError extends Error {
  static name = 'UsageError'
  name = 'UsageError'
  readonly exitCode = EXIT_USAGE
  /** The command whose `--help` the hint points at */
  readonly command?: string

  constructor (message: string, command?: string, options?: ErrorOptions) {
    super(message, options)
    this.command = command
  }
}

/**
 * A failure at run time that the operator can act on (an unreadable key, an
 * address already in use, a fetch that timed out). The CLI prints the
 * message and exits with code 1.
 */
export class CommandError extends Error {
  static name = 'CommandError'
  name = 'CommandError'
  readonly exitCode = EXIT_FAILURE
}

/**
 * `kitsune get` did not receive the whole file in time
 */
export class FetchTimeoutError extends CommandError {
  static name = 'FetchTimeoutError'
  name = 'FetchTimeoutError'
}
