import { readFile } from 'node:fs/promises'
import { markdownTables, normaliseDefault, tsdocOptions } from '@kitsune/test-support'
import { expect } from 'aegir/chai'

/**
 * Keeps the README's options tables true: every option of `PreloadApiInit`,
 * `WithPreloadInit` and `ProxyPreloadInit` has a row in its table, every row
 * an option, and each row's default is the `@default` of the option's TSDoc
 */

async function read (path: string): Promise<string> {
  return readFile(new URL(`../${path}`, import.meta.url), 'utf8')
}

describe('README', () => {
  it('the options tables list every option of PreloadApiInit, WithPreloadInit and ProxyPreloadInit with its TSDoc @default', async () => {
    const index = await read('src/index.ts')
    const tables = markdownTables(await read('README.md'), '## Options')
    const interfaces = ['PreloadApiInit', 'WithPreloadInit', 'ProxyPreloadInit']
    expect(tables, 'one table per interface under ## Options').to.have.lengthOf(interfaces.length)

    for (const [i, name] of interfaces.entries()) {
      const options = tsdocOptions(index, name)
      const rows = tables[i]
      expect(options.size, `options of ${name}`).to.be.at.least(2)
      expect([...rows.keys()].sort(), `${name}: README rows`).to.deep.equal([...options.keys()].sort())
      for (const [option, fallback] of options) {
        if (fallback != null) {
          expect(normaliseDefault(rows.get(option) ?? ''), `${name}: default of ${option}`).to.equal(normaliseDefault(fallback))
        }
      }
    }
  })
})
