/**
 * `npm run serve`: serves dist/ (build it first: `npm run build`) on
 * http://127.0.0.1:8080, or the port in `PORT`
 */

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serveStatic } from './static-server.js'

const dist = fileURLToPath(new URL('./dist/', import.meta.url))
if (!existsSync(join(dist, 'index.html'))) {
  console.error('dist/ is missing: run `npm run build` first')
  process.exit(1)
}
const port = Number(process.env.PORT ?? 8080)
const server = await serveStatic(dist, { port })
console.log(`serving ${dist} at ${server.url}`)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { server.close().then(() => process.exit(0), () => process.exit(1)) })
}
