import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { JsonProcess, run } from './fixtures.ts'

describe('kitsune relay / kitsune peer', () => {
  it('relay --help and peer --help list every flag of the contract', async () => {
    const relay = await run(['relay', '--help'])
    expect(relay.code).to.equal(0)
    for (const f of ['--listen', '--announce', '--bootstrap', '--stun-listen', '--key', '--public-cidr', '--json']) {
      expect(relay.stdout).to.include(f)
    }
    const peer = await run(['peer', '--help'])
    expect(peer.code).to.equal(0)
    for (const f of ['--bootstrap', '--punch-port', '--transports', '--dial', '--key', '--public-cidr', '--json']) {
      expect(peer.stdout).to.include(f)
    }
  })

  it('refuses missing or bad flags with exit 2 and a message naming them', async () => {
    expect((await run(['relay'])).stderr).to.match(/listen is required/)
    expect((await run(['relay'])).code).to.equal(2)
    expect((await run(['peer'])).stderr).to.match(/bootstrap is required/)
    const cidr = await run(['relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--public-cidr', '198.18.0.0/40'])
    expect(cidr.code).to.equal(2)
    expect(cidr.stderr).to.include('198.18.0.0/40')
    const stun = await run(['relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--stun-listen', 'nope'])
    expect(stun.code).to.equal(2)
    const transports = await run(['peer', '--bootstrap', '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGRUVh2VNEc8a2bXk9TzUhfY5ZJgJMpdAkYV8ZQu4X1oN', '--transports', 'quic'])
    expect(transports.code).to.equal(2)
    expect(transports.stderr).to.include('quic')
  })

  it('relay --json: the first line is ready with peerId, multiaddrs and the STUN address; STUN answers; SIGTERM stops it', async () => {
    const relay = new JsonProcess(['relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--stun-listen', '127.0.0.1:0', '--json'])
    try {
      const ready = await relay.event('ready')
      expect(relay.events[0]).to.equal(ready)
      expect(Object.keys(ready)).to.deep.equal(['event', 'peerId', 'multiaddrs', 'stun'])
      expect(ready.multiaddrs[0]).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
      expect(ready.stun).to.match(/^127\.0\.0\.1:\d+$/)
      const sock = createSocket('udp4')
      const req = Buffer.alloc(20)
      req.writeUInt16BE(1, 0)
      req.writeUInt32BE(0x2112A442, 4)
      const res = await new Promise<Buffer>(resolve => {
        sock.once('message', resolve)
        sock.send(req, Number(ready.stun.split(':')[1]), '127.0.0.1')
      })
      sock.close()
      expect(res.readUInt16BE(0)).to.equal(0x0101)
      const exit = await relay.stop('SIGTERM')
      expect(exit.code).to.equal(0)
      expect(relay.events.at(-1).event).to.equal('stopped')
    } finally {
      relay.kill()
    }
  })

  it('relay without --stun-listen says "stun": null; a peer bootstraps to it and reports ready and reachability', async () => {
    const relay = new JsonProcess(['relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    try {
      const ready = await relay.event('ready')
      expect(ready.stun).to.equal(null)
      const peer = new JsonProcess(['peer', '--bootstrap', ready.multiaddrs[0], '--json'])
      try {
        const pReady = await peer.event('ready')
        expect(Object.keys(pReady)).to.deep.equal(['event', 'peerId'])
        const reach = await peer.event('reachability')
        expect(['reachable', 'not-reachable', 'unknown']).to.include(reach.status)
        expect((await peer.stop('SIGINT')).code).to.equal(0)
      } finally {
        peer.kill()
      }
    } finally {
      await relay.stop()
      relay.kill()
    }
  })
  it('peer without net.BoundSocket (fixed-port forced with KITSUNE_PUNCH_MODE, the fallback of Node 20/22): a warning names the mode and the punch port, then ready and reachability', async () => {
    const relay = new JsonProcess(['relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    const env = { ...process.env, KITSUNE_PUNCH_MODE: 'fixed-port' }
    try {
      const ready = await relay.event('ready')
      // --punch-port 0: the peer picks a free punch port and listens on another
      const auto = new JsonProcess(['peer', '--bootstrap', ready.multiaddrs[0], '--json'], { env })
      try {
        expect((await auto.event('ready')).peerId).to.be.a('string')
        expect(auto.events[0].event).to.equal('ready')
        const warning = await auto.event('warning')
        expect(warning.message).to.match(/punch mode fixed-port/)
        const port = Number(/from port (\d+)/.exec(warning.message)?.[1])
        expect(port).to.be.within(1, 65535)
        const reach = await auto.event('reachability')
        expect(['reachable', 'not-reachable', 'unknown']).to.include(reach.status)
        expect(auto.events.filter(e => e.event === 'error')).to.deep.equal([])
        expect((await auto.stop('SIGINT')).code).to.equal(0)
      } finally {
        auto.kill()
      }
      // --punch-port N: punches leave from N, which stays free of listeners
      const free = await new Promise<number>(resolve => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const p = (server.address() as any).port
          server.close(() => { resolve(p) })
        })
      })
      const fixed = new JsonProcess(['peer', '--bootstrap', ready.multiaddrs[0], '--punch-port', String(free), '--json'], { env })
      try {
        await fixed.event('ready')
        expect((await fixed.event('warning')).message).to.include(`from port ${free}`)
        expect(['reachable', 'not-reachable', 'unknown']).to.include((await fixed.event('reachability')).status)
        // nothing listens on the punch port
        const probe = createServer()
        await new Promise<void>((resolve, reject) => { probe.once('error', reject).listen(free, '0.0.0.0', resolve) })
        await new Promise<void>(resolve => { probe.close(() => { resolve() }) })
        expect((await fixed.stop('SIGINT')).code).to.equal(0)
      } finally {
        fixed.kill()
      }
      const bad = new JsonProcess(['peer', '--bootstrap', ready.multiaddrs[0], '--json'], { env: { ...process.env, KITSUNE_PUNCH_MODE: 'nope' } })
      expect((await bad.exited).code).to.not.equal(0)
      expect(JSON.stringify(bad.events) + bad.stderr).to.include('KITSUNE_PUNCH_MODE')
    } finally {
      await relay.stop()
      relay.kill()
    }
  })

  it('relay --listen /ws: ready announces a /ws address; a WebSockets libp2p node connects over it and identify lists the Circuit Relay v2 hop', async () => {
    const relay = new JsonProcess(['relay', '--listen', '/ip4/127.0.0.1/tcp/0/ws', '--json'])
    const client = await createLibp2p({
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
      services: { identify: identify() }
    })
    try {
      const ready = await relay.event('ready')
      expect(Object.keys(ready)).to.deep.equal(['event', 'peerId', 'multiaddrs', 'stun'])
      const ws = ready.multiaddrs.find((a: string) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//.test(a))
      expect(ws, ready.multiaddrs.join(' ')).to.be.a('string')
      const identified = new Promise<string[]>(resolve => {
        client.addEventListener('peer:identify', evt => {
          if (evt.detail.peerId.toString() === ready.peerId) {
            resolve(evt.detail.protocols)
          }
        })
      })
      const connection = await client.dial(multiaddr(ws), { signal: AbortSignal.timeout(10_000) })
      expect(connection.remotePeer.toString()).to.equal(ready.peerId)
      expect(connection.remoteAddr.toString()).to.include('/ws')
      expect(await identified).to.include('/libp2p/circuit/relay/0.2.0/hop')
    } finally {
      await client.stop()
      await relay.stop()
      relay.kill()
    }
  })
})
