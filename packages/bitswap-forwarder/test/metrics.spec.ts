import { patternBytes, waitFor } from '@kitsune/test-support'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { Registry } from 'prom-client'
import { equals } from 'uint8arrays/equals'
import { frame } from '../src/framing.ts'
import { BitswapMessage } from '../src/pb/message.ts'
import { addFile, addressOf, blockCids, cat, connectClient, startHelias, startProxy, stopAll } from './fixtures.ts'
import { RawBitswapPeer } from './raw-peer.ts'
import type { ProxyNode } from './fixtures.ts'
import type { TestHelia } from '@kitsune/test-support'

/**
 * One sample of a Prometheus text exposition, by name and label
 */
function sample (text: string, name: string, label?: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name}${label == null ? ' ' : `{${label}}`}`))
  return line == null ? undefined : Number(line.split(' ').pop())
}

/**
 * The `kitsune_bitswap_*` samples of an exposition, without comments
 */
function kitsuneSamples (text: string): string[] {
  return text.split('\n').filter(l => l.startsWith('kitsune_bitswap_'))
}

describe('metrics', function () {
  this.timeout(30_000)

  let nodes: Array<TestHelia | ProxyNode | RawBitswapPeer> = []

  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('exports wants, blocks, bytes and per-downstream latency as kitsune_bitswap_* metrics that idle scrapes do not move', async () => {
    const [downstream, client] = await startHelias(2)
    nodes.push(downstream, client)
    const bytes = patternBytes(3 * 1024 * 1024, 5)
    const cid = await addFile(downstream, bytes)
    const registry = new Registry()
    const proxyNode = await startProxy([downstream.libp2p], { config: { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) } })
    nodes.push(proxyNode)
    await connectClient(client, proxyNode)

    expect(equals(await cat(client, cid), bytes)).to.be.true()

    const cids = await blockCids(downstream)
    const blocks = cids.length
    let dagBytes = 0
    for (const cid of cids) {
      for await (const chunk of downstream.blockstore.get(cid)) {
        dagBytes += chunk.byteLength
      }
    }
    const forwarder = proxyNode.services.bitswapForwarder
    // idle: every want answered, nothing pending downstream
    await waitFor(() => forwarder.stats().trackedWants === 0 && forwarder.stats().pendingCids === 0, 5_000, 'the forwarder to be idle')

    // three scrapes with nothing happening: every counter says what happened, once
    const scrapes: string[] = []
    for (let i = 0; i < 3; i++) {
      const text = await registry.metrics()
      scrapes.push(text)
      // every block of the DAG once in from the downstream, once out to the client
      expect(sample(text, 'kitsune_bitswap_blocks_total', 'direction="in"'), `scrape ${i}: blocks in`).to.equal(blocks)
      expect(sample(text, 'kitsune_bitswap_blocks_total', 'direction="out"'), `scrape ${i}: blocks out`).to.equal(blocks)
      expect(sample(text, 'kitsune_bitswap_blocks_total', 'direction="bad"'), `scrape ${i}: bad blocks`).to.equal(0)
      expect(sample(text, 'kitsune_bitswap_block_bytes_total', 'direction="in"'), `scrape ${i}: bytes in`).to.equal(dagBytes)
      expect(sample(text, 'kitsune_bitswap_block_bytes_total', 'direction="out"'), `scrape ${i}: bytes out`).to.equal(dagBytes)
      expect(sample(text, 'kitsune_bitswap_wants_total', 'direction="in"'), `scrape ${i}: wants in`).to.equal(blocks)
      expect(sample(text, 'kitsune_bitswap_wants_total', 'direction="out"'), `scrape ${i}: wants out`).to.equal(blocks)
      const stats = forwarder.stats()
      expect(sample(text, 'kitsune_bitswap_cancels_total', 'direction="in"'), `scrape ${i}: cancels in`).to.equal(stats.cancelsReceived)
      expect(sample(text, 'kitsune_bitswap_cache_total', 'result="miss"'), `scrape ${i}: cache misses`).to.equal(stats.cacheMisses)
      expect(sample(text, 'kitsune_bitswap_failovers_total', 'reason="all"'), `scrape ${i}: failovers`).to.equal(stats.failovers)
      expect(sample(text, 'kitsune_bitswap_refused_total', 'reason="malformed"'), `scrape ${i}: malformed`).to.equal(0)
    }
    expect(kitsuneSamples(scrapes[2]).filter(l => l.includes('_total')), 'idle scrapes').to.deep.equal(kitsuneSamples(scrapes[0]).filter(l => l.includes('_total')))

    const latencies = sample(scrapes[0], 'kitsune_bitswap_downstream_block_latency_seconds_count', `downstream="${downstream.libp2p.peerId.toString()}"`)
    expect(latencies, 'one latency per block').to.equal(blocks)
  })

  it('counts entries skipped as unusable as kitsune_bitswap_refused_total{reason="invalid_entry"}, once each', async () => {
    const [downstream] = await startHelias(1)
    nodes.push(downstream)
    const cid = await addFile(downstream, patternBytes(1000, 6))
    const registry = new Registry()
    const proxyNode = await startProxy([downstream.libp2p], { config: { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) } })
    nodes.push(proxyNode)
    const client = await RawBitswapPeer.create()
    nodes.push(client)
    await client.dial(addressOf(proxyNode))

    // 0x1e is blake3: no hasher configured; want type 0 is want-block
    const unverifiable = CID.createV1(raw.code, createDigest(0x1e, new Uint8Array(32)))
    await client.sendBytes(proxyNode.peerId, frame(BitswapMessage.encode({
      wantlist: { entries: [{ cid: unverifiable.bytes, priority: 1 }, { cid: cid.bytes, priority: 1, wantType: 0 }, { cid: Uint8Array.from([1, 2, 3]), priority: 1 }] }
    })).subarray())
    await client.waitForBlocks([cid])

    for (let i = 0; i < 2; i++) {
      const text = await registry.metrics()
      expect(sample(text, 'kitsune_bitswap_refused_total', 'reason="invalid_entry"'), `scrape ${i}: invalid entries`).to.equal(2)
      expect(sample(text, 'kitsune_bitswap_refused_total', 'reason="malformed"') ?? 0, `scrape ${i}: malformed`).to.equal(0)
      expect(sample(text, 'kitsune_bitswap_wants_total', 'direction="in"'), `scrape ${i}: wants in`).to.equal(1)
    }
    expect(proxyNode.services.bitswapForwarder.stats().invalidEntries).to.equal(2)
  })
})
