import { COMMANDS } from './commands.ts'
import { columnOf, renderHelp, table } from './help.ts'
import { infoOf } from './schema/fields.ts'
import { getCommand } from './schema/get.ts'
import { nodeCommand } from './schema/node.ts'
import { proxyCommand } from './schema/proxy.ts'
import type * as z from 'zod'

/**
 * `kitsune --help`
 */
export function mainUsage (): string {
  const commands: Array<[string, string]> = Object.entries(COMMANDS).map(([name, { spec }]) => {
    const positional = Object.values(spec.options.shape as z.ZodRawShape).map(schema => infoOf(schema)).filter(info => info.positional === true).map(info => info.value)
    return [[name, ...positional].join(' '), spec.summary]
  })
  const rows: Array<[string, string]> = [...commands, ['help [command]', 'show help for a command']]
  const column = columnOf(rows, '  ')
  return [
    'Usage: kitsune <command> [options]',
    '',
    'Run Kitsune\'s libp2p services.',
    '',
    'Commands:',
    ...table(rows, '  ', column),
    '',
    'Options:',
    ...table([['-h, --help', 'show help'], ['-v, --version', 'show the version']], '  ', column),
    '',
    'Run \'kitsune <command> --help\' for a command\'s options.',
    'Logs: DEBUG=kitsune:* (add ,libp2p:* for libp2p\'s own).',
    ''
  ].join('\n')
}

/**
 * The usage text of a command, or the main usage
 */
export function usageFor (command?: string): string {
  const spec = command != null ? COMMANDS[command]?.spec : undefined
  return spec != null ? renderHelp(spec) : mainUsage()
}

/** `kitsune proxy --help` */
export const proxyUsage = (): string => renderHelp(proxyCommand)

/** `kitsune node --help` */
export const nodeUsage = (): string => renderHelp(nodeCommand)

/** `kitsune get --help` */
export const getUsage = (): string => renderHelp(getCommand)
