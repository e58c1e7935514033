import { createTestHelia } from '@kitsune/test-support'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { expect } from 'aegir/chai'
import { Registry } from 'prom-client'
import { withPreload } from '../src/index.ts'
import { BlockSet, httpRequest, parseLines } from './fixtures.ts'
import type { PreloadHelia } from './fixtures.ts'

/**
 * One sample of a Prometheus text exposition, by name and label
 */
function sample (text: string, name: string, label?: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name}${label == null ? ' ' : `{${label}}`}`))
  return line == null ? undefined : Number(line.split(' ').pop())
}

describe('metrics', function () {
  this.timeout(30_000)

  let node: PreloadHelia | undefined

  afterEach(async () => {
    await node?.stop()
    node = undefined
  })

  it('kitsune_preload_* counters equal what happened, and idle scrapes do not move them', async () => {
    const registry = new Registry()
    node = await createTestHelia<PreloadHelia>({
      config: { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) },
      extend: helia => withPreload(helia, { listen: '/ip4/127.0.0.1/tcp/0' })
    })
    const url = node.preload.url
    if (url == null) {
      throw new Error('no url')
    }
    // a root with two links, both held by the node: one refs request, two lines
    const dag = new BlockSet()
    const leaves = [await dag.raw(Uint8Array.of(1)), await dag.raw(Uint8Array.of(2))]
    const root = await dag.cbor({ leaves })
    for (const { cid, bytes } of dag.blocks.values()) {
      await node.blockstore.put(cid, bytes)
    }

    const ok = await httpRequest(url, `/api/v0/refs?r=true&arg=${root}`)
    expect(ok.status).to.equal(200)
    expect(parseLines(ok.body).refs).to.have.lengthOf(2)
    const bad = await httpRequest(url, '/api/v0/refs?arg=abc')
    expect(bad.status).to.equal(400)

    for (let i = 0; i < 3; i++) {
      const text = await registry.metrics()
      expect(sample(text, 'kitsune_preload_requests_total'), `scrape ${i}: requests`).to.equal(1)
      expect(sample(text, 'kitsune_preload_refs_total'), `scrape ${i}: refs`).to.equal(2)
      expect(sample(text, 'kitsune_preload_rejected_total', 'status="400"'), `scrape ${i}: rejected`).to.equal(1)
      expect(sample(text, 'kitsune_preload_failed_total'), `scrape ${i}: failed`).to.equal(0)
      expect(sample(text, 'kitsune_preload_active_requests'), `scrape ${i}: active`).to.equal(0)
      expect(sample(text, 'kitsune_preload_queued_requests'), `scrape ${i}: queued`).to.equal(0)
    }
  })
})
