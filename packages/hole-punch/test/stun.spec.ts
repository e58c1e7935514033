import { createSocket } from 'node:dgram'
import { waitFor } from '@kitsune/test-support'
import { defaultLogger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { StunParseError } from '../src/errors.ts'
import { stunServer } from '../src/index.ts'
import { STUN_MAGIC_COOKIE, StunServer, bindingResponse, parseStunHeader } from '../src/stun.ts'
import type { Socket } from 'node:dgram'

function request (id = Buffer.from('0123456789ab')): Buffer {
  const b = Buffer.alloc(20)
  b.writeUInt16BE(0x0001, 0)
  b.writeUInt16BE(0, 2)
  b.writeUInt32BE(STUN_MAGIC_COOKIE, 4)
  id.copy(b, 8)
  return b
}

function xorMapped (res: Buffer): { address: string, port: number } {
  expect(res.readUInt16BE(0)).to.equal(0x0101)
  expect(res.readUInt16BE(20)).to.equal(0x0020)
  const port = res.readUInt16BE(26) ^ (STUN_MAGIC_COOKIE >>> 16)
  const cookie = Buffer.alloc(4)
  cookie.writeUInt32BE(STUN_MAGIC_COOKIE)
  const address = [0, 1, 2, 3].map(i => res[28 + i] ^ cookie[i]).join('.')
  return { address, port }
}

describe('STUN responder', () => {
  let server: StunServer
  let client: Socket
  let port: number

  beforeEach(async () => {
    server = new StunServer({ logger: defaultLogger() }, { listen: '127.0.0.1:0', rateLimit: 3 })
    await server.start()
    port = Number(server.address?.split(':')[1])
    client = createSocket('udp4')
    await new Promise<void>(resolve => client.bind(0, '127.0.0.1', resolve))
  })

  afterEach(async () => {
    client.close()
    await server.stop()
  })

  async function ask (msg: Buffer): Promise<Buffer> {
    return new Promise(resolve => {
      client.once('message', resolve)
      client.send(msg, port, '127.0.0.1')
    })
  }

  it('answers a binding request with the client\'s address as XOR-MAPPED-ADDRESS', async () => {
    const res = await ask(request())
    expect(res.subarray(8, 20).toString()).to.equal('0123456789ab')
    expect(xorMapped(res)).to.deep.equal({ address: '127.0.0.1', port: client.address().port })
    expect(parseStunHeader(res).type).to.equal(0x0101)
  })

  it('drops malformed messages without crashing, and still answers afterwards', async () => {
    const bad = [Buffer.from('hello'), Buffer.alloc(20), Buffer.concat([request(), Buffer.from([1])]), Buffer.alloc(2000)]
    for (const b of bad) {
      client.send(b, port, '127.0.0.1')
    }
    await waitFor(() => server.malformed === bad.length, 5000, 'malformed messages counted')
    const res = await ask(request(Buffer.from('abcdefghijkl')))
    expect(res.subarray(8, 20).toString()).to.equal('abcdefghijkl')
  })

  it('maxMessageSize at its edge: a request of exactly N bytes is answered, N+4 (the next valid STUN size) dropped; N+1 refused by name', async () => {
    const small = new StunServer({ logger: defaultLogger() }, { listen: '127.0.0.1:0', maxMessageSize: 100 })
    await small.start()
    try {
      const smallPort = Number(small.address?.split(':')[1])
      const sized = (size: number): Buffer => {
        const b = Buffer.concat([request(Buffer.from('sizedrequest')), Buffer.alloc(size - 20)])
        b.writeUInt16BE(size - 20, 2)
        return b
      }
      client.send(sized(104), smallPort, '127.0.0.1')
      await waitFor(() => small.stats().malformed === 1, 5000, 'the 104-byte request dropped')
      const res = await new Promise<Buffer>(resolve => {
        client.once('message', resolve)
        client.send(sized(100), smallPort, '127.0.0.1')
      })
      expect(res.subarray(8, 20).toString()).to.equal('sizedrequest')
      expect(small.stats()).to.include({ answered: 1, malformed: 1 })
      expect(parseStunHeader(sized(100), 100).length).to.equal(80)
      expect(() => parseStunHeader(Buffer.alloc(101), 100)).to.throw(StunParseError, /101 bytes exceeds maxMessageSize 100/)
    } finally {
      await small.stop()
    }
  })

  it('says why a message is not STUN', () => {
    expect(() => parseStunHeader(Buffer.alloc(4))).to.throw(StunParseError, /20-byte header/)
    expect(() => parseStunHeader(Buffer.alloc(20))).to.throw(StunParseError, /magic cookie/)
    expect(() => parseStunHeader(Buffer.alloc(600), 548)).to.throw(StunParseError, /maxMessageSize/)
    const r = request()
    r.writeUInt16BE(4, 2)
    expect(() => parseStunHeader(r)).to.throw(StunParseError, /length/)
  })

  it('answers at most rateLimit requests per second (the 4th is dropped, the 3rd is not)', async () => {
    for (let i = 0; i < 3; i++) {
      await ask(request())
    }
    let answered = false
    client.once('message', () => { answered = true })
    client.send(request(), port, '127.0.0.1')
    // a malformed message after it is a marker: once counted, the 4th request has been handled
    client.send(Buffer.from('x'), port, '127.0.0.1')
    await waitFor(() => server.malformed === 1, 5000, 'marker')
    expect(answered).to.be.false()
  })

  it('stats() counts answered, malformed, rate-limited and ignored messages', async () => {
    await ask(request())
    client.send(Buffer.from('hello'), port, '127.0.0.1')
    // a well-formed STUN message that is not a binding request (a response)
    const response = request()
    response.writeUInt16BE(0x0101, 0)
    client.send(response, port, '127.0.0.1')
    await ask(request())
    await ask(request())
    client.send(request(), port, '127.0.0.1') // the 4th in this second: dropped
    client.send(Buffer.from('x'), port, '127.0.0.1') // marker
    await waitFor(() => server.stats().malformed === 2, 5000, 'marker counted')
    expect(server.stats()).to.deep.equal({ answered: 3, malformed: 2, rateLimited: 1, ignored: 1 })
  })

  it('builds IPv6 responses', () => {
    const res = bindingResponse(Buffer.from('0123456789ab'), '::1', 1234)
    expect(res.readUInt16BE(24)).to.equal(0x0002)
  })
})

describe('STUN responder metrics', () => {
  it('kitsune_stun_* counters move with what the responder did, in a libp2p node', async () => {
    const registry = new Registry()
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }),
      services: { stun: stunServer({ listen: '127.0.0.1:0', rateLimit: 1 }) }
    })
    const client = createSocket('udp4')
    try {
      const port = Number(node.services.stun.address?.split(':')[1])
      await new Promise<void>(resolve => client.bind(0, '127.0.0.1', resolve))
      await new Promise(resolve => {
        client.once('message', resolve)
        client.send(request(), port, '127.0.0.1')
      })
      client.send(request(), port, '127.0.0.1') // over rateLimit 1 in this second
      client.send(Buffer.from('nope'), port, '127.0.0.1')
      await waitFor(() => node.services.stun.stats().malformed === 1, 5000, 'malformed counted')
      const text = await registry.metrics()
      const sample = (name: string): number => Number(text.split('\n').find(l => l.startsWith(`${name} `))?.split(' ').pop())
      expect(sample('kitsune_stun_answered_total')).to.equal(1)
      expect(sample('kitsune_stun_rate_limited_total')).to.equal(1)
      expect(sample('kitsune_stun_malformed_total')).to.equal(1)
      expect(sample('kitsune_stun_ignored_total')).to.equal(0)
    } finally {
      client.close()
      await node.stop()
    }
  })
})
