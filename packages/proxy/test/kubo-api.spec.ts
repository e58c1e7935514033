import { createServer } from 'node:http'
import { createTestNode, handleEcho } from '@kitsune/test-support'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { apiUrl, discoverFromApi, DownstreamDiscoveryError, InvalidDownstreamError, proxy } from '../src/index.ts'
import { addressOf, FAST_POOL, waitFor, whoami, WHOAMI_PROTOCOL, handleWhoami } from './fixtures.ts'
import type { ProxyNode } from './fixtures.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

interface FakeKubo {
  server: Server
  url: string
  requests: string[]
  close(): Promise<void>
}

/**
 * An HTTP server that answers `/api/v0/id` the way Kubo does: POST only,
 * every address ending in /p2p/<id>, including ones a TCP-only proxy cannot
 * use (QUIC, WebSockets, relayed) and one that is another peer's
 */
async function kuboApi (answer: () => unknown, port = 0): Promise<FakeKubo> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    if (req.method !== 'POST') {
      res.writeHead(405, { 'Content-Type': 'text/plain' }).end('405 - Method Not Allowed')
      return
    }
    if (req.url?.startsWith('/api/v0/id') !== true) {
      res.writeHead(404).end()
      return
    }
    const body = answer()
    if (typeof body === 'string') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body)
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))
  })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  const { port: bound } = server.address() as AddressInfo
  return {
    server,
    url: `http://127.0.0.1:${bound}`,
    requests,
    close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) }
  }
}

async function kuboIdOf (node: Libp2p): Promise<Record<string, unknown>> {
  const id = node.peerId.toString()
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const tcpPort = addressOf(node).getComponents().find(c => c.name === 'tcp')?.value
  return {
    ID: id,
    PublicKey: 'CAESIB...',
    Addresses: [
      `/ip4/127.0.0.1/udp/${tcpPort}/quic-v1/p2p/${id}`,
      `/ip4/127.0.0.1/tcp/${tcpPort}/ws/p2p/${id}`,
      `/ip4/127.0.0.1/tcp/4001/p2p/${other}/p2p-circuit/p2p/${id}`,
      `/ip4/127.0.0.1/tcp/1/p2p/${other}`,
      'not a multiaddr',
      `${addressOf(node).toString()}`
    ],
    AgentVersion: 'kubo/0.38.0/',
    Protocols: ['/ipfs/bitswap/1.2.0', '/ipfs/kad/1.0.0']
  }
}

