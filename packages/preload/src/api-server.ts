import { EventEmitter, once } from 'node:events'
import { createServer, STATUS_CODES } from 'node:http'
import { httpUrl } from '@kitsune/proxy'
import proxyAddr from 'proxy-addr'
import getRawBody from 'raw-body'
import { Admission } from './admission.ts'
import { API_PREFIX, CORS, ERR_NORMAL, LISTEN, MAX_ARGS, MAX_BODY_SIZE, MAX_CONCURRENT_REQUESTS, MAX_CONCURRENT_REQUESTS_PER_ADDRESS, MAX_QUERY_SIZE, MAX_QUEUED_REQUESTS_PER_ADDRESS, RATE_LIMIT, RATE_LIMIT_INTERVAL, REQUEST_TIMEOUT, STOP_GRACE } from './constants.ts'
import { CorsPolicy, headerSafe } from './cors-policy.ts'
import { ApiError, BodyTooLargeError, InvalidOptionError, InvalidRequestError, QueryTooLargeError } from './errors.ts'
import { clientErrorStatus, httpTimeouts, nonNegative, positive } from './http-options.ts'
import { parseRefsRequest } from './refs-request.ts'
import type { HttpTimeouts } from './http-options.ts'
import type { PreloadApi, PreloadApiInit, PreloadStats } from './index.ts'
import type { RefsRequest } from './refs-request.ts'
import type { ComponentLogger, Counter, CounterGroup, Logger, Metrics } from '@libp2p/interface'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'

export type { RefsRequest } from './refs-request.ts'

/**
 * One line of a `refs` answer, as Kubo writes it: a ref, or an error
 */
export interface RefLine {
  Ref: string
  Err: string
}

/**
 * What answers the API's commands: the Helia node in standalone mode, the
 * proxy in preload mode
 */
export interface PreloadBackend {
  /**
   * The lines of a refs request, yielded as they are reached. A line with
   * `Err` set is written as it is (the request goes on). Throwing ends the
   * request with an `Err` line and the `X-Stream-Error` trailer: the `200`
   * and Kubo's headers are sent as soon as the request is accepted, before
   * the first line, as Kubo sends them. The
   * signal aborts when the client goes away, `requestTimeout` passes or the
   * server stops.
   */
  refs(request: RefsRequest, options: { signal: AbortSignal }): AsyncIterable<RefLine>
  /**
   * The answer of `POST /api/v0/id` (Kubo's shape); without it the command
   * is answered 404, as Kubo answers commands it does not have
   */
  id?(options: { signal: AbortSignal }): Promise<Record<string, unknown>> | Record<string, unknown>
}

/**
 * The counters of `kitsune_preload_*`
 */
interface PreloadMetrics {
  requests: Counter
  rejected: CounterGroup
  refs: Counter
  failed: Counter
}

export interface PreloadApiServerComponents {
  logger: ComponentLogger
  metrics?: Metrics
}

/**
 * Go's `encoding/json` escapes these for HTML safety; Kubo's lines carry them
 * escaped (`-\u003e` in edges)
 */
