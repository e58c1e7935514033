import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createTestNode, ECHO_PROTOCOL, echoRoundTrip, handleEcho, patternBytes } from '@kitsune/test-support'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'aegir/chai'
import { equals } from 'uint8arrays/equals'
import { frontDoorConnectionManager, proxy } from '../src/index.ts'
import { addressOf, FAST_POOL, handleWhoami, startCluster, startProxyPreferring, waitFor, whoami, WHOAMI_PROTOCOL } from './fixtures.ts'
import type { Cluster, ProxyNode } from './fixtures.ts'
import type { BaseServices } from '@kitsune/test-support'
import type { Libp2p } from '@libp2p/interface'

type Node = Libp2p<BaseServices>

const CODE_P2P = 421

async function clients (count: number): Promise<Node[]> {
  return Promise.all(Array.from({ length: count }, async () => createTestNode()))
}

async function stopAll (nodes: Array<Libp2p | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => { await n?.stop() }))
}

interface ChildDownstream {
  address: string
  freeze(): void
  kill(): void
}

/**
 * Starts a whoami downstream in its own process
 */
async function spawnDownstream (): Promise<ChildDownstream> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./processes/whoami-node.js', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(createInterface({ input: child.stdout }), 'line')
  const { address } = JSON.parse(line)
  return {
    address,
    freeze: () => { child.kill('SIGSTOP') },
    kill: () => { child.kill('SIGKILL') }
  }
}

function peerIdOf (address: string): string {
  return address.split('/p2p/').pop() ?? ''
}

