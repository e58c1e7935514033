/**
 * Every `kitsune` command: its schema, and how it runs. A new command is a
 * schema in `schema/` and one entry here; `kitsune --help`, the dispatcher
 * in `bin.ts` and error messages follow.
 */

import { parseCommandArgs, parseCommandArgsSync } from './args.ts'
import { getCommand } from './schema/get.ts'
import { nodeCommand } from './schema/node.ts'
import { peerCommand } from './schema/peer.ts'
import { proxyCommand } from './schema/proxy.ts'
import { relayCommand } from './schema/relay.ts'
import { slicesAccountCommand, slicesBridgeCommand, slicesNodeCommand } from './schema/slices.ts'
import type { OptionsOf, Parsed } from './args.ts'
import type { CommandSpec } from './schema/command.ts'
import type * as z from 'zod'

/**
 * A command the `kitsune` binary runs
 */
export interface Command {
  spec: CommandSpec<any>
  /** Parses the arguments after the command's name */
  parse(args: string[]): Parsed<any> | Promise<Parsed<any>>
  /** Runs it; loads libp2p and Helia only now, so help and usage errors are quick */
  run(options: any): Promise<number>
}

function entry <S extends z.ZodRawShape> (spec: CommandSpec<S>, run: (options: OptionsOf<S>) => Promise<number>): Command {
  return {
    spec,
    parse: async args => spec.configFile ? parseCommandArgs(spec, args) : parseCommandArgsSync(spec, args),
    run
  }
}

/**
 * The commands, in the order `kitsune --help` lists them
 */
export const COMMANDS: Record<string, Command> = {
  proxy: entry(proxyCommand, async options => (await import('./proxy-command.ts')).runProxy(options)),
  node: entry(nodeCommand, async options => (await import('./node-command.ts')).runNode(options)),
  get: entry(getCommand, async options => (await import('./get-command.ts')).runGet(options)),
  relay: entry(relayCommand, async options => (await import('./relay-command.ts')).runRelay(options)),
  peer: entry(peerCommand, async options => (await import('./peer-command.ts')).runPeer(options)),
  'slices bridge': entry(slicesBridgeCommand, async options => (await import('./slices-command.ts')).runSlicesBridge(options)),
  'slices node': entry(slicesNodeCommand, async options => (await import('./slices-command.ts')).runSlicesNode(options)),
  'slices account': entry(slicesAccountCommand, async options => (await import('./slices-command.ts')).runSlicesAccount(options))
}