function goJson (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * `::ffff:127.0.0.1` → `127.0.0.1`
 */
export function normaliseAddress (address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped != null ? mapped[1] : address
}

/**
 * The Kubo-compatible HTTP API both modes share: `POST /api/v0/refs`
 * streamed from a backend, `POST /api/v0/id`, CORS, and the abuse limits
 */
export class PreloadApiServer implements PreloadApi {
  private readonly backend: PreloadBackend
  private readonly log: Logger
  private readonly listen: URL
  private readonly cors: CorsPolicy
  /** Emits 'idle' when the last active refs request ends */
  private readonly activity = new EventEmitter()
  private readonly trust?: (address: string, index: number) => boolean
  private readonly admission: Admission
  private readonly maxBodySize: number
  private readonly maxQuerySize: number
  private readonly maxArgs: number
  private readonly requestTimeout: number
  private readonly timeouts: HttpTimeouts
  private server?: Server
  private bound?: URL
  private shutdown = new AbortController()
  private readonly counters: Omit<PreloadStats, 'queued'> = { requests: 0, rejected: {}, active: 0, refs: 0, failed: 0 }
  private readonly components: PreloadApiServerComponents
  /** Registered on the first start, when a Helia node's libp2p metrics exist */
  private metrics?: PreloadMetrics

  constructor (backend: PreloadBackend, init: PreloadApiInit = {}, components: PreloadApiServerComponents) {
    this.backend = backend
    this.log = components.logger.forComponent('kitsune:preload:api')
    try {
      this.listen = httpUrl(init.listen ?? LISTEN)
    } catch (err: any) {
      throw new InvalidOptionError(`listen: ${err.message}`)
    }
    if (this.listen.protocol !== 'http:') {
      throw new InvalidOptionError(`listen: only http is served, not ${this.listen.protocol}`)
    }
    this.cors = new CorsPolicy(init.cors ?? CORS)
    if (init.trustedProxies != null && init.trustedProxies.length > 0) {
      try {
        this.trust = proxyAddr.compile(init.trustedProxies)
      } catch (err: any) {
        throw new InvalidOptionError(`trustedProxies: ${err.message}`)
      }
    }
    this.admission = new Admission({
      rateLimit: positive('rateLimit', init.rateLimit ?? RATE_LIMIT),
      rateLimitInterval: positive('rateLimitInterval', init.rateLimitInterval ?? RATE_LIMIT_INTERVAL),
      maxConcurrentRequests: positive('maxConcurrentRequests', init.maxConcurrentRequests ?? MAX_CONCURRENT_REQUESTS),
      maxConcurrentRequestsPerAddress: positive('maxConcurrentRequestsPerAddress', init.maxConcurrentRequestsPerAddress ?? MAX_CONCURRENT_REQUESTS_PER_ADDRESS),
      maxQueuedRequestsPerAddress: nonNegative('maxQueuedRequestsPerAddress', init.maxQueuedRequestsPerAddress ?? MAX_QUEUED_REQUESTS_PER_ADDRESS)
    })
    this.maxBodySize = nonNegative('maxBodySize', init.maxBodySize ?? MAX_BODY_SIZE)
    this.maxQuerySize = positive('maxQuerySize', init.maxQuerySize ?? MAX_QUERY_SIZE)
    this.maxArgs = positive('maxArgs', init.maxArgs ?? MAX_ARGS)
    this.requestTimeout = positive('requestTimeout', init.requestTimeout ?? REQUEST_TIMEOUT)
    this.timeouts = httpTimeouts(init)

    this.components = components
  }

  /** The bound base URL, e.g. `http://127.0.0.1:5001`; unset while stopped */
  get url (): URL | undefined {
    return this.bound
  }

  stats (): PreloadStats {
    return { ...this.counters, rejected: { ...this.counters.rejected }, queued: this.admission.queued() }
  }

  async start (): Promise<void> {
    if (this.server != null) {
      return
    }
    this.metrics ??= this.registerMetrics(this.components.metrics)
    this.shutdown = new AbortController()
    const { headersTimeout, bodyTimeout, keepAliveTimeout } = this.timeouts
    const server = createServer({
      headersTimeout,
      requestTimeout: bodyTimeout,
      // Node checks both timeouts only this often (every 30 s by default)
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 10)))
    }, (req, res) => {
      this.handle(req, res).catch(err => {
        if (req.socket.destroyed) {
          // e.g. the body did not come within bodyTimeout: answered 408 by clientError()
          this.log('%s %s: the connection closed - %s', req.method, req.url?.slice(0, 200), err?.message)
        } else {
          this.log.error('unexpected error answering %s %s - %e', req.method, req.url, err)
        }
        res.destroy()
      })
    })
    server.keepAliveTimeout = keepAliveTimeout
    server.on('clientError', (err, socket) => {
      this.clientError(err, socket)
    })
    const host = this.listen.hostname.replace(/^\[|\]$/g, '')
    server.listen({ host, port: Number(this.listen.port === '' ? 80 : this.listen.port) })
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => { throw err })
    ])
    const address = server.address() as AddressInfo
    this.server = server
    this.bound = new URL(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}`)
    this.log('listening on %s', this.bound.href)
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server == null) {
      return
    }
    this.server = undefined
    this.bound = undefined
    // active refs requests end with an error line
    this.shutdown.abort(new Error('the preload API is stopping'))
    const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
    server.closeIdleConnections()
    if (this.counters.active > 0) {
      // let the active requests write their error lines, within the grace
      await once(this.activity, 'idle', { signal: AbortSignal.timeout(STOP_GRACE) }).catch(() => {})
    }
    server.closeAllConnections()
    await closed
    this.log('stopped')
  }

  /**
   * What Node's HTTP parser and timers refuse: answered as Go's `net/http`
   * answers it (`400`, `408`, `431`, plain text, `Connection: close`) when
   * nothing of an answer has been written to the connection yet, then closed
   */
  private clientError (err: Error & { code?: string }, socket: Duplex): void {
    const connection = socket as Socket & { _httpMessage?: ServerResponse }
    const status = clientErrorStatus(err.code)
    if (status != null && connection.writable && connection._httpMessage?.headersSent !== true) {
      this.log('bad HTTP from %s answered %d - %s', connection.remoteAddress, status, err.code)
      this.reject(status)
      const text = `${status} ${STATUS_CODES[status]}`
      // the socket is half-open (allowHalfOpen): close it once the answer is
      // out, or when a client that reads nothing has not taken it in time
      connection.setTimeout(this.timeouts.headersTimeout, () => { connection.destroy() })
      connection.end(`HTTP/1.1 ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`, () => { connection.destroy() })
      return
    }
    this.log.trace('bad HTTP from a client - %e', err)
    connection.destroy()
  }

  /**
   * Counters are incremented where their event happens; levels are gauges
   * read at scrape time. A counter registered with
   * `calculate` would have the running total added again on every scrape.
   */
  private registerMetrics (metrics?: Metrics): PreloadMetrics | undefined {
    if (metrics == null) {
      return undefined
    }
    metrics.registerMetric('kitsune_preload_active_requests', {
      help: 'Refs requests being served now',
      calculate: () => this.counters.active
    })
    metrics.registerMetric('kitsune_preload_queued_requests', {
      help: 'Refs requests waiting for one of their address\'s maxConcurrentRequestsPerAddress slots',
      calculate: () => this.admission.queued()
    })
    return {
      requests: metrics.registerCounter('kitsune_preload_requests_total', { help: 'Refs requests answered 200' }),
      rejected: metrics.registerCounterGroup('kitsune_preload_rejected_total', { label: 'status', help: 'Requests answered with an error status, by status' }),
      refs: metrics.registerCounter('kitsune_preload_refs_total', { help: 'Refs lines written' }),
      failed: metrics.registerCounter('kitsune_preload_failed_total', { help: 'Refs requests that ended with an error line' })
    }
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/'
    await this.cors.apply(req, res)

    if (Buffer.byteLength(target) > this.maxQuerySize) {
      this.sendError(req, res, new QueryTooLargeError(`the request target is ${Buffer.byteLength(target)} bytes, at most ${this.maxQuerySize} are accepted`))
      return
    }

    let url: URL
    try {
      url = new URL(target, 'http://localhost')
    } catch {
      this.sendError(req, res, new InvalidRequestError('invalid request target'))
      return
    }

    if (!url.pathname.startsWith(API_PREFIX)) {
      this.sendText(req, res, 404, '404 page not found')
      return
    }

    switch (req.method) {
      case 'OPTIONS':
        this.answerOptions(req, res)
        return
      case 'POST':
        break
      default:
        res.setHeader('Allow', 'OPTIONS, POST')
        this.sendText(req, res, 405, '405 - Method Not Allowed')
        return
    }

    if (!this.cors.allows(req)) {
      this.sendText(req, res, 403, '403 - Forbidden')
      return
    }

    const command = url.pathname.slice(API_PREFIX.length)
    if (command === 'refs') {
      await this.refs(req, res, url)
    } else if (command === 'id' && this.backend.id != null) {
      await this.id(req, res)
    } else {
      this.sendText(req, res, 404, '404 page not found')
    }
  }

  /**
   * Whether an address is one of `trustedProxies`
   */
  trustsProxy (address: string): boolean {
    return this.trust?.(normaliseAddress(address), 0) ?? false
  }

  private async refs (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const clientAddress = this.clientAddress(req)
    const proxied = clientAddress !== normaliseAddress(req.socket.remoteAddress ?? '')
    let request: RefsRequest
    try {
      await this.admission.consumeRateLimit(clientAddress, res)
      await this.readBody(req)
      request = parseRefsRequest(url.searchParams, { maxArgs: this.maxArgs, clientAddress, proxied })
      this.admission.checkCapacity(this.counters.active)
    } catch (err: any) {
      if (err instanceof ApiError) {
        this.sendError(req, res, err)
        return
      }
      throw err
    }

    // a caller that goes away while its request waits leaves the queue
    const gone = new AbortController()
    const onClose = (): void => { gone.abort(new Error('the client went away')) }
    res.once('close', onClose)
    try {
      await this.admission.inTurn(clientAddress, async () => {
        try {
          // the request may have waited: the global limit holds when it starts
          this.admission.checkCapacity(this.counters.active)
        } catch (err: any) {
          this.sendError(req, res, err)
          return
        }
        this.counters.active++
        try {
          await this.streamRefs(request, res)
        } finally {
          this.counters.active--
          if (this.counters.active === 0) {
            this.activity.emit('idle')
          }
        }
      }, AbortSignal.any([gone.signal, this.shutdown.signal]))
    } catch (err: any) {
      if (err instanceof ApiError) {
        this.sendError(req, res, err)
      } else if (!gone.signal.aborted && !this.shutdown.signal.aborted) {
        throw err
      } else {
        this.log('refs from %s: %s while it waited', clientAddress, gone.signal.aborted ? 'the client went away' : 'the endpoint stopped')
      }
    } finally {
      res.off('close', onClose)
    }
  }

  private async streamRefs (request: RefsRequest, res: ServerResponse): Promise<void> {
    const disconnected = new AbortController()
    const onClose = (): void => {
      if (!res.writableFinished) {
        disconnected.abort(new Error('the client went away'))
      }
    }
    res.once('close', onClose)
    const timeout = AbortSignal.timeout(this.requestTimeout)
    const signal = AbortSignal.any([disconnected.signal, timeout, this.shutdown.signal])

    let streamError: string | undefined
    // accepted: Kubo's headers go out now, before the first ref (a DAG
    // nobody has may take until requestTimeout to give one)
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'X-Chunked-Output': '1',
      Trailer: 'X-Stream-Error',
      'Cache-Control': 'no-cache'
    })
    res.flushHeaders()
    const write = async (line: RefLine): Promise<void> => {
      if (!res.write(goJson(line) + '\n')) {
        await once(res, 'drain', { signal })
      }
    }

    this.log('refs %s from %s (recursive=%s unique=%s max-depth=%d)', request.args.map(String).join(' '), request.clientAddress, request.recursive, request.unique, request.maxDepth)

    try {
      for await (const line of this.backend.refs(request, { signal })) {
        signal.throwIfAborted()
        if (line.Err !== '') {
          streamError ??= line.Err
        } else {
          this.counters.refs++
          this.metrics?.refs.increment()
        }
        await write(line)
      }
      signal.throwIfAborted()
    } catch (err: any) {
      if (disconnected.signal.aborted) {
        this.log('refs from %s: the client went away', request.clientAddress)
        res.destroy()
        return
      }
      let message: string = err?.message ?? String(err)
      if (timeout.aborted) {
        message = `the request took longer than ${this.requestTimeout} ms: context deadline exceeded`
      } else if (this.shutdown.signal.aborted) {
        message = 'the preload API is stopping'
      }
      this.log('refs from %s failed - %s', request.clientAddress, message)
      this.counters.failed++
      this.metrics?.failed.increment()
      streamError ??= message
      // the last line: buffered without waiting for the reader
      res.write(goJson({ Ref: '', Err: message }) + '\n')
    } finally {
      res.off('close', onClose)
    }

    if (streamError != null) {
      res.addTrailers({ 'X-Stream-Error': headerSafe(streamError) })
    }
    this.counters.requests++
    this.metrics?.requests.increment()
    res.end()
  }

  private async id (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.readBody(req)
    } catch (err: any) {
      if (err instanceof ApiError) {
        this.sendError(req, res, err)
        return
      }
      throw err
    }
    const controller = new AbortController()
    res.once('close', () => { controller.abort() })
    try {
      const body = await this.backend.id?.({ signal: AbortSignal.any([controller.signal, this.shutdown.signal]) })
      res.writeHead(200, { 'Content-Type': 'application/json', Trailer: 'X-Stream-Error' })
      res.end(goJson(body) + '\n')
    } catch (err: any) {
      this.sendJson(res, 500, { Message: err?.message ?? String(err), Code: ERR_NORMAL, Type: 'error' })
    }
  }

  /**
   * Reads and discards the body, refusing more than `maxBodySize` bytes
   * (by `Content-Length` at once, or as it arrives)
   */
  private async readBody (req: IncomingMessage): Promise<void> {
    if (req.readableEnded) {
      return
    }
    const length = req.headers['content-length']
    try {
      await getRawBody(req, { length, limit: this.maxBodySize })
    } catch (err: any) {
      if (err?.type === 'entity.too.large') {
        throw new BodyTooLargeError(length != null
          ? `the request body is ${length} bytes, at most ${this.maxBodySize} are accepted`
          : `the request body is larger than ${this.maxBodySize} bytes`)
      }
      throw err
    }
  }

  /**
   * The caller's address: the socket's, or the right-most address in
   * `X-Forwarded-For` that is not a trusted proxy when the socket's address
   * is one
   */
  private clientAddress (req: IncomingMessage): string {
    if (this.trust == null) {
      return normaliseAddress(req.socket.remoteAddress ?? '')
    }
    return normaliseAddress(proxyAddr(req, this.trust))
  }

  private answerOptions (req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Allow', 'OPTIONS, POST')
    this.closeIfBody(req, res)
    res.writeHead(204)
    res.end()
  }

  private sendError (req: IncomingMessage, res: ServerResponse, err: ApiError): void {
    this.log('%s %s answered %d - %s', req.method, req.url?.slice(0, 200), err.status, err.message)
    this.reject(err.status)
    this.closeIfBody(req, res)
    this.sendJson(res, err.status, { Message: err.message, Code: err.code, Type: 'error' })
  }

  /**
   * Plain-text answers, as Go's `http.Error` writes them
   */
  private sendText (req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
    this.reject(status)
    this.closeIfBody(req, res)
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' })
    res.end(text + '\n')
  }

  private sendJson (res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) {
      res.destroy()
      return
    }
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(goJson(body) + '\n')
  }

  private reject (status: number): void {
    if (status >= 400) {
      this.counters.rejected[status] = (this.counters.rejected[status] ?? 0) + 1
      this.metrics?.rejected.increment({ [status]: 1 })
    }
  }

  /**
   * A request answered without reading its body: close the connection after
   * the answer rather than read the rest
   */
  private closeIfBody (req: IncomingMessage, res: ServerResponse): void {
    const length = Number(req.headers['content-length'] ?? 0)
    if (!req.readableEnded && (length > 0 || req.headers['transfer-encoding'] != null)) {
      res.setHeader('Connection', 'close')
    }
  }
}
