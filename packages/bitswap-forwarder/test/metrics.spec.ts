import { patternBytes } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import { equals } from 'uint8arrays/equals'
import { addFile, blockCids, cat, connectClient, startHelias, startProxy, stopAll } from './fixtures.ts'
import type { ProxyNode } from './fixtures.ts'
import type { TestHelia } from '@kitsune/test-support'

interface Recorded {
  calculate?(): number | Record<string, number>
  observed: Array<Record<string, number>>
}

/**
 * A libp2p metrics implementation that keeps what is registered, so the
 * test can read the forwarder's `kitsune_bitswap_*` metrics the way a
 * Prometheus scrape would (libp2p's own metrics are accepted and ignored)
 */
function recordingMetrics (): { metrics: any, read(name: string): number | Record<string, number> | undefined, observations(name: string): Array<Record<string, number>> } {
  const registered = new Map<string, Recorded>()
  const noop = (): any => new Proxy(() => {}, { get: () => noop() })
  const register = (name: string, options: any = {}): any => {
    const entry: Recorded = { calculate: options.calculate, observed: [] }
    registered.set(name, entry)
    return {
      observe: (values: Record<string, number>) => { entry.observed.push(values) },
      increment: () => {},
      update: () => {},
      reset: () => {},
      timer: () => () => {}
    }
  }
  const metrics = new Proxy({}, {
    get: (_target, prop) => {
      if (typeof prop === 'string' && prop.startsWith('register')) {
        return register
      }
      return noop()
    }
  })
  return {
    metrics,
    read: (name) => registered.get(name)?.calculate?.(),
    observations: (name) => registered.get(name)?.observed ?? []
  }
}

describe('metrics', function () {
  this.timeout(30_000)

  let nodes: Array<TestHelia | ProxyNode> = []

  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('exports wants, blocks, bytes and per-downstream latency as kitsune_bitswap_* metrics', async () => {
    const [downstream, client] = await startHelias(2)
    nodes.push(downstream, client)
    const bytes = patternBytes(3 * 1024 * 1024, 5)
    const cid = await addFile(downstream, bytes)
    const recorder = recordingMetrics()
    const proxyNode = await startProxy([downstream.libp2p], { config: { metrics: () => recorder.metrics } })
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
    expect(recorder.read('kitsune_bitswap_blocks_total')).to.include({ in: blocks, out: blocks, bad: 0 })
    // every block of the DAG once in from the downstream, once out to the client
    expect(recorder.read('kitsune_bitswap_block_bytes_total')).to.deep.equal({ in: dagBytes, out: dagBytes })
    expect(recorder.read('kitsune_bitswap_wants_total')).to.include({ in: blocks, out: blocks })
    const latencies = recorder.observations('kitsune_bitswap_downstream_block_latency_seconds')
    expect(latencies).to.have.lengthOf(blocks)
    expect(Object.keys(latencies[0])).to.deep.equal([downstream.libp2p.peerId.toString()])
  })
})
