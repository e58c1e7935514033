import { once } from 'node:events'
import { request } from 'node:http'
import { connect } from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { normaliseAddress, PreloadApiServer } from '../src/index.ts'
import { httpRequest, parseLines, waitFor } from './fixtures.ts'
import type { PreloadApiInit, PreloadBackend, RefLine, RefsRequest } from '../src/index.ts'
import type { IncomingMessage } from 'node:http'

const CID1 = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const REFS = `/api/v0/refs?r=true&arg=${CID1}`
// distinct CIDs, to tell requests apart in the backend
const CIDS = ['', 'QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh51', 'QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB', 'QmSnuWmxptJZdLJpKRarxBMS2Ju2oANVrgbr2xWbie9b2D', 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn', 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH']

type Script = (request: RefsRequest, signal: AbortSignal) => AsyncIterable<RefLine>

/**
 * A backend whose refs answer is scripted per test, so the HTTP layer can be
 * driven into every state
 */
class ScriptedBackend implements PreloadBackend {
  requests: RefsRequest[] = []
  signals: AbortSignal[] = []
  script: Script = async function * () {
    yield { Ref: 'bafkqaaa', Err: '' }
  }

  identity?: Record<string, unknown>

  refs (request: RefsRequest, options: { signal: AbortSignal }): AsyncIterable<RefLine> {
    this.requests.push(request)
    this.signals.push(options.signal)
    return this.script(request, options.signal)
  }
}

function withId (backend: ScriptedBackend): PreloadBackend {
  return Object.assign(backend, { id: () => ({ ID: '12D3KooWtest', Addresses: [] }) })
}

async function forever (signal: AbortSignal): Promise<never> {
  return new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  })
}

