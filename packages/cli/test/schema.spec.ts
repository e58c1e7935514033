import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bitswapForwarderOptions } from '@kitsune/bitswap-forwarder'
import { frontDoorConnectionManager, frontDoorMplexOptions, frontDoorMuxerOptions } from '@kitsune/proxy'
import { expect } from 'aegir/chai'
import { flagName } from '../src/args.ts'
import { parseGetArgs, parseNodeArgs, parseProxyArgs } from '../src/config.ts'
import { UsageError } from '../src/errors.ts'
import { renderHelp } from '../src/help.ts'
import { documentedDefault, infoOf } from '../src/schema/fields.ts'
import { getCommand } from '../src/schema/get.ts'
import { nodeCommand } from '../src/schema/node.ts'
import { forwarder, frontDoor, proxyCommand } from '../src/schema/proxy.ts'
import { routeObject } from '../src/schema/route.ts'
import type { CommandSpec } from '../src/schema/command.ts'
import type * as z from 'zod'

interface Table {
  section: string
  /** The paragraph right above the table */
  label: string
  rows: Array<Record<string, string>>
}

/**
 * The tables of a markdown file, with the `##` section and the paragraph
 * above each
 */
function tables (markdown: string): Table[] {
  const out: Table[] = []
  let section = ''
  let paragraph: string[] = []
  let last: string[] = []
  let table: Table | undefined
  let header: string[] = []
  const cells = (line: string): string[] => line.replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map(cell => cell.trim())

  for (const line of markdown.split('\n')) {
    if (line.startsWith('|')) {
      if (table == null) {
        table = { section, label: (paragraph.length > 0 ? paragraph : last).join(' '), rows: [] }
        header = cells(line)
        out.push(table)
      } else if (!/^\|[\s|-]+\|$/.test(line)) {
        const row = cells(line)
        table.rows.push(Object.fromEntries(header.map((name, i) => [name, row[i]])))
      }
      continue
    }
    table = undefined
    if (line.startsWith('## ')) {
      section = line.slice(3)
      paragraph = []
      last = []
    } else if (line.trim() === '') {
      last = paragraph.length > 0 ? paragraph : last
      paragraph = []
    } else {
      paragraph.push(line)
    }
  }
  return out
}

