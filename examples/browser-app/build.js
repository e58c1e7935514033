/**
 * Builds the static site into dist/: src/index.html, and src/app.js bundled
 * with esbuild for browsers (ES2022 modules, minified, with a source map).
 * Prints the bundle's size, raw and gzipped.
 *
 * `node build.js`, or `npm run build --workspace examples/browser-app` from
 * the repository root.
 */

import { copyFile, mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const here = fileURLToPath(new URL('.', import.meta.url))

/** Where the site is written */
export const DIST = join(here, 'dist')

/**
 * Builds the site; resolves with the bundle's size in bytes, raw and gzipped
 *
 * @param {{ quiet?: boolean }} [options]
 * @returns {Promise<{ bytes: number, gzipBytes: number, dir: string }>}
 */
export async function build (options = {}) {
  await rm(DIST, { recursive: true, force: true })
  await mkdir(DIST, { recursive: true })

  await esbuild.build({
    absWorkingDir: here,
    entryPoints: ['src/app.js'],
    outfile: join(DIST, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // the `browser` fields and conditions of libp2p's packages swap their
    // Node-only files (TCP listeners, the Node gater) for browser ones
    conditions: ['browser'],
    mainFields: ['browser', 'module', 'main'],
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    // libraries probe for these; browsers have neither
    define: {
      'process.env.NODE_ENV': '"production"',
      global: 'globalThis'
    },
    logLevel: options.quiet === true ? 'silent' : 'warning'
  })
  await copyFile(join(here, 'src', 'index.html'), join(DIST, 'index.html'))

  const bundle = await readFile(join(DIST, 'app.js'))
  const size = { bytes: bundle.byteLength, gzipBytes: gzipSync(bundle, { level: 9 }).byteLength, dir: DIST }
  if (options.quiet !== true) {
    console.log(`dist/app.js: ${kib(size.bytes)} (${kib(size.gzipBytes)} gzipped)`)
  }
  return size
}

/** @param {number} bytes */
function kib (bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB`
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) {
  build().catch(err => {
    console.error(err.message)
    process.exitCode = 1
  })
}
