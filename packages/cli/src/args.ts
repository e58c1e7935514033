/**
 * Turns a command line, and the JSON config file it names, into a command's
 * validated options, for any {@link CommandSpec}: flags come from the
 * schema's options, the file's keys are the same options in camelCase,
 * flags win over the file, and every problem is a {@link UsageError} with
 * one line naming the flag or key and the value.
 */

import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError } from './errors.ts'
import { oneLine } from './schema/addresses.ts'
import { fileKeys, infoOf } from './schema/fields.ts'
import type { CommandSpec } from './schema/command.ts'
import type { OptionInfo } from './schema/fields.ts'
import type * as z from 'zod'

/**
 * The result of parsing a command line: either the options, or a request
 * for help
 */
export type Parsed<T> = { help: true } | { help: false, options: T }

/**
 * The options of a command, after validation
 */
export type OptionsOf <S extends z.ZodRawShape> = z.output<z.ZodObject<S>>

type Values = Record<string, string | boolean | string[] | undefined>

/**
 * `--kubo-config` for `kuboConfig` (or for its config key, when it has one)
 */
export function flagName (name: string, info: OptionInfo): string {
  return (info.key ?? name).replace(/[A-Z]/g, letter => `-${letter.toLowerCase()}`)
}

function entries (spec: CommandSpec<any>): Array<[string, z.ZodType, OptionInfo]> {
  return Object.entries(spec.options.shape as z.ZodRawShape).map(([name, schema]) => [name, schema as z.ZodType, infoOf(schema as z.ZodType)])
}

/**
 * The `util.parseArgs` options of a command, from its schema
 */
function flagSpec (spec: CommandSpec<any>): Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }> {
  const flags: ReturnType<typeof flagSpec> = { help: { type: 'boolean', short: 'h' } }
  if (spec.configFile) {
    flags.config = { type: 'string', short: 'c' }
  }
  for (const [name, , info] of entries(spec)) {
    if (info.flag !== false && info.positional !== true) {
      flags[flagName(name, info)] = {
        type: info.kind === 'boolean' ? 'boolean' : 'string',
        multiple: info.kind === 'list',
        ...(info.short != null ? { short: info.short } : {})
      }
    }
  }
  return flags
}

/**
 * Parses the flags, and the positional arguments in the order the schema
 * declares them. Synchronous: it reads no file.
 */
function parseCommandLine (spec: CommandSpec<any>, args: string[]): { help: true } | { help: false, raw: Record<string, unknown>, sources: Record<string, string>, config?: string } {
  let values: Values
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({ args, options: flagSpec(spec), allowPositionals: true, allowNegative: true, strict: true }) as { values: Values, positionals: string[] })
  } catch (err: any) {
    // keep the first sentence: "Unknown option '--foo'." without node's advice on '--'
    const message = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? oneLine(err.message).replace(/\. .*$/, '') : oneLine(err.message)
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1), spec.name)
  }
  if (values.help === true) {
    return { help: true }
  }

  const raw: Record<string, unknown> = {}
  const sources: Record<string, string> = {}
  const positional = entries(spec).filter(([, , info]) => info.positional === true)
  if (positionals.length > positional.length) {
    throw new UsageError(`unexpected argument "${positionals[positional.length]}"`, spec.name)
  }
  positional.forEach(([name], i) => {
    raw[name] = positionals[i]
    // the message quotes the value
    sources[name] = ''
  })

  for (const [name, , info] of entries(spec)) {
    const flag = flagName(name, info)
    const value = values[flag]
    if (info.flag !== false && info.positional !== true && value != null) {
      raw[name] = value
      sources[name] = value === false ? `--no-${flag}` : `--${flag}`
    }
  }
  return { help: false, raw, sources, config: values.config as string | undefined }
}

/**
 * Parses a command line with no config file (e.g. `kitsune get`)
 */
export function parseCommandArgsSync <S extends z.ZodRawShape> (spec: CommandSpec<S>, args: string[]): Parsed<OptionsOf<S>> {
  const line = parseCommandLine(spec, args)
  if (line.help) {
    return line
  }
  return { help: false, options: validateOptions(spec, line.raw, line.sources) }
}

/**
 * Parses a command line and the `--config` file it names, flags winning
 * over the file (a repeatable flag's list replaces the file's list)
 */
export async function parseCommandArgs <S extends z.ZodRawShape> (spec: CommandSpec<S>, args: string[]): Promise<Parsed<OptionsOf<S>>> {
  const line = parseCommandLine(spec, args)
  if (line.help) {
    return line
  }
  const { raw, sources, config } = line
  if (config != null) {
    const file = await readConfigFile(spec, config)
    for (const [name, , info] of entries(spec)) {
      const key = info.key ?? name
      if (raw[name] === undefined && file[key] !== undefined) {
        raw[name] = file[key]
        sources[name] = `"${key}" in ${config}`
      }
    }
  }
  return { help: false, options: validateOptions(spec, raw, sources) }
}

