/**
 * A small static file server for dist/: used by `npm run serve` and by the
 * tests. GET and HEAD only; paths cannot leave the served directory.
 */

import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8'
}

/**
 * Serves `dir` on `host:port` (port 0: the OS picks one)
 *
 * @param {string} dir
 * @param {{ host?: string, port?: number }} [options]
 * @returns {Promise<{ url: string, origin: string, requests: string[], close(): Promise<void> }>}
 */
export async function serveStatic (dir, options = {}) {
  const root = normalize(dir + sep)
  /** @type {string[]} every request line, for tests */
  const requests = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    let pathname
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
    } catch {
      res.writeHead(400).end()
      return
    }
    const file = normalize(join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname))
    if (!file.startsWith(root)) {
      res.writeHead(403).end()
      return
    }
    stat(file).then(info => {
      if (!info.isFile()) {
        throw new Error('not a file')
      }
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'no-store'
      })
      if (req.method === 'HEAD') {
        res.end()
        return
      }
      createReadStream(file).pipe(res)
    }, () => {
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
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise(resolve => { server.close(() => { resolve(undefined) }) })
    }
  }
}
