import { readFile } from 'node:fs/promises'
import { markdownTables, normaliseDefault, tsdocOptions } from '@kitsune/test-support'
import { expect } from 'aegir/chai'

async function read (path: string): Promise<string> {
  return readFile(new URL(`../${path}`, import.meta.url), 'utf8')
}

describe('README', () => {
  it('the options table lists every option of SliceSyncInit with its TSDoc @default', async () => {
    const init = tsdocOptions(await read('src/index.ts'), 'SliceSyncInit')
    const [rows, ...rest] = markdownTables(await read('README.md'), '## Options')
    expect(init.size).to.be.at.least(20)
    expect(rest).to.be.empty()
    expect([...(rows?.keys() ?? [])].sort()).to.deep.equal([...init.keys()].sort())
    for (const [name, fallback] of init) {
      if (fallback != null) {
        expect(normaliseDefault(rows?.get(name) ?? ''), `default of ${name}`).to.equal(normaliseDefault(fallback))
      }
    }
  })
})