/**
 * Reads a command's JSON config file and checks every value in it (also
 * those a flag will replace). Unknown keys are an error; relative paths are
 * resolved against the file's directory. Returns the values by config key,
 * as given.
 */
export async function readConfigFile (spec: CommandSpec<any>, path: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    throw new UsageError(`cannot read config file ${path} (${err.code ?? err.message})`, spec.name, { cause: err })
  }

  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err: any) {
    throw new UsageError(`config file ${path} is not valid JSON (${oneLine(err.message)})`, spec.name, { cause: err })
  }
  if (json == null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`config file ${path} must hold a JSON object`, spec.name)
  }

  const config = { ...json } as Record<string, unknown>
  const known = fileKeys(spec.options.shape)
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) {
      throw new UsageError(`unknown key "${key}" in ${path} (known: ${known.join(', ')})`, spec.name)
    }
  }

  const base = dirname(resolve(path))
  for (const [name, schema, info] of entries(spec)) {
    const key = info.key ?? name
    if (config[key] === undefined) {
      continue
    }
    const result = schema.safeParse(config[key], { reportInput: true })
    if (!result.success) {
      throw usageError(spec, result.error.issues, [name], () => `"${key}" in ${path}`)
    }
    if (info.path === true && typeof config[key] === 'string') {
      config[key] = resolve(base, config[key])
    }
  }
  return config
}

/**
 * Validates options, from the command line or from code, fills in the
 * defaults and runs the command's checks. `sources` names where each option
 * came from; an option without one is named as itself.
 */
export function validateOptions <S extends z.ZodRawShape> (spec: CommandSpec<S>, raw: unknown, sources: Partial<Record<string, string>> = {}): OptionsOf<S> {
  const from = (name: string): string => sources[name] ?? name
  const result = spec.options.safeParse(raw, { reportInput: true })
  if (!result.success) {
    throw usageError(spec, result.error.issues, [], from)
  }
  // every option is present, also when unset
  const options = Object.fromEntries(Object.keys(spec.options.shape).map(name => [name, (result.data as any)[name]])) as OptionsOf<S>
  try {
    spec.check?.(options, from)
  } catch (err: any) {
    throw new UsageError(err.message, spec.name)
  }
  return options
}

/**
 * Whether a union's branch failed on the type alone (so it is not the
 * branch the value meant)
 */
function wrongType (issues: readonly z.core.$ZodIssue[]): boolean {
  return issues.length > 0 && issues.every(issue => issue.path.length === 0 && (issue.code === 'invalid_type' || (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.errors.every(wrongType))))
}

/**
 * The first issue as one line: where (a flag, a key in a file, an option
 * name), the path below it, what is wrong and the value
 */
function usageError (spec: CommandSpec<any>, issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[], from: (name: string) => string): UsageError {
  let issue = issues[0]
  let path = [...prefix, ...issue.path]
  // a union reports every branch: keep the one whose type the value has
  while (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const meant = issue.errors.filter(branch => !wrongType(branch))
    if (meant.length !== 1) {
      break
    }
    issue = meant[0][0]
    path = [...path, ...issue.path]
  }

  const [name, ...rest] = path.map(String)
  const source = from(name)
  const info = spec.options.shape[name] != null ? infoOf(spec.options.shape[name]) : undefined
  if (issue.code === 'invalid_type' && issue.input === undefined && rest.length === 0 && info != null) {
    return new UsageError(`missing ${info.positional === true ? info.value : `--${flagName(name, info)} ${info.value ?? ''}`.trim()}`, spec.name)
  }
  if (issue.code === 'unrecognized_keys') {
    const where = source + below(source, rest)
    return new UsageError(`unknown key ${issue.keys.map(key => `"${key}"`).join(', ')} in ${where} ${issue.message}`, spec.name)
  }

  let where = source + below(source, rest)
  let got = issue.code !== 'custom' && issue.input !== undefined && (issue.input === null || typeof issue.input !== 'object') ? ` (got ${JSON.stringify(issue.input)})` : ''
  if (got !== '' && source.startsWith('--')) {
    // as for the other flags: --timeout "soon" must be …
    where = `${where} ${JSON.stringify(issue.input)}`
    got = ''
  }
  const message = `${where}${issue.message.startsWith(':') || where === '' ? '' : ' '}${issue.message}${got}`
  return new UsageError(message.trim(), spec.name)
}

/**
 * The path below an option: `.rateLimit`, `[1].idleTimeout`; a repeatable
 * flag's index is left out (the message quotes the value)
 */
function below (source: string, path: string[]): string {
  return path
    .filter(segment => !(source.startsWith('--') && /^\d+$/.test(segment)))
    .map(segment => /^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`)
    .join('')
}
