/**
 * `--help` text, rendered from a command's schema: every flag with its
 * default, then the keys only the config file has, then the examples
 */

import { flagName } from './args.ts'
import { documentedDefault, infoOf } from './schema/fields.ts'
import type { CommandSpec } from './schema/command.ts'
import type { OptionInfo } from './schema/fields.ts'
import type * as z from 'zod'

const WIDTH = 80
const MAX_COLUMN = 35

/**
 * A default for a person: lists joined with "and", nothing as "none"
 */
function defaultText (schema: z.core.$ZodType, info: OptionInfo): string {
  if (info.defaultText != null) {
    return info.defaultText
  }
  const value = documentedDefault(schema)
  if (value == null || (Array.isArray(value) && value.length === 0)) {
    return info.unset != null ? `none (${info.unset})` : 'none'
  }
  if (Array.isArray(value)) {
    return value.join(' and ')
  }
  return typeof value === 'string' && value === '*' ? '"*"' : String(value)
}

function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  return line === '' ? lines : [...lines, line]
}

/**
 * Two columns: a label, and its description wrapped beside it
 */
export function table (rows: Array<[string, string]>, indent: string, column = columnOf(rows, indent)): string[] {
  return rows.flatMap(([label, text]) => {
    const head = `${indent}${label}`
    const body = wrap(text, WIDTH - column)
    const first = head.length < column ? [`${head.padEnd(column)}${body.shift() ?? ''}`] : [head]
    return [...first, ...body.map(line => `${' '.repeat(column)}${line}`)]
  })
}

export function columnOf (rows: Array<[string, string]>, indent: string): number {
  return Math.min(MAX_COLUMN, Math.max(...rows.map(([label]) => indent.length + label.length + 1)))
}

function sentence (text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`
}

/**
 * "Default: …" of a flag or key; a boolean flag's default is the flag
 * that states it
 */
function defaultLine (name: string, schema: z.core.$ZodType, info: OptionInfo): string {
  if (info.defaultText === '(required)') {
    return 'Required'
  }
  const value = documentedDefault(schema)
  if (info.kind === 'boolean' && info.flag !== false && typeof value === 'boolean') {
    return `Default: --${value ? '' : 'no-'}${flagName(name, info)}`
  }
  const range = info.range != null ? `; ${info.range}` : ''
  return `Default: ${defaultText(schema, info)}${range}`
}

function keyRows (shape: z.ZodRawShape): Array<[string, string]> {
  return Object.entries(shape).map(([key, field]) => [key, `${sentence(infoOf(field).help)} ${defaultLine(key, field, { ...infoOf(field), flag: false })}`])
}

function flagLabel (name: string, info: OptionInfo, defaultValue: unknown): string {
  const flag = flagName(name, info)
  const short = info.short != null ? `-${info.short}, ` : ''
  if (info.kind === 'boolean') {
    return `${short}--${defaultValue === true ? `no-${flag}` : flag}`
  }
  return `${short}--${flag} ${info.value ?? '<value>'}`
}

/**
 * The config file's objects of limits, with each key's default
 */
function fileOnly (spec: CommandSpec<any>): string[] {
  const lines: string[] = []
  for (const [name, schema] of Object.entries(spec.options.shape as z.ZodRawShape)) {
    const info = infoOf(schema)
    if (info.kind !== 'object') {
      continue
    }
    const shape = (schema._zod.def as any).innerType.shape as z.ZodRawShape
    lines.push('', ...wrap(`"${info.key ?? name}": ${info.help}. Positive integers unless noted:`, WIDTH - 2).map(line => `  ${line}`))
    lines.push(...table(keyRows(shape), '    '))
  }
  return lines
}

/**
 * A command's `--help`
 */
export function renderHelp (spec: CommandSpec<any>): string {
  const extras = spec.fileObjects ?? []
  const entries = Object.entries(spec.options.shape as z.ZodRawShape).map(([name, schema]) => [name, schema, infoOf(schema)] as const)
  const positional = entries.filter(([, , info]) => info.positional === true).map(([, , info]) => info.value)
  const required = entries.filter(([, , info]) => info.positional !== true && info.defaultText === '(required)').map(([name, , info]) => `--${flagName(name, info)} ${info.value ?? ''}`.trim())
  const lines = [`Usage: kitsune ${[spec.name, ...positional, ...required].join(' ')} [options]`, '', spec.description]

  const groups = new Map<string, Array<[string, string]>>()
  for (const [name, schema, info] of entries) {
    if (info.flag === false || info.positional === true) {
      continue
    }
    const group = info.group ?? spec.group ?? 'Options'
    const repeatable = info.kind === 'list' ? 'repeatable; ' : ''
    const text = `${repeatable}${sentence(info.help)} ${defaultLine(name, schema, info)}`
    groups.set(group, [...groups.get(group) ?? [], [flagLabel(name, info, documentedDefault(schema)), text]])
  }
  const general: Array<[string, string]> = [['-h, --help', 'show this help']]
  if (spec.configFile) {
    general.unshift(['-c, --config <path>', `read options from a JSON file; flags win. ${spec.configHelp ?? ''}`.trim()])
  }
  const column = columnOf([...[...groups.values()].flat(), ...general], '  ')
  for (const [group, rows] of groups) {
    lines.push('', `${group}:`, ...table(rows, '  ', column))
  }
  lines.push('', ...table(general, '  ', column))

  const file = fileOnly(spec)
  if (file.length > 0 || extras.length > 0) {
    lines.push('', 'Config file only (see docs/cli.md):', ...file)
    for (const extra of extras) {
      lines.push('', `  ${extra.title}:`, ...table(keyRows(extra.shape), '    '))
    }
  }

  lines.push('', spec.examples.length > 1 ? 'Examples:' : 'Example:', ...spec.examples.flatMap(example => example.split('\n').map(line => `  ${line}`)), '')
  return lines.join('\n')
}
