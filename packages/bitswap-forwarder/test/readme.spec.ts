import { readFile } from 'node:fs/promises'
import { expect } from 'aegir/chai'

/**
 * Keeps the README's options table true: every option of
 * `BitswapForwarderInit` has a row, every row an option, and each row's
 * default is the `@default` of the option's TSDoc
 */

const MiB = 1024 * 1024

async function read (path: string): Promise<string> {
  return readFile(new URL(`../${path}`, import.meta.url), 'utf8')
}

/**
 * The options of the `Init` interface and their `@default`s, from the TSDoc
 */
function optionsOf (source: string): Map<string, string | undefined> {
  const start = source.indexOf('export interface BitswapForwarderInit {')
  const end = source.indexOf('\n}\n', start)
  expect(start, 'BitswapForwarderInit in src/index.ts').to.be.greaterThan(-1)
  const body = source.slice(start, end)
  const options = new Map<string, string | undefined>()
  for (const [, doc, name] of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*(\w+)\?:/g)) {
    options.set(name, /@default\s+(.+)/.exec(doc)?.[1].trim())
  }
  return options
}

/**
 * The rows of the table under `## Options` in the README
 */
function rowsOf (readme: string): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Options'), readme.indexOf('\n## ', readme.indexOf('## Options') + 1))
  const rows = new Map<string, string>()
  for (const [, name, value] of section.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)) {
    rows.set(name, value.trim())
  }
  return rows
}

/**
 * A default as a comparable string: `4 MiB` is 4194304, `5 s` is 5000 (ms)
 */
function normalise (value: string): string {
  const text = value.replace(/`/g, '').replace(/_/g, '').trim()
  const mib = /^(\d+) MiB$/.exec(text)
  if (mib != null) {
    return String(Number(mib[1]) * MiB)
  }
  const seconds = /^(\d+) s$/.exec(text)
  if (seconds != null) {
    return String(Number(seconds[1]) * 1000)
  }
  return text
}

describe('README', () => {
  it('the options table lists every option of BitswapForwarderInit with its TSDoc @default', async () => {
    const options = optionsOf(await read('src/index.ts'))
    const rows = rowsOf(await read('README.md'))

    expect(options.size, 'options found in src/index.ts').to.be.at.least(25)
    expect([...rows.keys()].sort(), 'README rows').to.deep.equal([...options.keys()].sort())
    for (const [name, fallback] of options) {
      if (fallback != null) {
        expect(normalise(rows.get(name) ?? ''), `default of ${name}`).to.equal(normalise(fallback))
      }
    }
  })
})