function tally (ids: string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const id of ids) {
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

describe('proxy router', function () {
  this.timeout(60_000)

  let cluster: Cluster | undefined
  let peers: Node[] = []

  afterEach(async () => {
    await stopAll(peers)
    peers = []
    await cluster?.stop()
    cluster = undefined
  })

  describe('strategies on real streams', () => {
    it('sticky: spreads new peers over the downstreams and keeps each peer on its own', async () => {
      cluster = await startCluster(2, { routes: [{ protocols: [WHOAMI_PROTOCOL], strategy: 'sticky' }] })
      peers = await clients(6)
      const target = addressOf(cluster.proxy)

      const servedBy: string[] = []
      for (const client of peers) {
        const answers = []
        for (let i = 0; i < 3; i++) {
          answers.push((await whoami(client, target)).id)
        }
        expect(new Set(answers).size, 'one peer stays on one downstream').to.equal(1)
        servedBy.push(answers[0])
      }

      const downstreamIds = cluster.downstreams.map(d => d.peerId.toString())
      expect([...tally(servedBy).keys()].sort()).to.deep.equal([...downstreamIds].sort())
      expect([...tally(servedBy).values()]).to.deep.equal([3, 3])
    })

    it('least-outstanding: streams held open spread evenly', async () => {
      cluster = await startCluster(3, { routes: [{ protocols: [WHOAMI_PROTOCOL], strategy: 'least-outstanding' }] })
      peers = await clients(1)
      const target = addressOf(cluster.proxy)

      const held = []
      for (let i = 0; i < 9; i++) {
        held.push(await whoami(peers[0], target, { close: false }))
      }
      expect([...tally(held.map(h => h.id)).values()]).to.deep.equal([3, 3, 3])
      await Promise.all(held.map(async h => { await h.stream.close() }))
    })

    it('hash: the same peer always lands on the same downstream, different peers spread', async () => {
      cluster = await startCluster(3, { routes: [{ protocols: [WHOAMI_PROTOCOL], strategy: 'hash' }] })
      peers = await clients(8)
      const target = addressOf(cluster.proxy)

      const servedBy: string[] = []
      for (const client of peers) {
        const a = await whoami(client, target)
        const b = await whoami(client, target)
        expect(a.id).to.equal(b.id)
        servedBy.push(a.id)
      }
      expect(tally(servedBy).size).to.be.greaterThan(1)
    })

    it('accepts a user strategy registered by name', async () => {
      let calls = 0
      cluster = await startCluster(2, {
        strategies: {
          last: () => ({
            name: 'last',
            select: (_request, downstreams) => { calls++; return [...downstreams].reverse() }
          })
        },
        routes: [{ protocols: [WHOAMI_PROTOCOL], strategy: 'last' }]
      })
      peers = await clients(1)
      const healthy = cluster.proxy.services.proxy.pool.healthy()
      const { id } = await whoami(peers[0], addressOf(cluster.proxy))
      expect(calls).to.equal(1)
      expect(id).to.equal(healthy[healthy.length - 1].peerId.toString())
    })
  })

  describe('downstream failure', () => {
    it('sends new streams to the others while a downstream is down, and uses it again when it returns', async () => {
      const victimKey = await generateKeyPair('Ed25519')
      const victim = await createTestNode({ privateKey: victimKey })
      const survivor = await createTestNode()
      await Promise.all([handleWhoami(victim), handleWhoami(survivor)])
      const victimAddress = addressOf(victim)
      cluster = await startCluster(0, {
        downstreams: [victimAddress, addressOf(survivor)],
        routes: [{ protocols: [WHOAMI_PROTOCOL], strategy: 'least-outstanding' }]
      })
      cluster.downstreams.push(victim, survivor)
      peers = await clients(1)
      const target = addressOf(cluster.proxy)
      const pool = cluster.proxy.services.proxy.pool

      const events: string[] = []
      pool.addEventListener('downstream:down', (evt) => { events.push(`down ${evt.detail.peerId}`) })
      pool.addEventListener('downstream:up', (evt) => { events.push(`up ${evt.detail.peerId}`) })

      await victim.stop()
      await waitFor(() => pool.healthy().length === 1, 5_000, 'the victim to be marked down')
      expect(events).to.deep.equal([`down ${victim.peerId.toString()}`])

      for (let i = 0; i < 6; i++) {
        expect((await whoami(peers[0], target)).id).to.equal(survivor.peerId.toString())
      }

      // the same node comes back on the same address
      const revived = await createTestNode({ privateKey: victimKey, listen: [victimAddress.decapsulateCode(CODE_P2P).toString()] })
      await handleWhoami(revived)
      cluster.downstreams[0] = revived

      await waitFor(() => pool.healthy().length === 2, 10_000, 'the victim to be redialled')
      expect(events).to.deep.equal([`down ${victim.peerId.toString()}`, `up ${victim.peerId.toString()}`])

      const held = []
      for (let i = 0; i < 4; i++) {
        held.push(await whoami(peers[0], target, { close: false }))
      }
      expect([...tally(held.map(h => h.id)).values()]).to.deep.equal([2, 2])
      await Promise.all(held.map(async h => { await h.stream.close() }))
    })

    it('tries the next downstream when the chosen one cannot open the protocol', async () => {
      const broken = await createTestNode()
      const working = await createTestNode()
      await handleWhoami(working)
      const proxyNode = await startProxyPreferring([addressOf(broken), addressOf(working)], broken.peerId.toString())
      cluster = { proxy: proxyNode, downstreams: [broken, working], stop: async () => stopAll([proxyNode, broken, working]) }
      peers = await clients(1)

      for (let i = 0; i < 3; i++) {
        expect((await whoami(peers[0], addressOf(proxyNode))).id).to.equal(working.peerId.toString())
      }
    })

    it('times a set-up out at setupTimeout, fails over, and marks a downstream down after maxConsecutiveFailures', async () => {
      const frozen = await spawnDownstream()
      const working = await createTestNode()
      await handleWhoami(working)
      const frozenId = peerIdOf(frozen.address)
      const proxyNode = await startProxyPreferring([frozen.address, addressOf(working)], frozenId, { setupTimeout: 300 }, { maxConsecutiveFailures: 2, reconnectInitialDelay: 60_000 })
      cluster = { proxy: proxyNode, downstreams: [working], stop: async () => { frozen.kill(); await stopAll([proxyNode, working]) } }
      const pool = proxyNode.services.proxy.pool
      expect(pool.healthy()).to.have.lengthOf(2)

      // the connection stays open, but nothing answers on it any more
      frozen.freeze()
      peers = await clients(1)

      const started = Date.now()
      expect((await whoami(peers[0], addressOf(proxyNode))).id).to.equal(working.peerId.toString())
      expect(Date.now() - started).to.be.within(280, 3_000)
      expect(pool.list().find(d => d.peerId === frozenId)?.status).to.equal('up')

      await whoami(peers[0], addressOf(proxyNode))
      const status = pool.list().find(d => d.peerId === frozenId)
      expect(status?.status).to.equal('down')
      expect(status?.lastError).to.include('2 consecutive failures')
      expect(pool.healthy().map(d => d.peerId.toString())).to.deep.equal([working.peerId.toString()])

      // down means never handed out: the next stream goes straight to `working`
      const quick = Date.now()
      await whoami(peers[0], addressOf(proxyNode))
      expect(Date.now() - quick).to.be.lessThan(280)
    })

    it('does not count a downstream that lacks one protocol as unhealthy', async () => {
      const partial = await createTestNode()
      const working = await createTestNode()
      await handleWhoami(working)
      const proxyNode = await startProxyPreferring([addressOf(partial), addressOf(working)], partial.peerId.toString(), {}, { maxConsecutiveFailures: 2 })
      cluster = { proxy: proxyNode, downstreams: [partial, working], stop: async () => stopAll([proxyNode, partial, working]) }
      peers = await clients(1)

      for (let i = 0; i < 4; i++) {
        expect((await whoami(peers[0], addressOf(proxyNode))).id).to.equal(working.peerId.toString())
      }
      expect(proxyNode.services.proxy.pool.healthy()).to.have.lengthOf(2)
    })

    it('resets upstream streams at once when no downstream is healthy', async () => {
      const gone = await createTestNode()
      const goneAddress = addressOf(gone)
      await gone.stop()
      const proxyNode = await createTestNode({
        services: { proxy: proxy({ ...FAST_POOL, downstreams: [goneAddress], routes: [{ protocols: [ECHO_PROTOCOL] }] }) }
      }) as ProxyNode
      cluster = { proxy: proxyNode, downstreams: [], stop: async () => stopAll([proxyNode]) }
      await proxyNode.services.proxy.ready()
      expect(proxyNode.services.proxy.status().downstreams[0].status).to.equal('down')

      peers = await clients(1)
      const stream = await peers[0].dialProtocol(addressOf(proxyNode), ECHO_PROTOCOL)
      await expect(echoRoundTrip(stream, patternBytes(10))).to.eventually.be.rejected()
    })
  })

  describe('one-way and isolation', () => {
    it('refuses streams a downstream opens for a routed protocol, and keeps serving upstream peers', async () => {
      cluster = await startCluster(1)
      const [downstream] = cluster.downstreams
      const stream = await downstream.dialProtocol(addressOf(cluster.proxy), ECHO_PROTOCOL)
      await expect(echoRoundTrip(stream, patternBytes(100))).to.eventually.be.rejected()

      peers = await clients(1)
      const ok = await peers[0].dialProtocol(addressOf(cluster.proxy), ECHO_PROTOCOL)
      expect(equals(await echoRoundTrip(ok, patternBytes(100)), patternBytes(100))).to.be.true()
    })

    it('shows upstream peers only the proxy: its own addresses and the routed protocols', async () => {
      cluster = await startCluster(2)
      peers = await clients(1)
      const client = peers[0]
      await whoami(client, addressOf(cluster.proxy))

      const result = await client.services.identify.identify(client.getConnections(cluster.proxy.peerId)[0])
      const proxyAddresses = cluster.proxy.getMultiaddrs().map(a => a.toString().replace(/\/p2p\/.*$/, ''))
      expect(result.listenAddrs.map(a => a.toString())).to.have.members(proxyAddresses)
      expect(result.protocols).to.include.members([ECHO_PROTOCOL, WHOAMI_PROTOCOL])

      const downstreamIds = cluster.downstreams.map(d => d.peerId.toString())
      const downstreamPorts = cluster.downstreams.map(d => addressOf(d).getComponents().find(c => c.name === 'tcp')?.value)
      const known = await client.peerStore.all()
      for (const peer of known) {
        expect(downstreamIds).to.not.include(peer.id.toString())
        for (const address of peer.addresses) {
          expect(downstreamPorts).to.not.include(address.multiaddr.getComponents().find(c => c.name === 'tcp')?.value)
        }
      }
      expect(client.getPeers().map(p => p.toString())).to.deep.equal([cluster.proxy.peerId.toString()])
    })
  })

  describe('bad input', () => {
    it('rejects an unrouted protocol and keeps serving', async () => {
      cluster = await startCluster(1)
      peers = await clients(1)
      await expect(peers[0].dialProtocol(addressOf(cluster.proxy), '/not-routed/1.0.0')).to.eventually.be.rejected()
        .with.property('name', 'UnsupportedProtocolError')
      const ok = await peers[0].dialProtocol(addressOf(cluster.proxy), ECHO_PROTOCOL)
      expect(equals(await echoRoundTrip(ok, patternBytes(64)), patternBytes(64))).to.be.true()
    })

    it('propagates an upstream reset to the downstream and a downstream reset to the upstream', async () => {
      const downstream = await createTestNode()
      const resetSeen = Promise.withResolvers<string>()
      const bytesSeen = Promise.withResolvers<void>()
      await downstream.handle('/kitsune-test/reset/1.0.0', async (stream) => {
        stream.addEventListener('message', () => { bytesSeen.resolve() }, { once: true })
        stream.addEventListener('close', (evt) => { resetSeen.resolve(evt.error?.name ?? 'clean') })
      })
      await downstream.handle('/kitsune-test/abort/1.0.0', async (stream) => {
        stream.send(new Uint8Array(10))
        await new Promise(resolve => setTimeout(resolve, 50))
        stream.abort(new Error('downstream gave up'))
      })
      cluster = await startCluster(0, {
        downstreams: [addressOf(downstream)],
        routes: [{ protocols: ['/kitsune-test/reset/1.0.0', '/kitsune-test/abort/1.0.0'] }]
      })
      cluster.downstreams.push(downstream)
      peers = await clients(1)

      const up = await peers[0].dialProtocol(addressOf(cluster.proxy), '/kitsune-test/reset/1.0.0')
      up.send(new Uint8Array(10))
      // the bridge is up once the bytes are through
      await bytesSeen.promise
      up.abort(new Error('client gave up'))
      expect(await resetSeen.promise).to.equal('StreamResetError')

      const down = await peers[0].dialProtocol(addressOf(cluster.proxy), '/kitsune-test/abort/1.0.0')
      const closed = await new Promise<any>((resolve) => { down.addEventListener('close', resolve, { once: true }) })
      expect(closed.error?.name).to.equal('StreamResetError')

      await waitFor(() => cluster?.proxy.services.proxy.status().openBridges === 0, 5_000, 'bridges to be released')
    })

    it('survives a burst of abrupt resets mid-transfer and serves other peers meanwhile', async () => {
      cluster = await startCluster(1)
      peers = await clients(2)
      const [rude, polite] = peers
      const target = addressOf(cluster.proxy)

      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const stream = await rude.dialProtocol(target, ECHO_PROTOCOL)
        stream.send(patternBytes(256 * 1024, i + 1))
        await new Promise(resolve => setTimeout(resolve, i % 5))
        stream.abort(new Error('rude'))
      }))

      const ok = await polite.dialProtocol(target, ECHO_PROTOCOL)
      const payload = patternBytes(1024 * 1024, 99)
      expect(equals(await echoRoundTrip(ok, payload), payload)).to.be.true()
      await waitFor(() => cluster?.proxy.services.proxy.status().openBridges === 0, 5_000, 'bridges to be released')
    })

    it('limits concurrent streams per upstream peer at maxStreamsPerPeer and keeps serving others', async () => {
      cluster = await startCluster(1, { routes: [{ protocols: [WHOAMI_PROTOCOL], maxStreamsPerPeer: 4 }] })
      peers = await clients(2)
      const [greedy, other] = peers
      const target = addressOf(cluster.proxy)

      const attempts = await Promise.allSettled(Array.from({ length: 10 }, async () => whoami(greedy, target, { close: false })))
      const held = attempts.filter(a => a.status === 'fulfilled')
      expect(held).to.have.lengthOf(4)
      expect(attempts.filter(a => a.status === 'rejected')).to.have.lengthOf(6)

      expect((await whoami(other, target)).id).to.equal(cluster.downstreams[0].peerId.toString())

      await Promise.all(held.map(async h => { await (h as PromiseFulfilledResult<any>).value.stream.close() }))
      await waitFor(() => cluster?.proxy.services.proxy.status().openBridges === 0, 5_000, 'held streams to close')
      // the limit is on concurrent streams: once closed, the peer may open more
      await whoami(greedy, target)
    })

    it('gives up after maxSetupAttempts downstreams have failed', async () => {
      const broken = await Promise.all([createTestNode(), createTestNode(), createTestNode()])
      const working = await createTestNode()
      await handleWhoami(working)
      const build = async (maxSetupAttempts: number): Promise<ProxyNode> =>
        startProxyPreferring([...broken, working].map(addressOf), broken[0].peerId.toString(), { strategy: { name: 'working-last', select: (_r, d) => [...d].sort((a) => a.peerId.equals(working.peerId) ? 1 : -1) }, maxSetupAttempts }, { maxConsecutiveFailures: 100 })
      const three = await build(3)
      const four = await build(4)
      cluster = { proxy: three, downstreams: [...broken, working], stop: async () => stopAll([three, four, ...broken, working]) }
      peers = await clients(1)

      await expect(whoami(peers[0], addressOf(three))).to.eventually.be.rejected()
      expect((await whoami(peers[0], addressOf(four))).id).to.equal(working.peerId.toString())
    })

    it('opens at most maxStreamsPerDownstream streams of a route on one downstream', async () => {
      cluster = await startCluster(1, { routes: [{ protocols: [WHOAMI_PROTOCOL], maxStreamsPerDownstream: 2 }] })
      peers = await clients(3)
      const target = addressOf(cluster.proxy)

      const attempts = await Promise.allSettled(peers.map(async client => whoami(client, target, { close: false })))
      expect(attempts.filter(a => a.status === 'fulfilled')).to.have.lengthOf(2)
      await Promise.all(attempts.map(async a => { if (a.status === 'fulfilled') { await a.value.stream.close() } }))
    })

    it('resets a bridge that stays idle past idleTimeout, but not a slow one that keeps moving', async () => {
      cluster = await startCluster(1, { routes: [{ protocols: [ECHO_PROTOCOL], idleTimeout: 300 }] })
      peers = await clients(1)
      const target = addressOf(cluster.proxy)

      const idle = await peers[0].dialProtocol(target, ECHO_PROTOCOL)
      const started = Date.now()
      const idleClosed = await new Promise<any>((resolve) => { idle.addEventListener('close', resolve, { once: true }) })
      expect(idleClosed.error).to.exist()
      expect(Date.now() - started).to.be.within(250, 3_000)

      const slow = await peers[0].dialProtocol(target, ECHO_PROTOCOL)
      let echoed = 0
      slow.addEventListener('message', (evt) => { echoed += evt.data.byteLength })
      for (let i = 0; i < 8; i++) {
        slow.send(new Uint8Array(10))
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      expect(slow.status).to.equal('open')
      await slow.close()
      await waitFor(() => echoed === 80, 2_000, 'all slow bytes echoed')
    })
  })

  describe('front door', () => {
    async function burst (proxyNode: ProxyNode, count: number): Promise<number> {
      const target = addressOf(proxyNode)
      const results = await Promise.allSettled(peers.slice(0, count).map(async client => {
        const stream = await client.dialProtocol(target, ECHO_PROTOCOL)
        return echoRoundTrip(stream, patternBytes(16))
      }))
      return results.filter(r => r.status === 'fulfilled').length
    }

    it('accepts a burst of peers from one address with frontDoorConnectionManager, where libp2p defaults refuse them', async () => {
      const downstream = await createTestNode()
      await handleEcho(downstream)
      peers = await clients(30)

      const withDefaults = await createTestNode({
        config: { connectionManager: {} },
        services: { proxy: proxy({ downstreams: [addressOf(downstream)], routes: [{ protocols: [ECHO_PROTOCOL] }] }) }
      }) as ProxyNode
      const frontDoor = await createTestNode({
        config: { connectionManager: frontDoorConnectionManager() },
        services: { proxy: proxy({ downstreams: [addressOf(downstream)], routes: [{ protocols: [ECHO_PROTOCOL] }] }) }
      }) as ProxyNode
      cluster = { proxy: frontDoor, downstreams: [downstream], stop: async () => stopAll([withDefaults, frontDoor, downstream]) }
      await Promise.all([withDefaults.services.proxy.ready(), frontDoor.services.proxy.ready()])

      expect(await burst(withDefaults, 30)).to.be.lessThan(30)
      expect(await burst(frontDoor, 30)).to.equal(30)
    })

    it('takes overrides and keeps the other defaults', () => {
      expect(frontDoorConnectionManager({ maxConnections: 10 })).to.deep.equal({ ...frontDoorConnectionManager(), maxConnections: 10 })
    })
  })
})
