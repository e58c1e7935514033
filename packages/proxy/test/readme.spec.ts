import { readFile } from 'node:fs/promises'
import { markdownTables, normaliseDefault, tsdocOptions } from '@kitsune/test-support'
import { expect } from 'aegir/chai'

/**
 * Keeps the README's options tables true: every option of `ProxyInit` (with
 * the `DownstreamPoolInit` it extends) and of `RouteInit` has a row, every
 * row an option, and each row's default is the `@default` of the option's
 * TSDoc
 */

async function read (path: string): Promise<string> {
  return readFile(new URL(`../${path}`, import.meta.url), 'utf8')
}

function expectTable (rows: Map<string, string> | undefined, options: Map<string, string | undefined>, what: string): void {
  expect([...(rows?.keys() ?? [])].sort(), `${what}: README rows`).to.deep.equal([...options.keys()].sort())
  for (const [name, fallback] of options) {
    if (fallback != null) {
      expect(normaliseDefault(rows?.get(name) ?? ''), `${what}: default of ${name}`).to.equal(normaliseDefault(fallback))
    }
  }
}

describe('README', () => {
  it('the options tables list every option of ProxyInit and RouteInit with its TSDoc @default', async () => {
    const index = await read('src/index.ts')
    const pool = tsdocOptions(await read('src/downstream-pool.ts'), 'DownstreamPoolInit')
    const proxyInit = new Map([...pool, ...tsdocOptions(index, 'ProxyInit')])
    const routeInit = tsdocOptions(index, 'RouteInit')
    const [proxyRows, routeRows, ...rest] = markdownTables(await read('README.md'), '## Options')

    expect(proxyInit.size, 'options of ProxyInit').to.be.at.least(10)
    expect(routeInit.size, 'options of RouteInit').to.be.at.least(8)
    expect(rest, 'tables under ## Options').to.be.empty()
    expectTable(proxyRows, proxyInit, 'proxy(init)')
    expectTable(routeRows, routeInit, 'routes')
  })
})
