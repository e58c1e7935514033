/**
 * The page's preload call (src/preload.js), in Node against a real HTTP
 * server: the request js-ipfs made, and how each kind of answer ends
 */

import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { preloadCid } from '../src/preload.js'

const cid = CID.parse('bafkreia7zpinh23mbyrg4nv5rrhaajttjtspot3y5rwxazbxr2muoyiipq')

describe('preloadCid', () => {
  /** @type {import('node:http').Server} */
  let server
  /** @type {URL} */
  let base
  /** @type {Array<{ method?: string, url?: string, headers: import('node:http').IncomingHttpHeaders, body: string }>} */
  const requests = []
  /** @type {(res: import('node:http').ServerResponse) => void} */
  let answer = () => {}

  before(async () => {
    server = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8').on('data', chunk => { body += chunk })
      req.on('end', () => {
        requests.push({ method: req.method, url: req.url, headers: req.headers, body })
        answer(res)
      })
    })
    await new Promise(resolve => { server.listen(0, '127.0.0.1', () => { resolve(undefined) }) })
    const address = server.address()
    assert.ok(address != null && typeof address === 'object')
    base = new URL(`http://127.0.0.1:${address.port}`)
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise(resolve => { server.close(resolve) })
  })

  it('sends js-ipfs\'s call, POST /api/v0/refs?r=true&arg=<cid> with no body and no content type, and counts the clean lines', async () => {
    answer = res => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(`{"Ref":"${cid}","Err":""}\n{"Ref":"bafkqaaa","Err":""}\n`)
    }
    assert.deepEqual(await preloadCid(base, cid), { refs: 2 })
    const request = requests.at(-1)
    assert.equal(request?.method, 'POST')
    assert.equal(request?.url, `/api/v0/refs?r=true&arg=${cid}`)
    assert.equal(request?.body, '')
    assert.equal(request?.headers['content-type'], undefined)
  })

  it('keeps a base URL\'s path (a preload endpoint under a prefix)', async () => {
    answer = res => { res.writeHead(200).end('') }
    await preloadCid(new URL('/preload', base), cid)
    assert.equal(requests.at(-1)?.url, `/preload/api/v0/refs?r=true&arg=${cid}`)
  })

  it('fails on an Err line after the 200 (Kubo and Kitsune report failures there)', async () => {
    answer = res => {
      res.writeHead(200)
      res.end(`{"Ref":"${cid}","Err":""}\n{"Ref":"","Err":"no downstream can preload"}\n`)
    }
    await assert.rejects(preloadCid(base, cid), { name: 'PreloadError', message: 'the preload endpoint failed: no downstream can preload' })
  })

  it('fails on a status other than 200, with the status and the body', async () => {
    answer = res => { res.writeHead(429).end('429 - Too Many Requests') }
    await assert.rejects(preloadCid(base, cid), { message: 'the preload endpoint answered 429: 429 - Too Many Requests' })
  })

  it('fails on a line that is not JSON', async () => {
    answer = res => { res.writeHead(200).end('<html>\n') }
    await assert.rejects(preloadCid(base, cid), { message: /not JSON: <html>/ })
  })

  it('stops reading past maxResponseBytes, and accepts an answer of exactly that size', async () => {
    const line = `{"Ref":"${cid}","Err":""}\n`
    answer = res => { res.writeHead(200).end(line.repeat(10)) }
    assert.deepEqual(await preloadCid(base, cid, { maxResponseBytes: line.length * 10 }), { refs: 10 })
    await assert.rejects(preloadCid(base, cid, { maxResponseBytes: line.length * 10 - 1 }), { message: `the preload answer is longer than ${line.length * 10 - 1} bytes` })
  })
})
