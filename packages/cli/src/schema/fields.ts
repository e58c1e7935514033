/**
 * The building blocks of the command schemas: each builder returns a zod
 * schema and registers what the CLI needs to know about it beside the type
 * (its flag, config key, help line, documented default) in {@link optionInfo}.
 * Flag parsing, config-file validation, `--help` and the docs test all read
 * the schemas through this registry, so an option is declared once.
 */

import * as z from 'zod'

/** What a builder made, so the flag parser knows how to read it */
export type OptionKind = 'string' | 'list' | 'boolean' | 'integer' | 'object' | 'value'

/**
 * What the CLI knows about one option or config key, beside its type
 */
export interface OptionInfo {
  kind: OptionKind
  /** The `--help` description */
  help: string
  /** The flag's value placeholder, e.g. `<multiaddr>` */
  value?: string
  /** The config-file key, when it is not the option's name */
  key?: string
  /** `false`: config file only, no flag */
  flag?: false
  /** `false`: flag only, no config key */
  file?: false
  /** A one-letter alias, e.g. `p` for `-p` */
  short?: string
  /** The `--help` section */
  group?: string
  /** A path: relative in the config file means relative to the file */
  path?: true
  /** Given as a positional argument, not a flag */
  positional?: true
  /** The default, as documented, when the schema's own default is not it (the service's, or the command's) */
  default?: unknown
  /** The default in words, when it depends on other options */
  defaultText?: string
  /** What happens when the option is not given and there is no default */
  unset?: string
  /** The accepted range, in words, when it is not "a positive integer" */
  range?: string
}

/**
 * Option information of every schema built here
 */
export const optionInfo = z.registry<OptionInfo>()

/**
 * The option information of a schema; every schema built here has one
 */
export function infoOf (schema: z.core.$ZodType): OptionInfo {
  const info = optionInfo.get(schema)
  if (info == null) {
    throw new Error('a command option was not built with the builders of schema/fields.ts')
  }
  return info
}

/**
 * The default a schema applies itself (`.default()` / `.prefault()`), if any
 */
export function schemaDefault (schema: z.core.$ZodType): unknown {
  const def = schema._zod.def as { type: string, defaultValue?: unknown }
  return def.type === 'default' || def.type === 'prefault' ? def.defaultValue : undefined
}

/**
 * The documented default of an option: its {@link OptionInfo.default}, or
 * the schema's own
 */
export function documentedDefault (schema: z.core.$ZodType): unknown {
  const info = infoOf(schema)
  return info.default ?? schemaDefault(schema)
}

/**
 * A string checked and converted by a parser
 */
export type Parsed <T> = z.ZodPipe<z.ZodString, z.ZodTransform<Awaited<T>, string>>

/**
 * Turns a parser that throws into a zod transform that reports the error's
 * message as an issue. Messages quote the value themselves.
 */
export function parsed <T> (parse: (value: string) => T): Parsed<T> {
  return nonEmptyString().transform((value, ctx) => {
    try {
      return parse(value)
    } catch (err: any) {
      ctx.issues.push({ code: 'custom', message: err.message, input: value })
      return z.NEVER
    }
  }) as any
}

function nonEmptyString (): z.ZodString {
  return z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' })
}

type Info = Omit<OptionInfo, 'kind'>

/**
 * A string option, checked (and normalised) by `parse` when given
 */
export function string (info: Info, parse: (value: string) => string = value => value): z.ZodOptional<Parsed<string>> {
  const schema = parsed(parse).optional()
  schema.register(optionInfo, { kind: 'string', ...info })
  return schema
}

/**
 * A string option with a default, which is checked and normalised like a
 * given value
 */
export function stringWithDefault (defaultValue: string, info: Info, parse: (value: string) => string): z.ZodPrefault<Parsed<string>> {
  const schema = parsed(parse).prefault(defaultValue)
  schema.register(optionInfo, { kind: 'string', ...info })
  return schema
}

/**
 * A repeatable flag; in the config file an array, or a single item
 */
export type List <T extends z.ZodType> = z.ZodDefault<z.ZodPipe<z.ZodUnion<readonly [T, z.ZodArray<T>]>, z.ZodTransform<Array<z.output<T>>, z.output<T> | Array<z.output<T>>>>>

export function list <T extends z.ZodType> (item: T, info: Info, error: string): List<T> {
  const schema: List<T> = z.union([item, z.array(item)], { error })
    .transform((value): Array<z.output<T>> => Array.isArray(value) ? value : [value])
    .default([])
  optionInfo.add(schema, { kind: 'list', ...info })
  return schema
}

