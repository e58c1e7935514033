import cors from 'cors'
import { EXPOSED_HEADERS } from './constants.ts'
import type { CorsOptions } from 'cors'
import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * A value that can go in a header: printable ASCII, at most 1 KiB
 */
export function headerSafe (value: string): string {
  return value.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 1024)
}

/**
 * The preload API's CORS: `'*'` (any origin, as the public preload nodes
 * were), a list of origins, or `false` for no CORS headers; applied with the
 * `cors` middleware
 */
export class CorsPolicy {
  private readonly allowed: '*' | string[] | false
  private readonly middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void

  constructor (allowed: '*' | string[] | false) {
    this.allowed = allowed
    this.middleware = cors((req, callback) => { callback(null, this.options(req)) })
  }

  /**
   * Sets the CORS headers of a response (none for an origin a list does not
   * name)
   */
  async apply (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (Array.isArray(this.allowed)) {
      res.setHeader('Vary', 'Origin')
    }
    await new Promise<void>((resolve, reject) => {
      this.middleware(req, res, (err) => { if (err != null) { reject(err) } else { resolve() } })
    })
  }

  /**
   * Whether a request's origin may be served (always, without a list)
   */
  allows (req: IncomingMessage): boolean {
    const origin = req.headers.origin
    return !Array.isArray(this.allowed) || origin == null || this.allowed.includes(origin)
  }

  private options (req: IncomingMessage): CorsOptions {
    const origin = req.headers.origin
    let allowed: string | false
    if (this.allowed === false) {
      allowed = false
    } else if (this.allowed === '*') {
      allowed = '*'
    } else {
      allowed = origin != null && this.allowed.includes(origin) ? origin : false
    }
    return {
      origin: allowed,
      methods: 'POST, OPTIONS',
      allowedHeaders: headerSafe(req.headers['access-control-request-headers'] ?? 'Content-Type, X-Stream-Output, X-Chunked-Output, X-Content-Length'),
      exposedHeaders: EXPOSED_HEADERS,
      maxAge: 600,
      // OPTIONS is answered by the server, after the path is checked
      preflightContinue: true
    }
  }
}
