/**
 * Serves dist/ over HTTP (with sirv): used by `npm run serve` and by the
 * tests. Nothing is cached, so a rebuilt page is always the one loaded.
 */

import { createServer } from 'node:http'
import sirv from 'sirv'

/**
 * Serves `dir` on `host:port` (port 0: the OS picks one)
 *
 * @param {string} dir
 * @param {{ host?: string, port?: number }} [options]
 * @returns {Promise<{ url: string, origin: string, close(): Promise<void> }>}
 */
export async function serveStatic (dir, options = {}) {
  const serve = sirv(dir, { dev: true, etag: false })
  const server = createServer((req, res) => {
    serve(req, res, () => {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    })
  })

  const host = options.host ?? '127.0.0.1'
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => { resolve(undefined) })
  })
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : options.port
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  return {
    origin,
    url: `${origin}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise(resolve => { server.close(() => { resolve(undefined) }) })
    }
  }
}
