/**
 * Embedded mode: `kitsune proxy` with no downstream option starts its own
 * downstreams, in-process Helia nodes with a sample file and a preload
 * endpoint (`withPreload` of `@kitsune/preload`), so a newcomer can watch a
 * fetch, and a preload, go through the proxy without setting anything up.
 * The nodes are built from explicit parts (see `helia-node.ts`: TCP on
 * 127.0.0.1 only, no routers, no discovery) and their APIs listen on
 * 127.0.0.1, so nothing leaves the machine.
 */

import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { basename, delimiter, isAbsolute, join, relative, sep } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { withPreload } from '@kitsune/preload'
import { logger } from '@libp2p/logger'
import { EMBEDDED_API_LISTEN, EMBEDDED_DOWNSTREAMS } from './constants.ts'
import { localHelia } from './helia-node.ts'
import { apiBase } from './output.ts'
import type { PreloadHelia } from './helia-node.ts'
import type { CID } from 'multiformats/cid'

const log = logger('kitsune:cli:embedded')

/**
 * The sample file embedded downstreams hold. Its content never changes, so
 * neither does its CID.
 */
export const SAMPLE_FILE = new TextEncoder().encode(`Hello from Kitsune!

This file lives on two Helia nodes that run inside the kitsune process,
behind the proxy. Your client only ever talked to the proxy's peer id:
the proxy forwarded its Bitswap wants to a downstream, and the blocks
came back the same way.

Next: point the proxy at your own IPFS nodes with --downstream or
--downstream-api, and run it under your well-known node's key with --key
or --kubo-config. See kitsune proxy --help.
`)

/**
 * The in-process downstreams of embedded mode
 */
export interface EmbeddedDownstreams {
  /** The Helia nodes, each with a preload endpoint */
  nodes: PreloadHelia[]
  /** One `/p2p/` multiaddr per node */
  multiaddrs: string[]
  /**
   * One Kubo RPC API URL per node (`http://127.0.0.1:<port>`), to give the
   * proxy as downstreams: preloading through the proxy needs a downstream's
   * `/api/v0/refs`
   */
  apis: string[]
  /** CID of the sample file, held by every node */
  cid: CID
  /** The sample file's bytes */
  content: Uint8Array
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  /**
   * How many Helia nodes to start
   *
   * @default 2
   */
  count?: number
  /** Bytes of the sample file */
  content?: Uint8Array
}

/**
 * Starts Helia nodes on 127.0.0.1 with in-memory stores and a preload
 * endpoint each, and adds the sample file to each
 */
export async function startEmbeddedDownstreams (options: EmbeddedOptions = {}): Promise<EmbeddedDownstreams> {
  const count = options.count ?? EMBEDDED_DOWNSTREAMS
  const content = options.content ?? SAMPLE_FILE
  const nodes: PreloadHelia[] = []

  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async node => { await node.stop() }))
  }

  try {
    for (let i = 0; i < count; i++) {
      const helia = withPreload(localHelia({ listen: ['/ip4/127.0.0.1/tcp/0'] }), { listen: EMBEDDED_API_LISTEN }) as unknown as PreloadHelia
      nodes.push(helia)
      await helia.start()
    }

    if (nodes.length === 0) {
      throw new Error('embedded mode needs at least one downstream')
    }
    const cids = await Promise.all(nodes.map(async node => unixfs(node).addBytes(content)))
    const cid = cids[0]
    if (cids.some(other => !other.equals(cid))) {
      throw new Error(`embedded downstreams disagree on the sample CID (${cids.join(', ')})`)
    }

    const multiaddrs = nodes.map(node => {
      const address = node.libp2p.getMultiaddrs()[0]
      if (address == null) {
        throw new Error('an embedded downstream has no listen address')
      }
      return address.toString()
    })
    const apis = nodes.map(node => apiBase(node.preload, 'an embedded downstream'))
    log('started %d embedded downstreams holding %c: %s (APIs %s)', nodes.length, cid, multiaddrs.join(', '), apis.join(', '))

    return { nodes, multiaddrs, apis, cid, content, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export interface CommandContext {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** `process.argv[1]`, the script that is running */
  script?: string
  /** `process.execPath` */
  execPath?: string
}

/**
 * The command a newcomer can paste into another terminal, in the same
 * directory, to fetch `cid` through the proxy at `peer`:
 *
 * under an npm script, from a project whose package.json has a `kitsune`
 * script, `npm run -s kitsune -- get …`; through an installed `kitsune` bin,
 * `kitsune get …` (`npx kitsune get …` under npx); otherwise the Node binary
 * running now and the path of this script, so that the command works even
 * where the `node` on the PATH is too old.
 */
export function fetchCommand (cid: string, peer: string, context: CommandContext = {}): string {
  const cwd = context.cwd ?? process.cwd()
  const env = context.env ?? process.env
  const script = context.script ?? process.argv[1] ?? 'kitsune'
  const execPath = context.execPath ?? process.execPath
  const args = `get ${cid} --peer ${peer}`

  if (env.npm_lifecycle_event != null && hasKitsuneScript(cwd)) {
    return `npm run -s kitsune -- ${args}`
  }

  if (basename(script) === 'kitsune') {
    return env.npm_command === 'exec' ? `npx kitsune ${args}` : `kitsune ${args}`
  }

  return `${quote(nodeCommand(cwd, env, execPath))} ${quote(shortPath(cwd, script))} ${args}`
}

function hasKitsuneScript (dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    return typeof pkg?.scripts?.kitsune === 'string'
  } catch {
    return false
  }
}

function sameFile (a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b)
  } catch {
    return false
  }
}

function nodeCommand (cwd: string, env: NodeJS.ProcessEnv, execPath: string): string {
  const local = join(cwd, 'node_modules', '.bin', 'node')
  if (existsSync(local) && sameFile(local, execPath)) {
    return join('node_modules', '.bin', 'node')
  }

  // the first `node` on the PATH outside node_modules/.bin, as a shell would find it
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.endsWith(join('node_modules', '.bin'))) {
      continue
    }
    const candidate = join(dir, 'node')
    if (existsSync(candidate)) {
      return sameFile(candidate, execPath) ? 'node' : shortPath(cwd, execPath)
    }
  }

  return shortPath(cwd, execPath)
}

function shortPath (cwd: string, path: string): string {
  const rel = relative(cwd, path)
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    return path
  }
  return rel.includes(sep) ? rel : `.${sep}${rel}`
}

function quote (text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`
}