describe('PreloadApiServer', () => {
  let server: PreloadApiServer | undefined
  let backend: ScriptedBackend

  async function start (init: PreloadApiInit = {}, b: PreloadBackend = backend): Promise<URL> {
    server = new PreloadApiServer(b, { listen: '/ip4/127.0.0.1/tcp/0', ...init }, { logger: defaultLogger() })
    await server.start()
    const url = server.url
    if (url == null) {
      throw new Error('no url')
    }
    return url
  }

  beforeEach(() => {
    backend = new ScriptedBackend()
  })

  afterEach(async () => {
    await server?.stop()
    server = undefined
  })

  it('answers refs with Kubo\'s headers and one JSON line per ref', async () => {
    backend.script = async function * () {
      yield { Ref: 'a -> b', Err: '' }
      yield { Ref: 'c', Err: '' }
    }
    const url = await start()
    const res = await httpRequest(url, REFS)
    expect(res.status).to.equal(200)
    expect(res.headers['content-type']).to.equal('application/json')
    expect(res.headers['x-chunked-output']).to.equal('1')
    expect(res.headers.trailer).to.equal('X-Stream-Error')
    expect(res.headers['transfer-encoding']).to.equal('chunked')
    expect(res.trailers['x-stream-error']).to.be.undefined()
    // Go's encoding/json escapes > as \u003e
    expect(res.body).to.equal('{"Ref":"a -\\u003e b","Err":""}\n{"Ref":"c","Err":""}\n')
    expect(backend.requests[0]).to.include({ recursive: true, maxDepth: -1, clientAddress: '127.0.0.1' })
    expect(server?.stats()).to.deep.include({ requests: 1, refs: 2, active: 0, failed: 0 })
  })

  it('an empty refs answer is a 200 with no lines', async () => {
    backend.script = async function * () {
      yield * []
    }
    const url = await start()
    const res = await httpRequest(url, REFS)
    expect(res.status).to.equal(200)
    expect(res.body).to.equal('')
  })

  it('streams each line as soon as it is reached', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>(resolve => { release = resolve })
    backend.script = async function * () {
      yield { Ref: 'first', Err: '' }
      await held
      yield { Ref: 'second', Err: '' }
    }
    const url = await start()
    const res = await fetch(new URL(REFS, url), { method: 'POST' })
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).to.equal('{"Ref":"first","Err":""}\n')
    release()
    const rest = await new Response(new ReadableStream({
      async pull (controller) {
        const { done, value } = await reader.read()
        if (done) { controller.close() } else { controller.enqueue(value) }
      }
    })).text()
    expect(rest).to.equal('{"Ref":"second","Err":""}\n')
  })

  it('GET and other methods are 405 with Allow, as Kubo answers', async () => {
    const url = await start()
    for (const method of ['GET', 'PUT', 'DELETE', 'HEAD']) {
      const res = await httpRequest(url, REFS, { method })
      expect(res.status).to.equal(405, method)
      expect(res.headers.allow).to.equal('OPTIONS, POST')
      if (method !== 'HEAD') {
        expect(res.body).to.equal('405 - Method Not Allowed\n')
      }
    }
    expect(backend.requests).to.be.empty()
  })

  it('unknown paths are 404 "404 page not found"', async () => {
    const url = await start()
    for (const path of ['/api/v0/cat?arg=x', '/api/v0/refs/local', '/', '/api/v1/refs', '/api/v0/id']) {
      const res = await httpRequest(url, path)
      expect(res.status).to.equal(404, path)
      expect(res.body).to.equal('404 page not found\n')
      expect(res.headers['content-type']).to.equal('text/plain; charset=utf-8')
    }
  })

  it('bad requests are 400 with Kubo\'s JSON error body', async () => {
    const url = await start()
    const cases: Array<[string, string]> = [
      ['/api/v0/refs?r=true', 'argument "ipfs-path" is required'],
      ['/api/v0/refs?arg=notacid', 'invalid path "notacid": '],
      [`/api/v0/refs?r=yes&arg=${CID1}`, 'could not convert value "yes" to type "bool" (for option "-recursive")'],
      [`/api/v0/refs?r=1&max-depth=abc&arg=${CID1}`, 'could not convert value "abc" to type "int" (for option "-max-depth")'],
      [`/api/v0/refs?edges=true&format=%3Cdst%3E%20x&arg=${CID1}`, 'using format argument with edges is not allowed']
    ]
    for (const [path, message] of cases) {
      const res = await httpRequest(url, path)
      expect(res.status).to.equal(400, path)
      expect(res.headers['content-type']).to.equal('application/json')
      const body = JSON.parse(res.body)
      expect(Object.keys(body)).to.deep.equal(['Message', 'Code', 'Type'])
      expect(body.Message.startsWith(message)).to.equal(true, `${body.Message} ≠ ${message}`)
      expect(body).to.include({ Code: 1, Type: 'error' })
    }
    expect(res400Count(server)).to.equal(cases.length)
    expect(backend.requests).to.be.empty()
  })

  it('unknown query parameters are ignored', async () => {
    const url = await start()
    const res = await httpRequest(url, `${REFS}&stream-channels=true&encoding=json&timeout=10s&whatever`)
    expect(res.status).to.equal(200)
    expect(backend.requests).to.have.lengthOf(1)
  })

  it('a backend error before any line is an Err line and the X-Stream-Error trailer after the 200 sent on acceptance', async () => {
    // eslint-disable-next-line require-yield
    backend.script = async function * () {
      throw new Error('block was not found locally (offline)')
    }
    const url = await start()
    const res = await httpRequest(url, REFS)
    expect(res.status).to.equal(200)
    expect(parseLines(res.body)).to.deep.equal({ refs: [], errors: ['block was not found locally (offline)'] })
    expect(res.trailers['x-stream-error']).to.equal('block was not found locally (offline)')
    expect(server?.stats()).to.deep.include({ failed: 1, requests: 1 })
  })

  it('sends the 200 and Kubo\'s headers as soon as a request is accepted, before the backend gives a line', async () => {
    // eslint-disable-next-line require-yield
    backend.script = async function * (_, signal) {
      await forever(signal)
    }
    const url = await start({ requestTimeout: 2000 })
    const req = request(new URL(REFS, url), { method: 'POST' })
    req.end()
    const [res] = await once(req, 'response') as [IncomingMessage]
    try {
      expect(res.statusCode).to.equal(200)
      expect(res.headers).to.include({ 'content-type': 'application/json', 'x-chunked-output': '1', trailer: 'X-Stream-Error' })
      expect(backend.signals).to.have.lengthOf(1)
      expect(backend.signals[0].aborted, 'the backend is still looking').to.be.false()
    } finally {
      req.destroy()
    }
  })

  it('a backend error after lines is an Err line and the X-Stream-Error trailer', async () => {
    backend.script = async function * () {
      yield { Ref: 'one', Err: '' }
      throw new Error('the downstream went away\nbadly')
    }
    const url = await start()
    const res = await httpRequest(url, REFS)
    expect(res.status).to.equal(200)
    const lines = parseLines(res.body)
    expect(lines.refs).to.deep.equal(['one'])
    expect(lines.errors).to.deep.equal(['the downstream went away\nbadly'])
    expect(res.trailers['x-stream-error']).to.equal('the downstream went away badly')
    expect(server?.stats()).to.deep.include({ failed: 1, refs: 1 })
  })

  it('an Err line from the backend sets the trailer and the request goes on', async () => {
    backend.script = async function * () {
      yield { Ref: '', Err: 'first root failed' }
      yield { Ref: 'second', Err: '' }
    }
    const url = await start()
    const res = await httpRequest(url, REFS)
    expect(parseLines(res.body)).to.deep.equal({ refs: ['second'], errors: ['first root failed'] })
    expect(res.trailers['x-stream-error']).to.equal('first root failed')
  })

  it('requestTimeout ends a request with an error line', async () => {
    backend.script = async function * (_, signal) {
      yield { Ref: 'one', Err: '' }
      await forever(signal)
    }
    const url = await start({ requestTimeout: 200 })
    const started = Date.now()
    const res = await httpRequest(url, REFS)
    expect(Date.now() - started).to.be.within(150, 3000)
    const lines = parseLines(res.body)
    expect(lines.refs).to.deep.equal(['one'])
    expect(lines.errors).to.have.lengthOf(1)
    expect(lines.errors[0]).to.include('200 ms').and.include('context deadline exceeded')
    expect(res.trailers['x-stream-error']).to.include('context deadline exceeded')
  })

  it('a client that goes away aborts the backend', async () => {
    backend.script = async function * (_, signal) {
      yield { Ref: 'one', Err: '' }
      await forever(signal)
    }
    const url = await start()
    const controller = new AbortController()
    const res = await fetch(new URL(REFS, url), { method: 'POST', signal: controller.signal })
    await res.body!.getReader().read()
    controller.abort()
    await waitFor(() => backend.signals[0]?.aborted, 5000, 'the backend signal to abort')
    await waitFor(() => server?.stats().active === 0, 5000, 'the request to end')
  })

  it('respects back-pressure: a client that does not read stops the backend', async () => {
    let produced = 0
    backend.script = async function * (_, signal) {
      while (!signal.aborted) {
        produced++
        yield { Ref: 'x'.repeat(1000), Err: '' }
      }
    }
    const url = await start()
    const response = Promise.withResolvers<IncomingMessage>()
    const req = request(new URL(REFS, url), { method: 'POST' }, res => {
      res.pause()
      response.resolve(res)
    })
    req.on('error', () => {})
    req.end()
    const res = await response.promise

    // the backend stops once the socket buffers are full: the count holds
    // still between two looks (without back-pressure the generator would
    // never yield to the event loop, and this would time out)
    let seen = -1
    await waitFor(() => {
      const still = produced > 0 && produced === seen
      seen = produced
      return still
    }, 10_000, 'the backend to stop producing', 50)
    const stalledAt = produced
    expect(backend.signals[0]?.aborted).to.be.false()

    // and goes on as soon as the client reads again
    res.resume()
    await waitFor(() => produced > stalledAt, 5000, 'the backend to produce again once the client reads')

    req.destroy()
    await waitFor(() => backend.signals[0]?.aborted, 5000, 'the backend to be aborted')
  })

  describe('CORS', () => {
    it('is open by default, exposing the streaming headers', async () => {
      const url = await start()
      const res = await httpRequest(url, REFS, { headers: { Origin: 'https://app.example' } })
      expect(res.headers['access-control-allow-origin']).to.equal('*')
      expect(res.headers['access-control-expose-headers']).to.include('X-Stream-Error').and.include('X-Chunked-Output')
    })

    it('answers a preflight with the allowed methods and headers', async () => {
      const url = await start()
      const res = await httpRequest(url, REFS, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' }
      })
      expect(res.status).to.equal(204)
      expect(res.headers['access-control-allow-origin']).to.equal('*')
      expect(res.headers['access-control-allow-methods']).to.equal('POST, OPTIONS')
      expect(res.headers['access-control-allow-headers']).to.equal('content-type')
      expect(backend.requests).to.be.empty()
    })

    it('with a list, allows listed origins only; others are 403 as in Kubo', async () => {
      const url = await start({ cors: ['https://good.example'] })
      const good = await httpRequest(url, REFS, { headers: { Origin: 'https://good.example' } })
      expect(good.status).to.equal(200)
      expect(good.headers['access-control-allow-origin']).to.equal('https://good.example')
      expect(good.headers.vary).to.equal('Origin')

      const preflight = await httpRequest(url, REFS, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } })
      expect(preflight.headers['access-control-allow-origin']).to.be.undefined()
      expect(preflight.headers['access-control-allow-methods']).to.be.undefined()

      const bad = await httpRequest(url, REFS, { headers: { Origin: 'https://evil.example' } })
      expect(bad.status).to.equal(403)
      expect(backend.requests).to.have.lengthOf(1)

      // no Origin: not a browser
      expect((await httpRequest(url, REFS)).status).to.equal(200)
    })

    it('false sends no CORS headers', async () => {
      const url = await start({ cors: false })
      const res = await httpRequest(url, REFS, { headers: { Origin: 'https://app.example' } })
      expect(res.status).to.equal(200)
      expect(res.headers['access-control-allow-origin']).to.be.undefined()
    })
  })

  describe('limits', () => {
    it('rateLimit: the limit passes, one more is 429 with Kubo\'s JSON and Retry-After', async () => {
      const url = await start({ rateLimit: 3, rateLimitInterval: 60_000 })
      for (let i = 0; i < 3; i++) {
        expect((await httpRequest(url, REFS)).status).to.equal(200)
      }
      const res = await httpRequest(url, REFS)
      expect(res.status).to.equal(429)
      expect(Number(res.headers['retry-after']), 'seconds until the 60 s window passes').to.be.within(59, 60)
      const body = JSON.parse(res.body)
      expect(body).to.include({ Code: 3, Type: 'error' })
      expect(body.Message).to.include('rate limit exceeded')
      expect(server?.stats().rejected).to.deep.equal({ 429: 1 })
      expect(backend.requests).to.have.lengthOf(3)
    })

    it('rateLimit: the window passes', async () => {
      const url = await start({ rateLimit: 1, rateLimitInterval: 300 })
      const windowStart = Date.now()
      expect((await httpRequest(url, REFS)).status).to.equal(200)
      expect((await httpRequest(url, REFS)).status).to.equal(429)
      // the window is fixed from the first request: asking again when it has
      // passed is answered 200
      await waitFor(async () => (await httpRequest(url, REFS)).status === 200, 5000, 'the window to pass', 50)
      expect(Date.now() - windowStart, 'ms until the window passed').to.be.within(250, 2_000)
    })

    it('rateLimit counts per client address (X-Forwarded-For from a trusted proxy)', async () => {
      const url = await start({ rateLimit: 1, trustedProxies: ['127.0.0.1'] })
      expect((await httpRequest(url, REFS, { headers: { 'X-Forwarded-For': '10.0.0.1' } })).status).to.equal(200)
      expect((await httpRequest(url, REFS, { headers: { 'X-Forwarded-For': '10.0.0.1' } })).status).to.equal(429)
      expect((await httpRequest(url, REFS, { headers: { 'X-Forwarded-For': '10.0.0.2' } })).status).to.equal(200)
    })

    it('maxConcurrentRequests: the limit is served, one more is 429', async () => {
      const releases: Array<() => void> = []
      backend.script = async function * () {
        await new Promise<void>(resolve => releases.push(resolve))
        yield { Ref: 'done', Err: '' }
      }
      const url = await start({ maxConcurrentRequests: 2 })
      const held = [httpRequest(url, REFS), httpRequest(url, REFS)]
      await waitFor(() => releases.length === 2, 5000, 'two requests in the backend')
      expect(server?.stats().active).to.equal(2)

      const refused = await httpRequest(url, REFS)
      expect(refused.status).to.equal(429)
      expect(JSON.parse(refused.body)).to.include({ Code: 3, Type: 'error' })

      releases.forEach(release => { release() })
      expect((await Promise.all(held)).map(r => r.status)).to.deep.equal([200, 200])
      const after = httpRequest(url, REFS)
      await waitFor(() => releases.length === 3, 5000, 'a third request in the backend')
      releases[2]()
      expect((await after).status).to.equal(200)
    })

    it('maxConcurrentRequestsPerAddress: one address is held to the limit while another is served', async () => {
      const releases: Array<() => void> = []
      backend.script = async function * () {
        await new Promise<void>(resolve => releases.push(resolve))
        yield { Ref: 'done', Err: '' }
      }
      const url = await start({ maxConcurrentRequestsPerAddress: 1, maxQueuedRequestsPerAddress: 0, trustedProxies: ['127.0.0.1'] })
      const from = (address: string): { headers: Record<string, string> } => ({ headers: { 'X-Forwarded-For': address } })
      const held = httpRequest(url, REFS, from('10.0.0.1'))
      await waitFor(() => releases.length === 1, 5000, 'one request in the backend')

      const refused = await httpRequest(url, REFS, from('10.0.0.1'))
      expect(refused.status).to.equal(429)
      expect(JSON.parse(refused.body)).to.include({ Code: 3, Type: 'error' })
      expect(JSON.parse(refused.body).Message).to.include('10.0.0.1')

      const other = httpRequest(url, REFS, from('10.0.0.2'))
      await waitFor(() => releases.length === 2, 5000, 'the other address served')
      releases.forEach(release => { release() })
      expect((await Promise.all([held, other])).map(r => r.status)).to.deep.equal([200, 200])

      const again = httpRequest(url, REFS, from('10.0.0.1'))
      await waitFor(() => releases.length === 3, 5000, 'the slot is free again')
      releases[2]()
      expect((await again).status).to.equal(200)
    })

    it('maxQueuedRequestsPerAddress: requests past the address\'s slots wait their turn in order, one more than may wait is 429, and a caller that leaves stops waiting', async () => {
      const releases: Array<() => void> = []
      backend.script = async function * () {
        await new Promise<void>(resolve => releases.push(resolve))
        yield { Ref: 'done', Err: '' }
      }
      const url = await start({ maxConcurrentRequestsPerAddress: 1, maxQueuedRequestsPerAddress: 2 })
      const refs = (n: number): string => `/api/v0/refs?r=true&arg=${CIDS[n]}`
      const served = httpRequest(url, refs(1))
      await waitFor(() => releases.length === 1, 5000, 'one request in the backend')
      const waiting = [httpRequest(url, refs(2)), httpRequest(url, refs(3))]
      await waitFor(() => server!.stats().queued === 2, 5000, 'two requests waiting')

      const refused = await httpRequest(url, refs(4))
      expect(refused.status).to.equal(429)
      expect(JSON.parse(refused.body).Message).to.include('2 wait')
      expect(backend.requests, 'the waiting ones have not reached the backend').to.have.lengthOf(1)

      // the first waiting caller goes away: the other is next
      const leaving = new AbortController()
      const left = fetch(new URL(refs(5), url), { method: 'POST', signal: leaving.signal })
      releases[0]()
      expect((await served).status).to.equal(200)
      await waitFor(() => releases.length === 2, 5000, 'the first waiting request served')
      await waitFor(() => server!.stats().queued === 2, 5000, 'the late one waiting')
      leaving.abort()
      await expect(left).to.eventually.be.rejected()
      await waitFor(() => server!.stats().queued === 1, 5000, 'the caller that left stopped waiting')
      releases[1]()
      await waitFor(() => releases.length === 3, 5000, 'the second waiting request served')
      releases[2]()
      expect((await Promise.all(waiting)).map(r => r.status)).to.deep.equal([200, 200])
      expect(backend.requests.map(r => r.args[0].toString()), 'served in arrival order, the one that left never').to.deep.equal([CIDS[1], CIDS[2], CIDS[3]])
    })

    it('maxBodySize: a body of the limit is read and ignored, one byte more is 413', async () => {
      const url = await start({ maxBodySize: 1000 })
      expect((await httpRequest(url, REFS, { body: 'x'.repeat(1000) })).status).to.equal(200)
      const res = await httpRequest(url, REFS, { body: 'x'.repeat(1001) })
      expect(res.status).to.equal(413)
      expect(JSON.parse(res.body)).to.include({ Code: 1, Type: 'error' })
      expect(backend.requests).to.have.lengthOf(1)
    })

    it('maxBodySize also holds for a chunked body without Content-Length', async () => {
      const url = await start({ maxBodySize: 1000 })
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(new URL(REFS, url), { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, res => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.write('x'.repeat(600))
        req.write('x'.repeat(600))
        req.end()
      })
      expect(status).to.equal(413)
    })

    it('takes a multipart body as kubo-rpc-client may send it', async () => {
      const url = await start()
      const form = new FormData()
      form.append('file', new Blob(['hello']), 'file')
      const res = await fetch(new URL(REFS, url), { method: 'POST', body: form })
      expect(res.status).to.equal(200)
      await res.text()
    })

    it('maxQuerySize: a target of the limit passes, one byte more is 414', async () => {
      const url = await start({ maxQuerySize: 200 })
      const pad = (length: number): string => `${REFS}&pad=${'p'.repeat(length - REFS.length - 5)}`
      expect(pad(200)).to.have.lengthOf(200)
      expect((await httpRequest(url, pad(200))).status).to.equal(200)
      const res = await httpRequest(url, pad(201))
      expect(res.status).to.equal(414)
      expect(JSON.parse(res.body)).to.include({ Code: 1, Type: 'error' })
    })

    it('maxArgs: the limit passes, one more is 400', async () => {
      const url = await start({ maxArgs: 2 })
      expect((await httpRequest(url, `/api/v0/refs?arg=${CID1}&arg=${CID1}`)).status).to.equal(200)
      const res = await httpRequest(url, `/api/v0/refs?arg=${CID1}&arg=${CID1}&arg=${CID1}`)
      expect(res.status).to.equal(400)
      expect(JSON.parse(res.body).Message).to.equal('too many "ipfs-path" arguments: 3, at most 2 are accepted')
    })
  })

  describe('client address', () => {
    it('ignores X-Forwarded-For from an untrusted address', async () => {
      const url = await start()
      await httpRequest(url, REFS, { headers: { 'X-Forwarded-For': '10.9.9.9' } })
      expect(backend.requests[0].clientAddress).to.equal('127.0.0.1')
    })

    it('takes the right-most untrusted hop when the socket is a trusted proxy', async () => {
      const url = await start({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'] })
      await httpRequest(url, REFS, { headers: { 'X-Forwarded-For': '203.0.113.7, 198.51.100.1, 10.1.2.3' } })
      expect(backend.requests[0].clientAddress).to.equal('198.51.100.1')
    })

    it('a spoofed X-Forwarded-For beyond the trusted hops is not believed', async () => {
      const url = await start({ trustedProxies: ['127.0.0.1'] })
      // the client claims 1.1.1.1; our proxy appended the address it saw
      await httpRequest(url, REFS, { headers: { 'X-Forwarded-For': '1.1.1.1, 192.0.2.50' } })
      expect(backend.requests[0].clientAddress).to.equal('192.0.2.50')
    })

    it('gives IPv4-mapped IPv6 addresses in their IPv4 form', async () => {
      expect(normaliseAddress('::ffff:127.0.0.1')).to.equal('127.0.0.1')
      expect(normaliseAddress('::1')).to.equal('::1')
      const url = await start({ listen: '/ip6/::/tcp/0' })
      await httpRequest(new URL(`http://127.0.0.1:${url.port}`), REFS)
      expect(backend.requests[0].clientAddress).to.equal('127.0.0.1')
    })
  })

  describe('/api/v0/id', () => {
    it('answers the backend\'s identity as one JSON value', async () => {
      const url = await start({}, withId(backend))
      const res = await httpRequest(url, '/api/v0/id')
      expect(res.status).to.equal(200)
      expect(res.headers['content-type']).to.equal('application/json')
      expect(res.headers['x-chunked-output']).to.be.undefined()
      expect(JSON.parse(res.body)).to.deep.equal({ ID: '12D3KooWtest', Addresses: [] })
    })

    it('is not rate limited', async () => {
      const url = await start({ rateLimit: 1 }, withId(backend))
      for (let i = 0; i < 3; i++) {
        expect((await httpRequest(url, '/api/v0/id')).status).to.equal(200)
      }
    })
  })

  it('stop() ends open requests and frees the port', async () => {
    backend.script = async function * (_, signal) {
      yield { Ref: 'one', Err: '' }
      await forever(signal)
    }
    const url = await start()
    const pending = httpRequest(url, REFS)
    await waitFor(() => server?.stats().active === 1, 5000, 'a request in the backend')
    await server?.stop()
    expect(server?.url).to.be.undefined()
    const res = await pending
    expect(parseLines(res.body).errors).to.deep.equal(['the preload API is stopping'])
    await expect(httpRequest(url, REFS)).to.eventually.be.rejected()
  })

  describe('HTTP timeouts and requests Node cannot read', () => {
    it('headersTimeout: half a request line is answered 408 and closed at the limit; headers sent within it are served', async () => {
      const url = await start({ headersTimeout: 500, bodyTimeout: 5000 })
      const slow = await rawExchange(url, [[0, 'POST /api/v0/re']])
      expect(slow.text).to.match(/^HTTP\/1\.1 408 /)
      expect(slow.closedAfter).to.be.within(500 - 20, 500 + 1000)
      const inTime = await rawExchange(url, [[0, `POST ${REFS} HTTP/1.1\r\nHost: x\r\n`], [250, 'Connection: close\r\n\r\n']])
      expect(inTime.text).to.match(/^HTTP\/1\.1 200 /)
      expect(server?.stats().rejected['408']).to.equal(1)
    })

    it('bodyTimeout: a body that does not come is answered 408 and closed at the limit; a body sent within it is served', async () => {
      const url = await start({ headersTimeout: 200, bodyTimeout: 600 })
      const head = `POST ${REFS} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n`
      const slow = await rawExchange(url, [[0, head + 'x'.repeat(5)]])
      expect(slow.text).to.match(/^HTTP\/1\.1 408 /)
      expect(slow.closedAfter).to.be.within(600 - 20, 600 + 1000)
      expect(backend.requests, 'the backend never saw it').to.be.empty()
      const inTime = await rawExchange(url, [[0, head + 'x'.repeat(5)], [300, 'x'.repeat(5)]])
      expect(inTime.text).to.match(/^HTTP\/1\.1 200 /)
      expect(backend.requests).to.have.lengthOf(1)
    })

    it('keepAliveTimeout: an idle kept-alive connection is closed at the limit (Node adds at most 1 s); a request within it is served', async () => {
      const url = await start({ keepAliveTimeout: 400 })
      const request = `POST ${REFS} HTTP/1.1\r\nHost: x\r\n\r\n`
      const idle = await rawExchange(url, [[0, request]])
      expect(idle.text).to.match(/^HTTP\/1\.1 200 /)
      expect(idle.closedAfter).to.be.within(400 - 20, 400 + 1000 + 500)
      const reused = await rawExchange(url, [[0, request], [200, request.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')]])
      expect(reused.text.match(/HTTP\/1\.1 200 /g)).to.have.lengthOf(2)
    })

    it('answers what Node cannot parse 400, headers over Node\'s limit 431, and closes', async () => {
      const url = await start()
      const cases: Array<[string, RegExp]> = [
        ['FOO /api/v0/refs HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
        ['\u0000\u0001\u00ff garbage\r\n\r\n', /^HTTP\/1\.1 400 /],
        [`POST ${REFS} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431 /]
      ]
      for (const [sent, answer] of cases) {
        const res = await rawExchange(url, [[0, sent]])
        expect(res.text, JSON.stringify(sent.slice(0, 30))).to.match(answer)
        expect(res.closedAfter, 'closed by the server').to.be.below(RAW_GIVE_UP)
      }
      expect(server?.stats().rejected).to.deep.equal({ 400: 2, 431: 1 })
      expect(backend.requests).to.be.empty()
    })
  })

  it('refuses bad options', () => {
    const logger = defaultLogger()
    expect(() => new PreloadApiServer(backend, { headersTimeout: 0 }, { logger })).to.throw().with.property('name', 'InvalidOptionError')
    expect(() => new PreloadApiServer(backend, { bodyTimeout: -1 }, { logger })).to.throw().with.property('name', 'InvalidOptionError')
    expect(() => new PreloadApiServer(backend, { keepAliveTimeout: 0 }, { logger })).to.throw().with.property('name', 'InvalidOptionError')
    expect(() => new PreloadApiServer(backend, { listen: 'nonsense' }, { logger })).to.throw().with.property('name', 'InvalidOptionError')
    expect(() => new PreloadApiServer(backend, { rateLimit: 0 }, { logger })).to.throw().with.property('name', 'InvalidOptionError')
    expect(() => new PreloadApiServer(backend, { trustedProxies: ['not-an-ip'] }, { logger })).to.throw().with.property('name', 'InvalidOptionError')
  })
})

function res400Count (server?: PreloadApiServer): number {
  return server?.stats().rejected['400'] ?? 0
}

/** How long rawExchange() waits for the server to close before it gives up */
const RAW_GIVE_UP = 4000

/**
 * Sends raw bytes on a new TCP connection to the API, each part at its
 * offset in ms from connecting, and reads until the server closes (or
 * `RAW_GIVE_UP` passes: `closedAfter` is then Infinity)
 */
async function rawExchange (url: URL, parts: Array<[number, string]>): Promise<{ text: string, closedAfter: number }> {
  const socket = connect({ host: url.hostname, port: Number(url.port) })
  await once(socket, 'connect')
  const connected = Date.now()
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => {})
  const timers = parts.map(([at, part]) => setTimeout(() => { if (socket.writable) { socket.write(Buffer.from(part, 'latin1')) } }, at))
  let gaveUp = false
  const giveUp = setTimeout(() => {
    gaveUp = true
    socket.destroy()
  }, RAW_GIVE_UP)
  let closedAfter = Infinity
  await new Promise<void>(resolve => {
    // the server's FIN, or its reset
    socket.on('end', () => { closedAfter = Date.now() - connected })
    socket.on('close', () => {
      if (closedAfter === Infinity && !gaveUp) {
        closedAfter = Date.now() - connected
      }
      resolve()
    })
  })
  clearTimeout(giveUp)
  timers.forEach(clearTimeout)
  return { text: Buffer.concat(chunks).toString('latin1'), closedAfter }
}
