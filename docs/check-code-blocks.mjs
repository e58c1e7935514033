#!/usr/bin/env node
/**
 * Type-checks every ```typescript code block in docs/*.md against the real
 * packages: each block is written to docs/.code-blocks/<file>-<n>.ts as its
 * own module and the lot is compiled with `tsc --noEmit` under aegir's
 * compiler settings. Build the packages the blocks import first
 * (`npm run build`), since workspaces resolve each other through `dist`.
 *
 *   node docs/check-code-blocks.mjs
 */

import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const docs = dirname(fileURLToPath(import.meta.url))
const out = join(docs, '.code-blocks')
const require = createRequire(import.meta.url)

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

const files = []
for (const name of readdirSync(docs).filter(name => name.endsWith('.md')).sort()) {
  const text = readFileSync(join(docs, name), 'utf8')
  const blocks = [...text.matchAll(/^```(?:typescript|ts)\n([\s\S]*?)^```$/gm)]
  blocks.forEach((match, i) => {
    const line = text.slice(0, match.index).split('\n').length
    const file = join(out, `${basename(name, '.md')}-${i + 1}.ts`)
    // every block is a module of its own
    writeFileSync(file, `// ${name}:${line}\n${match[1]}\nexport {}\n`)
    files.push(file)
  })
}

writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: 'ES2024',
    module: 'node16',
    moduleResolution: 'Node16',
    lib: ['ES2024', 'DOM'],
    types: ['node'],
    skipLibCheck: true,
    verbatimModuleSyntax: true,
    isolatedModules: true
  },
  files: files.map(file => basename(file))
}, null, 2))

console.info(`type-checking ${files.length} code blocks from docs/*.md`)
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(out, 'tsconfig.json')], { stdio: 'inherit' })
  console.info('all code blocks type-check')
  rmSync(out, { recursive: true, force: true })
} catch {
  console.error(`type errors: see the files in ${out} (each starts with its source line)`)
  process.exitCode = 1
}
