import { createTestNode, ECHO_PROTOCOL, echoRoundTrip, patternBytes } from '@kitsune/test-support'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { expect } from 'aegir/chai'
import { Registry } from 'prom-client'
import { proxy } from '../src/index.ts'
import { addressOf, FAST_POOL, startCluster, waitFor } from './fixtures.ts'
import type { ProxyNode } from './fixtures.ts'

function sample (text: string, name: string, label?: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(name) && (label == null || l.includes(label)))
  return line == null ? undefined : Number(line.split(' ').pop())
}

describe('metrics', function () {
  this.timeout(30_000)

  it('reports upstream peers, downstream state, streams and bytes per route and per downstream, and set-up latency', async () => {
    const backends = await startCluster(2, { routes: [] })
    const registry = new Registry()
    const proxyNode = await createTestNode({
      config: { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) },
      services: {
        proxy: proxy({ ...FAST_POOL, downstreams: backends.downstreams.map(addressOf), routes: [{ protocols: [ECHO_PROTOCOL], strategy: 'least-outstanding' }] })
      }
    }) as ProxyNode
    const client = await createTestNode()

    try {
      await proxyNode.services.proxy.ready()
      const payload = patternBytes(100_000)
      for (let i = 0; i < 3; i++) {
        const stream = await client.dialProtocol(addressOf(proxyNode), ECHO_PROTOCOL)
        await echoRoundTrip(stream, payload)
      }
      await backends.downstreams[1].stop()
      const pool = proxyNode.services.proxy.pool
      await waitFor(() => pool.list().some(d => d.status === 'down'), 5_000, 'the stopped downstream to be marked down')

      const text = await registry.metrics()
      expect(sample(text, 'kitsune_proxy_upstream_peers')).to.equal(1)
      expect(sample(text, 'kitsune_proxy_downstreams', 'status="up"')).to.equal(1)
      expect(sample(text, 'kitsune_proxy_downstreams', 'status="down"')).to.equal(1)
      expect(sample(text, 'kitsune_proxy_streams_total', `protocol="${ECHO_PROTOCOL}"`)).to.equal(3)
      expect(sample(text, 'kitsune_proxy_upstream_to_downstream_bytes_total', `protocol="${ECHO_PROTOCOL}"`)).to.equal(300_000)
      expect(sample(text, 'kitsune_proxy_downstream_to_upstream_bytes_total', `protocol="${ECHO_PROTOCOL}"`)).to.equal(300_000)

      const perDownstream = backends.downstreams.map(d => sample(text, 'kitsune_proxy_downstream_streams_total', `downstream="${d.peerId.toString()}"`) ?? 0)
      expect(perDownstream.reduce((a, b) => a + b)).to.equal(3)
      const bytesPerDownstream = backends.downstreams.map(d => sample(text, 'kitsune_proxy_downstream_bytes_total', `downstream="${d.peerId.toString()}"`) ?? 0)
      expect(bytesPerDownstream.reduce((a, b) => a + b)).to.equal(600_000)

      expect(sample(text, 'kitsune_proxy_bridge_setup_seconds_count')).to.equal(3)
      expect(sample(text, 'kitsune_proxy_bridge_setup_seconds_bucket', 'le="+Inf"')).to.equal(3)
    } finally {
      await Promise.all([client.stop(), proxyNode.stop(), backends.stop()])
    }
  })

  it('counts refused streams by reason', async () => {
    const registry = new Registry()
    const gone = await createTestNode()
    const address = addressOf(gone)
    await gone.stop()
    const proxyNode = await createTestNode({
      config: { metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }) },
      services: { proxy: proxy({ ...FAST_POOL, downstreams: [address], routes: [{ protocols: [ECHO_PROTOCOL] }] }) }
    }) as ProxyNode
    const client = await createTestNode()
    try {
      await proxyNode.services.proxy.ready()
      const stream = await client.dialProtocol(addressOf(proxyNode), ECHO_PROTOCOL)
      await echoRoundTrip(stream, patternBytes(10)).catch(() => {})
      const text = await registry.metrics()
      expect(sample(text, 'kitsune_proxy_refused_streams_total', 'reason="no-downstream"')).to.equal(1)
    } finally {
      await Promise.all([client.stop(), proxyNode.stop()])
    }
  })
})