describe('downstreams discovered through the Kubo RPC API', function () {
  this.timeout(30_000)

  const cleanup: Array<() => Promise<void>> = []

  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map(async fn => { await fn() }))
  })

  it('learns the peer id with POST /api/v0/id, skips addresses it cannot dial, and bridges to it', async () => {
    const downstream = await createTestNode()
    await handleWhoami(downstream)
    const answer = await kuboIdOf(downstream)
    const api = await kuboApi(() => answer)
    const proxyNode = await createTestNode({
      services: { proxy: proxy({ ...FAST_POOL, downstreamApis: [api.url], routes: [{ protocols: [WHOAMI_PROTOCOL] }] }) }
    }) as ProxyNode
    const client = await createTestNode()
    cleanup.push(async () => { await Promise.all([client.stop(), proxyNode.stop(), downstream.stop(), api.close()]) })

    await proxyNode.services.proxy.ready()
    const [status] = proxyNode.services.proxy.status().downstreams
    expect(status).to.include({ peerId: downstream.peerId.toString(), status: 'up', source: api.url })
    expect(api.requests).to.deep.equal(['POST /api/v0/id'])

    expect((await whoami(client, addressOf(proxyNode))).id).to.equal(downstream.peerId.toString())
  })

  it('keeps only dialable addresses of the answering peer, those on the API host first', async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const api = await kuboApi(() => ({
      ID: id,
      Addresses: [
        `/ip4/127.0.0.2/tcp/4001/p2p/${id}`,
        `/ip4/127.0.0.1/udp/4001/quic-v1/p2p/${id}`,
        '/ip4/127.0.0.1/tcp/4002',
        `/ip4/127.0.0.1/tcp/4001/p2p/${id}`,
        `/ip4/127.0.0.1/tcp/4001/p2p/${id}`
      ]
    }))
    cleanup.push(api.close)

    const found = await discoverFromApi(new URL(api.url), { canDial: (a) => !a.toString().includes('quic') })
    expect(found.peerId.toString()).to.equal(id)
    expect(found.multiaddrs.map(a => a.toString())).to.deep.equal([
      `/ip4/127.0.0.1/tcp/4002/p2p/${id}`,
      `/ip4/127.0.0.1/tcp/4001/p2p/${id}`,
      `/ip4/127.0.0.2/tcp/4001/p2p/${id}`
    ])
  })

  it('fails clearly when the API answers badly or nothing is dialable', async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const answers: unknown[] = [
      'not json',
      { ID: 'not-a-peer-id', Addresses: [] },
      { ID: id, Addresses: [`/ip4/127.0.0.1/udp/1/quic-v1/p2p/${id}`] }
    ]
    let next = 0
    const api = await kuboApi(() => answers[next++])
    cleanup.push(api.close)
    const canDial = (a: any): boolean => !a.toString().includes('quic')

    await expect(discoverFromApi(new URL(api.url), { canDial })).to.eventually.be.rejectedWith(DownstreamDiscoveryError)
    await expect(discoverFromApi(new URL(api.url), { canDial })).to.eventually.be.rejectedWith(DownstreamDiscoveryError, /no valid ID/)
    await expect(discoverFromApi(new URL(api.url), { canDial })).to.eventually.be.rejectedWith(DownstreamDiscoveryError, /none of the 1 addresses/)
  })

  it('marks an unreachable API down and brings the downstream up once the API answers', async () => {
    const downstream = await createTestNode()
    await handleEcho(downstream)
    const answer = await kuboIdOf(downstream)
    const placeholder = await kuboApi(() => answer)
    const port = Number(new URL(placeholder.url).port)
    await placeholder.close()

    const proxyNode = await createTestNode({
      services: { proxy: proxy({ ...FAST_POOL, apiTimeout: 1_000, downstreamApis: [multiaddr(`/ip4/127.0.0.1/tcp/${port}`)], routes: [{ protocols: ['/x/1.0.0'] }] }) }
    }) as ProxyNode
    cleanup.push(async () => { await Promise.all([proxyNode.stop(), downstream.stop()]) })
    await proxyNode.services.proxy.ready()

    const [down] = proxyNode.services.proxy.status().downstreams
    expect(down.status).to.equal('down')
    expect(down.peerId).to.be.undefined()
    expect(down.lastError).to.include(`127.0.0.1:${port}/api/v0/id`)

    const api = await kuboApi(() => answer, port)
    cleanup.push(api.close)
    await waitFor(() => proxyNode.services.proxy.status().downstreams[0].status === 'up', 10_000, 'the downstream to come up')
    expect(proxyNode.services.proxy.status().downstreams[0].peerId).to.equal(downstream.peerId.toString())
  })

  it('refuses a downstream that has the proxy\'s own identity', async () => {
    const key = await generateKeyPair('Ed25519')
    const oldNode = await createTestNode({ privateKey: key })
    const proxyNode = await createTestNode({
      privateKey: key,
      services: { proxy: proxy({ ...FAST_POOL, downstreams: [addressOf(oldNode)], routes: [{ protocols: ['/x/1.0.0'] }] }) }
    }) as ProxyNode
    cleanup.push(async () => { await Promise.all([proxyNode.stop(), oldNode.stop()]) })
    await proxyNode.services.proxy.ready()

    const [status] = proxyNode.services.proxy.status().downstreams
    expect(status.status).to.equal('down')
    expect(status.lastError).to.include('own peer id')
  })

  describe('apiUrl', () => {
    it('accepts URLs and multiaddrs', () => {
      expect(apiUrl('http://127.0.0.1:5001').href).to.equal('http://127.0.0.1:5001/')
      expect(apiUrl('/ip4/127.0.0.1/tcp/5001').href).to.equal('http://127.0.0.1:5001/')
      expect(apiUrl('/ip6/::1/tcp/5001/http').href).to.equal('http://[::1]:5001/')
      expect(apiUrl('/dns4/kubo.example/tcp/443/https').href).to.equal('https://kubo.example/')
    })

    it('rejects addresses with no host or port', () => {
      expect(() => apiUrl('/ip4/127.0.0.1/udp/5001')).to.throw(InvalidDownstreamError)
      expect(() => apiUrl('nonsense')).to.throw(InvalidDownstreamError)
    })
  })
})