/** A default cell as plain text */
function plain (cell: string): string {
  return cell.replace(/`/g, '').trim()
}

/**
 * Whether a docs default cell states the schema's default: the same value,
 * optionally followed by an explanation in parentheses
 */
function expectDefault (cell: string | undefined, schema: z.core.$ZodType, what: string): void {
  expect(cell, `${what} is not in docs/cli.md`).to.be.a('string')
  const info = infoOf(schema)
  const value = documentedDefault(schema)
  let expected: string[]
  if (info.defaultText != null) {
    expected = [info.defaultText]
  } else if (value === undefined) {
    expected = [info.unset != null ? `— (${info.unset})` : '—']
  } else if (Array.isArray(value)) {
    expected = [JSON.stringify(value).replace(/","/g, '", "')]
  } else {
    expected = [String(value), JSON.stringify(value)]
  }
  const text = plain(cell ?? '')
  expect(expected.some(form => text === form || text.startsWith(`${form} (`)), `${what}: docs say "${text}", the schema ${expected[0]}`).to.be.true()
}

function rowOf (table: Table | undefined, column: string, name: string): Record<string, string> | undefined {
  return table?.rows.find(row => plain(row[column] ?? '') === name)
}

function optionsOf (spec: CommandSpec<any>): Array<[string, z.core.$ZodType]> {
  return Object.entries(spec.options.shape as z.ZodRawShape)
}

function innerShape (schema: z.core.$ZodType): z.ZodRawShape {
  return (schema._zod.def as any).innerType.shape
}

describe('schema', () => {
  let dir: string
  let docs: Table[]

  before(async () => {
    docs = tables(await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8'))
  })

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kitsune-schema-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function configError (command: 'proxy' | 'node', config: unknown, ...flags: string[]): Promise<Error | undefined> {
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify(config))
    const parse = command === 'node' ? parseNodeArgs : parseProxyArgs
    return parse(['--config', file, ...flags]).then(() => undefined, (err: Error) => err)
  }

  it('documents every option of every command in docs/cli.md, with the schema\'s default', () => {
    for (const spec of [proxyCommand, nodeCommand]) {
      const section = docs.filter(table => table.section === `\`kitsune ${spec.name}\``)
      const flags = section.find(table => table.rows[0]?.['config key'] != null)
      for (const [name, schema] of optionsOf(spec)) {
        const info = infoOf(schema)
        const key = info.key ?? name
        if (info.kind !== 'object') {
          const row = rowOf(flags, 'config key', key)
          expectDefault(row?.default, schema, `${spec.name} ${key}`)
          expect(row?.flag, key).to.include(`--${flagName(name, info)}`)
          continue
        }
        // an object of limits: its own table, or, for keys shared with the proxy, named in the paragraph above
        const own = section.find(table => table.label.startsWith(`\`${key}\``))
        for (const [inner, field] of Object.entries(innerShape(schema))) {
          const row = rowOf(own, 'key', inner)
          if (row == null && spec.name !== 'proxy') {
            expect(own?.label, `${spec.name} ${key}.${inner}`).to.include(`\`${inner}\``)
            const proxyTable = docs.find(table => table.section === '`kitsune proxy`' && table.label.startsWith(`\`${key}\``))
            expectDefault(rowOf(proxyTable, 'key', inner)?.default, field, `${spec.name} ${key}.${inner}`)
          } else {
            expectDefault(row?.default, field, `${spec.name} ${key}.${inner}`)
          }
        }
      }
      // and nothing else: every documented key is in the schema
      const keys = optionsOf(spec).map(([name, schema]) => infoOf(schema).key ?? name)
      for (const row of flags?.rows ?? []) {
        if (plain(row['config key']) !== '—') {
          expect(keys, `${spec.name}: docs/cli.md documents ${row['config key']}`).to.include(plain(row['config key']))
        }
      }
    }

    const routes = docs.find(table => table.label.startsWith('A route object'))
    for (const [key, field] of Object.entries(routeObject.shape)) {
      expectDefault(rowOf(routes, 'key', key)?.default, field, `route.${key}`)
    }
    expect(routes?.rows.map(row => plain(row.key))).to.have.members(Object.keys(routeObject.shape))

    const get = docs.find(table => table.section === '`kitsune get`')
    for (const [name, schema] of optionsOf(getCommand)) {
      const info = infoOf(schema)
      const row = get?.rows.find(row => info.positional === true ? plain(row.flag) === info.value : plain(row.flag).includes(`--${flagName(name, info)} `))
      expectDefault(row?.default, schema, `get ${name}`)
    }
  })

  it('describes every option and its default in --help', () => {
    for (const spec of [proxyCommand, nodeCommand, getCommand]) {
      const help = renderHelp(spec).replace(/\s+/g, ' ')
      for (const [name, schema] of optionsOf(spec)) {
        const info = infoOf(schema)
        if (info.kind === 'object') {
          expect(help).to.include(`"${info.key ?? name}":`)
          for (const inner of Object.keys(innerShape(schema))) {
            expect(help, `${spec.name} ${name}.${inner}`).to.match(new RegExp(` ${inner} [^]*?Default: `))
          }
        } else if (info.positional !== true) {
          expect(help, `${spec.name} ${name}`).to.include(`--${flagName(name, info)}`)
        }
      }
      for (const example of spec.examples) {
        expect(help).to.include(example.replace(/\s+/g, ' '))
      }
    }
  })

  it('documents the front door\'s defaults as @kitsune/proxy applies them', () => {
    const shape = innerShape(frontDoor)
    const applied = {
      ...frontDoorConnectionManager(),
      maxStreamWindowSize: frontDoorMuxerOptions().streamOptions.maxStreamWindowSize,
      mplexNewStreamsPerSecond: frontDoorMplexOptions().disconnectThreshold,
      mplexMaxMessageSize: frontDoorMplexOptions().maxMessageSize,
      mplexMaxUnprocessedBytes: frontDoorMplexOptions().maxUnprocessedMessageQueueSize
    }
    expect(Object.keys(applied)).to.have.members(Object.keys(shape))
    for (const [key, value] of Object.entries(applied)) {
      expect(documentedDefault(shape[key]), key).to.equal(value)
    }
  })

  it('documents the Bitswap forwarder\'s defaults as @kitsune/bitswap-forwarder applies them', () => {
    const shape = innerShape(forwarder)
    const applied = bitswapForwarderOptions({}) as unknown as Record<string, unknown>
    for (const key of Object.keys(shape)) {
      expect(documentedDefault(shape[key]), key).to.equal(applied[key])
    }
  })

  it('accepts the services\' values at their edges', async () => {
    // the preload API reads no body with maxBodySize 0 (it accepts zero or more)
    expect(await parseNodeArgs(['--config', await write({ preload: { maxBodySize: 0 } })])).to.have.deep.nested.property('options.preload', { maxBodySize: 0 })
    expect(await configError('proxy', { preload: { maxBodySize: 0, cors: [] } })).to.be.undefined()
    expect(await configError('node', { preload: { maxBodySize: -1 } })).to.have.property('message').that.matches(/maxBodySize must be an integer, 0 or more \(got -1\)/)

    // yamux: a window from its initial 256 KiB up to 2^32 - 1
    expect(await configError('proxy', { frontDoor: { maxStreamWindowSize: 256 * 1024 } })).to.be.undefined()
    expect(await configError('proxy', { frontDoor: { maxStreamWindowSize: 2 ** 32 - 1 } })).to.be.undefined()
    expect(await configError('proxy', { frontDoor: { maxStreamWindowSize: 256 * 1024 - 1 } })).to.be.an.instanceOf(UsageError)
    expect(await configError('proxy', { frontDoor: { maxStreamWindowSize: 2 ** 32 } })).to.be.an.instanceOf(UsageError)

    // a Node.js timer keeps at most 2^31 - 1 ms; a longer one fires at once
    expect(await configError('proxy', { pool: { dialTimeout: 2 ** 31 - 1 }, preload: { requestTimeout: 2 ** 31 - 1 } })).to.be.undefined()
    expect(await configError('proxy', { pool: { dialTimeout: 2 ** 31 } })).to.have.property('message').that.matches(/"pool" in .*\.dialTimeout must be an integer, 1 to 2147483647/)
    expect(() => parseGetArgs(['bafkqaaa', '--peer', '/ip4/127.0.0.1/tcp/1', '--timeout', String(2 ** 31)])).to.throw(UsageError, /--timeout/)

    // counts stay positive where 0 would stop the service working
    expect(await configError('proxy', { frontDoor: { maxConnections: 0 } })).to.have.property('message').that.matches(/maxConnections must be a positive integer \(got 0\)/)
    expect(await configError('node', { preload: { fetchConcurrency: 1.5 } })).to.be.an.instanceOf(UsageError)
  })

  it('names an unknown key, with the keys it knows, at any depth', async () => {
    const top = await configError('node', { apiListen: '/ip4/127.0.0.1/tcp/5001', listne: [] })
    expect(top?.message).to.match(/^unknown key "listne" in .*config\.json \(known: listen, apiListen, blockstore, key, metricsListen, json, dht, preload\)$/)
    const nested = await configError('proxy', { pool: { dialTimeOut: 5 } })
    expect(nested?.message).to.match(/^unknown key "dialTimeOut" in "pool" in .*config\.json \(known: dialTimeout, apiTimeout, /)
    const route = await configError('proxy', { route: [{ protocols: ['/a/1'], idle: 5 }] })
    expect(route?.message).to.match(/^unknown key "idle" in "route" in .*config\.json\[0\] \(known: protocols, strategy, /)
  })

  it('names a wrong type, and the value, in one line', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ listen: 5 }, /"listen" in .* must be a string or a list of strings \(got 5\)/],
      [{ listen: ['/ip4/127.0.0.1/tcp/0', 5] }, /"listen" in .*\[1\] must be a non-empty string \(got 5\)/],
      [{ route: [5] }, /"route" in .*\[0\] must be "<protocol>\[=<strategy>\]" or a route object \(got 5\)/],
      [{ route: [{ protocols: [] }] }, /"route" in .*\[0\]\.protocols must be a non-empty array of protocol ids/],
      [{ frontDoor: [] }, /"frontDoor" in .* must be an object/],
      [{ preload: { cors: [''] } }, /"preload" in .*\.cors\[0\] must be an origin/]
    ]
    for (const [config, message] of cases) {
      const err = await configError('proxy', config)
      expect(err, JSON.stringify(config)).to.be.an.instanceOf(UsageError).with.property('command', 'proxy')
      expect(err?.message, JSON.stringify(config)).to.match(message).and.not.include('\n')
    }
  })

  it('takes a flag over the file, names each where it came from, and checks a value a flag replaces', async () => {
    const file = await write({ json: true, metricsListen: '/ip4/127.0.0.1/tcp/9090', listen: ['/ip4/127.0.0.1/tcp/1'] })
    const parsed = await parseProxyArgs(['--config', file, '--no-json', '--listen', '/ip4/127.0.0.1/tcp/2'])
    expect(parsed).to.have.nested.property('options.json', false)
    expect(parsed).to.have.deep.nested.property('options.listen', ['/ip4/127.0.0.1/tcp/2'])
    expect(parsed).to.have.nested.property('options.metricsListen', '/ip4/127.0.0.1/tcp/9090')

    const flagged = await parseProxyArgs(['--config', file, '--metrics-listen', 'nope']).then(() => undefined, (err: Error) => err)
    expect(flagged?.message).to.match(/^--metrics-listen "nope" is not a multiaddr or URL/)
    const filed = await configError('proxy', { metricsListen: 'nope' })
    expect(filed?.message).to.match(/^"metricsListen" in .*config\.json "nope" is not a multiaddr or URL/)
    // a bad value in the file is an error even when a flag replaces it
    expect(await configError('proxy', { json: 'yes' }, '--json')).to.have.property('message').that.matches(/"json" in .* must be true or false \(got "yes"\)/)
  })

  async function write (config: unknown): Promise<string> {
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify(config))
    return file
  }
})
