import { fileURLToPath } from 'node:url'
import { expect } from 'aegir/chai'
import * as esbuild from 'esbuild'
import { NodeOnlyError } from '../src/errors.ts'
import { StunServer as BrowserStunServer } from '../src/stun.browser.ts'
import { PunchTCP as BrowserPunchTCP, PUNCH_TCP_TAG } from '../src/tcp/punch-tcp.browser.ts'
import { detectPunchSupport } from '../src/tcp/support.browser.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

describe('browser entry', function () {
  this.timeout(30_000)

  it('the whole main entry bundles for browsers with no node:* module left (package.json browser field)', async () => {
    // everything the entry exports, so nothing is tree-shaken away
    const result = await esbuild.build({
      stdin: { contents: "export * from '@kitsune/hole-punch'", resolveDir: root, loader: 'js' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      conditions: ['browser'],
      mainFields: ['browser', 'module', 'main'],
      define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
      metafile: true,
      logLevel: 'silent'
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.filter(i => i.startsWith('node:'))).to.deep.equal([])
    expect(inputs.some(i => i.endsWith('dist/src/tcp/punch-tcp.browser.js'))).to.be.true()
    expect(inputs.some(i => i.endsWith('dist/src/stun.browser.js'))).to.be.true()
    expect(inputs.some(i => i.endsWith('dist/src/tcp/listener.js'))).to.be.false()
  })

  it('the browser versions of the Node-only parts throw NodeOnlyError, by name', () => {
    expect(() => new BrowserPunchTCP()).to.throw(NodeOnlyError, /punchTCP\(\) needs Node\.js/)
    expect(() => new BrowserStunServer()).to.throw(NodeOnlyError, /stunServer\(\) needs Node\.js/)
    expect(detectPunchSupport()).to.deep.equal({ reusePortListen: false, boundSocket: false })
    expect(PUNCH_TCP_TAG).to.equal('@kitsune/punch-tcp')
  })
})
