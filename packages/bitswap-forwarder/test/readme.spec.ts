import { readFile } from 'node:fs/promises'
import { markdownTables, normaliseDefault, tsdocOptions } from '@kitsune/test-support'
import { expect } from 'aegir/chai'

/**
 * Keeps the README's options table true: every option of
 * `BitswapForwarderInit` has a row, every row an option, and each row's
 * default is the `@default` of the option's TSDoc
 */

async function read (path: string): Promise<string> {
  return readFile(new URL(`../${path}`, import.meta.url), 'utf8')
}

describe('README', () => {
  it('the options table lists every option of BitswapForwarderInit with its TSDoc @default', async () => {
    const options = tsdocOptions(await read('src/index.ts'), 'BitswapForwarderInit')
    const [rows, ...rest] = markdownTables(await read('README.md'), '## Options')

    expect(options.size, 'options found in src/index.ts').to.be.at.least(25)
    expect(rest, 'tables under ## Options').to.be.empty()
    expect([...(rows?.keys() ?? [])].sort(), 'README rows').to.deep.equal([...options.keys()].sort())
    for (const [name, fallback] of options) {
      if (fallback != null) {
        expect(normaliseDefault(rows?.get(name) ?? ''), `default of ${name}`).to.equal(normaliseDefault(fallback))
      }
    }
  })
})
