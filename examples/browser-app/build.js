/**
 * Builds the static site into dist/: src/index.html, and src/app.js bundled
 * with esbuild for browsers (ES2022 modules, minified, with a source map);
 * the same for the other pages in PAGES (src/<name>.html, its script
 * src/<name>.page.js bundled to dist/<name>.js). Prints each bundle's size,
 * raw and gzipped.
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
 * The pages beside index.html: src/<name>.html, whose script
 * src/<name>.page.js is bundled to dist/<name>.js
 */
export const PAGES = ['slices', 'mesh']

/**
 * Builds the site; resolves with the bundle's size in bytes, raw and gzipped
 *
 * @param {{ quiet?: boolean }} [options]
 * @returns {Promise<{ bytes: number, gzipBytes: number, dir: string, pages: Record<string, { bytes: number, gzipBytes: number }> }>}
 */
export async function build (options = {}) {
  await rm(DIST, { recursive: true, force: true })
  await mkdir(DIST, { recursive: true })

  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: {
      app: 'src/app.js',
      ...Object.fromEntries(PAGES.map(name => [name, `src/${name}.page.js`]))
    },
    outdir: DIST,
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
    // @kitsune/hole-punch's entry point also exports its Node-only parts
    // (node:dgram, node:net); the page uses none of them and, the package
    // being free of side effects, they are dropped. An import of node:*
    // left in a bundle fails the build below.
    external: ['node:*'],
    metafile: true,
    logLevel: options.quiet === true ? 'silent' : 'warning'
  })
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    const left = output.imports.filter(i => i.external).map(i => i.path)
    if (left.length > 0) {
      throw new Error(`${file} still imports ${left.join(', ')}: a browser cannot load it`)
    }
  }
  await copyFile(join(here, 'src', 'index.html'), join(DIST, 'index.html'))
  for (const name of PAGES) {
    await copyFile(join(here, 'src', `${name}.html`), join(DIST, `${name}.html`))
  }

  /** @type {Record<string, { bytes: number, gzipBytes: number }>} */
  const pages = {}
  for (const name of ['app', ...PAGES]) {
    const bundle = await readFile(join(DIST, `${name}.js`))
    pages[name] = { bytes: bundle.byteLength, gzipBytes: gzipSync(bundle, { level: 9 }).byteLength }
    if (options.quiet !== true) {
      console.log(`dist/${name}.js: ${kib(pages[name].bytes)} (${kib(pages[name].gzipBytes)} gzipped)`)
    }
  }
  return { ...pages.app, dir: DIST, pages }
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
