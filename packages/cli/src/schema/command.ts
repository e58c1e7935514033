/**
 * A command, declared once: its options schema (from the builders of
 * `fields.ts`), the checks that span several options, and the words of its
 * `--help`. The flag parser, the config-file reader, `--help` and the docs
 * test are generic over this.
 */

import type * as z from 'zod'

/**
 * Names where an option came from, for messages: `--flag`, `--no-flag`,
 * `"key" in <file>`, or the option's name when a caller passed it in code
 */
export type Source <K extends string = string> = (option: K) => string

export interface CommandSpec <S extends z.ZodRawShape = z.ZodRawShape> {
  /** As typed after `kitsune` */
  name: string
  /** One line for `kitsune --help` */
  summary: string
  /** Paragraphs between the usage line and the options */
  description: string
  /** Whether `-c, --config <path>` reads a JSON file */
  configFile: boolean
  /** The options; their order is the order of `--help` */
  options: z.ZodObject<S>
  /** The `--help` section of options that name none */
  group?: string
  /** What `--config` adds to its help line */
  configHelp?: string
  /** Objects the config file nests inside an option (e.g. route objects), for `--help` */
  fileObjects?: Array<{ title: string, shape: z.ZodRawShape }>
  /** Command lines shown under `Examples:` */
  examples: string[]
  /** Checks across options, after each is valid; throws an `Error` naming the values through `from` */
  check?(options: z.output<z.ZodObject<S>>, from: Source<Extract<keyof S, string>>): void
}

/**
 * Declares a command (an identity function that keeps the types)
 */
export function command <S extends z.ZodRawShape> (spec: CommandSpec<S>): CommandSpec<S> {
  return spec
}