/**
 * A repeatable string flag, each value checked (and normalised) by `parse`
 */
export function stringList (info: Info, parse: (value: string) => string = value => value): List<Parsed<string>> {
  return list(parsed(parse), info, 'must be a string or a list of strings')
}

/**
 * A `--flag` / `--no-flag` option
 */
export function flag (defaultValue: boolean, info: Info): z.ZodDefault<z.ZodBoolean> {
  const schema = z.boolean({ error: 'must be true or false' }).default(defaultValue)
  schema.register(optionInfo, { kind: 'boolean', ...info })
  return schema
}

/**
 * A boolean config key with no default of the CLI's own
 */
export function optionalBoolean (info: Info): z.ZodOptional<z.ZodBoolean> {
  const schema = z.boolean({ error: 'must be true or false' }).optional()
  schema.register(optionInfo, { kind: 'boolean', ...info })
  return schema
}

/**
 * The largest delay Node.js timers keep (2^31 - 1 ms); a longer one fires
 * after 1 ms
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1

export interface IntegerRange {
  /** @default 1 */
  min?: number
  /** @default Number.MAX_SAFE_INTEGER */
  max?: number
}

function rangeText (min: number, max: number): string | undefined {
  if (max === Number.MAX_SAFE_INTEGER) {
    return min === 1 ? undefined : min === 0 ? '0 or more' : `${min} or more`
  }
  return `${min} to ${max}`
}

function integerSchema ({ min = 1, max = Number.MAX_SAFE_INTEGER }: IntegerRange): { schema: z.ZodNumber, range?: string } {
  const range = rangeText(min, max)
  const error = `must be ${range == null ? 'a positive integer' : `an integer, ${range}`}`
  return { schema: z.number({ error }).int({ error }).min(min, { error }).max(max, { error }), range }
}

/**
 * A whole number in the config file (counts, bytes), by default positive;
 * the service applies its own default when it is not given
 */
export function integer (info: Info & IntegerRange): z.ZodOptional<z.ZodNumber> {
  const { min, max, ...rest } = info
  const { schema, range } = integerSchema({ min, max })
  const optional = schema.optional()
  optional.register(optionInfo, { kind: 'integer', flag: false, range, ...rest })
  return optional
}

/**
 * A duration in ms in the config file: positive, and at most what a Node.js
 * timer keeps ({@link MAX_TIMER_DELAY})
 */
export function ms (info: Info & Pick<IntegerRange, 'min'>): z.ZodOptional<z.ZodNumber> {
  return integer({ ...info, max: MAX_TIMER_DELAY })
}

/**
 * A whole-number flag with a default (`-t 500`)
 */
export function integerFlag (defaultValue: number, info: Info & IntegerRange): z.ZodDefault<z.ZodPreprocess<z.ZodNumber>> {
  const { min, max, ...rest } = info
  const { schema, range } = integerSchema({ min, max })
  const fromText = z.preprocess(value => typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value, schema)
  const withDefault = fromText.default(defaultValue)
  withDefault.register(optionInfo, { kind: 'integer', range, ...rest })
  return withDefault
}

/**
 * Any other value (a positional CID, a multiaddr object), parsed from a
 * string by `parse`
 */
export function value <T> (info: Info, parse: (value: string) => T): Parsed<T> {
  const schema = parsed(parse)
  schema.register(optionInfo, { kind: 'value', ...info })
  return schema
}

/**
 * The messages of an object schema: its type, and the keys it knows
 */
export function objectError (shape: z.ZodRawShape, typeError: string): (issue: z.core.$ZodRawIssue) => string | undefined {
  return issue => issue.code === 'unrecognized_keys' ? `(known: ${Object.keys(shape).join(', ')})` : issue.code === 'invalid_type' ? typeError : undefined
}

/**
 * A config-file-only object of limits; unknown keys are an error
 */
export function limits <S extends z.ZodRawShape> (shape: S, info: Info): z.ZodDefault<z.ZodObject<S, z.core.$strict>> {
  const schema = z.strictObject(shape, { error: objectError(shape, 'must be an object') }).default({} as any)
  schema.register(optionInfo, { kind: 'object', flag: false, ...info })
  return schema
}

/**
 * The keys of an object schema, in the config file's spelling
 */
export function fileKeys (shape: z.ZodRawShape): string[] {
  return Object.entries(shape).filter(([, schema]) => infoOf(schema).file !== false).map(([name, schema]) => infoOf(schema).key ?? name)
}
