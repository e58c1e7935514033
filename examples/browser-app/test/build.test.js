/**
 * `npm run build` writes the static site to dist/ and prints the bundle's
 * size; the bundle names none of the public services a default Helia or
 * libp2p config would reach.
 */

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const here = fileURLToPath(new URL('..', import.meta.url))

/** Hosts and schemes of the public bootstrap, delegated routing, gateways and STUN */
const PUBLIC_SERVICES = ['bootstrap.libp2p.io', 'delegated-ipfs.dev', 'trustless-gateway.link', 'ipfs.io', 'dweb.link', 'stun:', 'stun.l.google.com', 'cloudflare-ipfs']

describe('build', () => {
  it('`node build.js` (npm run build) writes dist/index.html and dist/app.js and prints the bundle size', async () => {
    const child = spawn(process.execPath, ['build.js'], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', chunk => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', chunk => { stderr += chunk })
    const code = await new Promise(resolve => { child.on('close', resolve) })
    assert.equal(code, 0, stderr)

    const bundle = await readFile(join(here, 'dist', 'app.js'))
    const match = /^dist\/app\.js: (\d+\.\d) KiB \((\d+\.\d) KiB gzipped\)$/m.exec(stdout)
    assert.ok(match != null, stdout)
    assert.equal(match[1], (bundle.byteLength / 1024).toFixed(1))
    assert.ok(Number(match[2]) < Number(match[1]))
    assert.ok((await stat(join(here, 'dist', 'index.html'))).isFile())

    const html = await readFile(join(here, 'dist', 'index.html'), 'utf8')
    for (const id of ['status', 'content', 'added-cid']) {
      assert.match(html, new RegExp(`id="${id}"`))
    }
    const text = bundle.toString('utf8')
    for (const service of PUBLIC_SERVICES) {
      assert.ok(!text.includes(service), `the bundle names ${service}`)
    }
  })
})
