/**
 * js-ipfs 0.18.1 with `Routing.Type: 'dhtclient'` and the proxy as its only
 * peer uses the proxy as its DHT server: the proxy runs no DHT of its own
 * and bridges DHT streams (`--route dht`) to a `kitsune node --dht`
 * downstream. Another js-ipfs, B, whose only bootstrap peer is the
 * downstream, provides a CID to the downstream; A finds B's addresses
 * and finds B as the CID's provider, answers only the downstream's DHT can
 * give (the proxy runs no DHT; it bridges the streams).
 *
 * js-ipfs 0.18's kad-dht 7 is a dual DHT: the WAN DHT (`/ipfs/kad/1.0.0`)
 * ignores peers with only private addresses, so on loopback it is the LAN
 * DHT (`/ipfs/lan/kad/1.0.0`, always in server mode) that talks to the
 * proxy; the proxy's `dht` route covers both protocols.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { createIpfs, waitForPeer } from '../src/ipfs.js'
import { sharedTopology } from '../src/shared-topology.js'

const QUERY_TIMEOUT = 15_000
const DEADLINE = 45_000

/**
 * Runs a DHT query until it yields a matching event. The first queries may
 * find an empty routing table while identify is still running; those are
 * retried until `deadline`.
 *
 * @param {() => AsyncIterable<any>} query
 * @param {(event: any) => boolean} match
 * @param {number} deadline - Date.now() value
 */
async function queryUntil (query, match, deadline) {
  /** @type {any[]} */
  const seen = []
  while (true) {
    try {
      for await (const event of query()) {
        seen.push({ name: event.name, from: event.from?.toString(), error: event.error?.message })
        if (match(event)) {
          return event
        }
      }
    } catch (err) {
      seen.push({ thrown: err.code ?? err.message })
    }
    if (Date.now() > deadline) {
      throw new Error(`no matching DHT answer before the deadline; events: ${JSON.stringify(seen.slice(-30))}`)
    }
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

/**
 * Runs a DHT query to its end: its events, and what it threw
 *
 * @param {() => AsyncIterable<any>} query
 */
async function drain (query) {
  const events = []
  try {
    for await (const event of query()) {
      events.push(event)
    }
    return { events }
  } catch (err) {
    return { events, error: `${err.code ?? ''} ${err.message}` }
  }
}

describe('js-ipfs (dhtclient) uses kitsune proxy as its DHT server, answered by a kitsune node --dht downstream', () => {
  const shared = sharedTopology({ dht: true })

  it('findPeer and findProvs through the proxy return a peer and a provider record only the downstream\'s DHT knows', async () => {
    const downstream = shared.topology.node.multiaddrs[0]
    const [b, a] = await Promise.all([
      // B: connected to the downstream only, listening on loopback
      createIpfs({ bootstrap: [downstream], routing: 'dhtserver', listen: ['/ip4/127.0.0.1/tcp/0'] }),
      // A: the app under test, the proxy as its only bootstrap peer; it
      // need not be reachable itself
      createIpfs({ bootstrap: [shared.topology.proxy.tcp], routing: 'dhtclient', listen: [] })
    ])
    shared.nodes.push(b, a)
    const bPeerId = (await b.ipfs.id()).id
    const bId = bPeerId.toString()
    const bAddrs = (await b.ipfs.id()).addresses.map((ma) => ma.toString())
    assert.ok(bAddrs.length > 0, 'B listens')

    await Promise.all([
      waitForPeer(b.ipfs, shared.topology.node.peerId),
      waitForPeer(a.ipfs, shared.topology.proxy.peerId)
    ])
    assert.deepEqual((await a.ipfs.swarm.peers()).map((p) => p.peer.toString()), [shared.topology.proxy.peerId], 'A knows the proxy only')
    assert.deepEqual((await b.ipfs.swarm.peers()).map((p) => p.peer.toString()), [shared.topology.node.peerId], 'B bootstraps from the downstream only')

    const deadline = Date.now() + DEADLINE

    // B announces a CID to the downstream's DHT. Its provide may find an
    // empty routing table while identify is still running (it throws
    // then): run it again until one run sent ADD_PROVIDER to the
    // downstream. (The downstream stores the record but resets the stream,
    // so B sees a QUERY_ERROR for it; and the downstream also tells B about
    // the proxy, which bridges B's ADD_PROVIDER to the downstream, which
    // drops it as not coming from the provider itself.)
    const { cid } = await b.ipfs.add(randomBytes(4096))
    const provideRuns = []
    while (true) {
      const run = await drain(() => b.ipfs.dht.provide(cid, { timeout: QUERY_TIMEOUT }))
      provideRuns.push(run.events.map((e) => `${e.name}${e.messageName != null ? ` ${e.messageName}` : ''}${e.to != null ? ` to ${e.to}` : ''}${e.from != null ? ` from ${e.from}` : ''}`).concat(run.error ?? []))
      if (run.events.some((e) => e.name === 'SENDING_QUERY' && e.messageName === 'ADD_PROVIDER' && e.to?.toString() === shared.topology.node.peerId)) {
        break
      }
      if (Date.now() > deadline) {
        assert.fail(`B never sent its provider record to the downstream: ${JSON.stringify(provideRuns)}`)
      }
      await new Promise(resolve => setTimeout(resolve, 250))
    }

    // A looks B up: B's addresses come back in the proxy's answer (A has
    // never heard of B before this; the proxy runs no DHT of its own)
    const found = await queryUntil(
      () => a.ipfs.dht.findPeer(bPeerId, { timeout: QUERY_TIMEOUT }),
      (event) => event.name === 'FINAL_PEER' && event.peer.id.toString() === bId,
      deadline
    )
    assert.equal(found.from.toString(), shared.topology.proxy.peerId, 'the answer came from the proxy')
    const foundAddrs = found.peer.multiaddrs.map((ma) => ma.toString())
    assert.ok(bAddrs.some((addr) => foundAddrs.some((f) => addr.startsWith(f))), `B's addresses ${JSON.stringify(bAddrs)} are in the answer ${JSON.stringify(foundAddrs)}`)

    // A asks who provides the CID: B, by the proxy's answer
    const provider = await queryUntil(
      () => a.ipfs.dht.findProvs(cid, { timeout: QUERY_TIMEOUT }),
      (event) => event.name === 'PROVIDER' && event.from.toString() === shared.topology.proxy.peerId && event.providers.some((p) => p.id.toString() === bId),
      deadline
    )
    const record = provider.providers.find((p) => p.id.toString() === bId)
    assert.ok(record.multiaddrs.length > 0, 'the provider record carries B\'s addresses')
    for (const ma of record.multiaddrs) {
      assert.match(ma.toString(), /^\/ip4\/127\.0\.0\.1\//)
    }
  })
})
