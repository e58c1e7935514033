import * as dagCbor from '@ipld/dag-cbor'
import { patternBytes } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { addFile, bitswapOf, rawStore, blockCids, cat, connectClient, preferOrder, startHelias, startProxy, stopAll, waitFor } from './fixtures.ts'
import type { ProxyNode } from './fixtures.ts'
import type { TestHelia } from '@kitsune/test-support'

const MiB = 1024 * 1024

async function toBytes (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) {
    chunks.push(chunk)
  }
  const out = new Uint8Array(chunks.reduce((acc, c) => acc + c.byteLength, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

describe('forwarding between stock Helia nodes', function () {
  this.timeout(60_000)

  let proxyNode: ProxyNode | undefined
  let nodes: TestHelia[] = []

  afterEach(async () => {
    await stopAll([...nodes, proxyNode])
    nodes = []
    proxyNode = undefined
  })

  it('fetches a 6 MiB UnixFS file through the proxy byte for byte', async () => {
    const [downstream, client] = nodes = await startHelias(2)
    const bytes = patternBytes(6 * MiB, 11)
    const cid = await addFile(downstream, bytes)
    proxyNode = await startProxy([downstream.libp2p])
    await connectClient(client, proxyNode)

    const fetched = await cat(client, cid)

    expect(fetched.byteLength).to.equal(bytes.byteLength)
    expect(equals(fetched, bytes)).to.be.true()
    expect(client.libp2p.getConnections(downstream.libp2p.peerId), 'the client never meets the downstream').to.have.lengthOf(0)
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.blocksReceived).to.equal((await blockCids(downstream)).length)
    expect(stats.blocksSent).to.equal(stats.blocksReceived)
  })

  it('forwards any codec, not only dag-pb: a dag-cbor node and the raw block it links to', async () => {
    const [downstream, client] = nodes = await startHelias(2)
    const leafData = patternBytes(10_000, 12)
    const leaf = CID.createV1(raw.code, await sha256.digest(leafData))
    const nodeData = dagCbor.encode({ name: 'kitsune', leaf })
    const node = CID.createV1(dagCbor.code, await sha256.digest(nodeData))
    await downstream.blockstore.put(leaf, leafData)
    await downstream.blockstore.put(node, nodeData)
    proxyNode = await startProxy([downstream.libp2p])
    await connectClient(client, proxyNode)

    const fetchedNode = await toBytes(client.blockstore.get(node, { signal: AbortSignal.timeout(10_000) }))
    const decoded = dagCbor.decode<{ leaf: CID }>(fetchedNode)
    const fetchedLeaf = await toBytes(client.blockstore.get(decoded.leaf, { signal: AbortSignal.timeout(10_000) }))

    expect(equals(fetchedNode, nodeData)).to.be.true()
    expect(equals(fetchedLeaf, leafData)).to.be.true()
  })

  it('two downstreams holding different files: one client fetches both (fail-over on DONT_HAVE)', async () => {
    const [left, right, client] = nodes = await startHelias(3)
    const a = patternBytes(3 * MiB, 21)
    const b = patternBytes(3 * MiB, 22)
    const cidA = await addFile(left, a)
    const cidB = await addFile(right, b)
    proxyNode = await startProxy([left.libp2p, right.libp2p])
    await connectClient(client, proxyNode)

    const [gotA, gotB] = await Promise.all([cat(client, cidA), cat(client, cidB)])

    expect(equals(gotA, a)).to.be.true()
    expect(equals(gotB, b)).to.be.true()
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.failovers, 'some CIDs hash to the downstream without them').to.be.greaterThan(0)
    expect(stats.dontHavesSent).to.equal(0)
    expect(stats.downstreams[left.libp2p.peerId.toString()].blocksReceived).to.equal((await blockCids(left)).length)
    expect(stats.downstreams[right.libp2p.peerId.toString()].blocksReceived).to.equal((await blockCids(right)).length)
  })

  it('a downstream killed mid-transfer: the fetch still completes from the other one', async () => {
    const [first, second, client] = nodes = await startHelias(3)
    const bytes = patternBytes(16 * MiB, 31)
    const cid = await addFile(first, bytes)
    await addFile(second, bytes)
    // a small budget paces the transfer so that it is still running at the kill
    proxyNode = await startProxy([first.libp2p, second.libp2p], { forwarder: { maxOutstandingBytesPerPeer: 2 * MiB } })
    await connectClient(client, proxyNode)
    const forwarder = proxyNode.services.bitswapForwarder

    const fetching = cat(client, cid)
    await waitFor(() => forwarder.stats().blocksSent >= 4, 20_000, 'transfer under way')
    const victim = [first, second].find(d => (forwarder.stats().downstreams[d.libp2p.peerId.toString()]?.blocksReceived ?? 0) > 0)!
    const survivor = victim === first ? second : first
    await victim.stop()

    const fetched = await fetching
    expect(equals(fetched, bytes)).to.be.true()
    const stats = forwarder.stats()
    const total = (await blockCids(survivor)).length
    const fromVictim = stats.downstreams[victim.libp2p.peerId.toString()].blocksReceived
    expect(fromVictim, 'the killed downstream served part of the file').to.be.within(1, total - 1)
    expect(stats.downstreams[survivor.libp2p.peerId.toString()].blocksReceived).to.equal(total - fromVictim)
  })

  it('many clients fetching one file at once: each block leaves the downstream once', async () => {
    const [downstream, ...clients] = nodes = await startHelias(5)
    const bytes = patternBytes(4 * MiB, 41)
    const cid = await addFile(downstream, bytes)
    proxyNode = await startProxy([downstream.libp2p])
    await Promise.all(clients.map(async client => { await connectClient(client, proxyNode!) }))

    const fetched = await Promise.all(clients.map(async client => cat(client, cid)))

    for (const got of fetched) {
      expect(equals(got, bytes)).to.be.true()
    }
    const blocks = (await blockCids(downstream)).length
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.blocksReceived, 'each block came from the downstream once').to.equal(blocks)
    expect(stats.blocksSent).to.equal(blocks * clients.length)
    expect(stats.coalescedWants).to.equal(blocks * (clients.length - 1))
  })

  it('with the cache on, clients that come one after another are served from it', async () => {
    const [downstream, early, late] = nodes = await startHelias(3)
    const bytes = patternBytes(3 * MiB, 42)
    const cid = await addFile(downstream, bytes)
    proxyNode = await startProxy([downstream.libp2p], { forwarder: { cache: true } })

    await connectClient(early, proxyNode)
    expect(equals(await cat(early, cid), bytes)).to.be.true()
    await connectClient(late, proxyNode)
    expect(equals(await cat(late, cid), bytes)).to.be.true()

    const blocks = (await blockCids(downstream)).length
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.blocksReceived).to.equal(blocks)
    expect(stats.cacheHits).to.equal(blocks)
  })

  it('a client that disconnects: CANCEL reaches the downstream', async () => {
    const [downstream, client] = nodes = await startHelias(2)
    proxyNode = await startProxy([downstream.libp2p])
    await connectClient(client, proxyNode)
    const data = patternBytes(1000, 51)
    const missing = CID.createV1(raw.code, await sha256.digest(data))
    const proxyId = proxyNode.peerId
    const heldByDownstream = (): boolean => bitswapOf(downstream).getPeerWantlist(proxyId)?.some(entry => entry.cid.equals(missing)) === true

    Promise.resolve(client.blockstore.get(missing, { signal: AbortSignal.timeout(30_000) }).next()).catch(() => {})
    await waitFor(heldByDownstream, 10_000, 'the want at the downstream')
    await client.stop()

    await waitFor(() => !heldByDownstream(), 10_000, 'CANCEL at the downstream')
    expect(proxyNode.services.bitswapForwarder.stats().trackedWants).to.equal(0)
  })

  it('a downstream\'s want for a block only the client has never reaches the client', async () => {
    const [downstream, client] = nodes = await startHelias(2)
    proxyNode = await startProxy([downstream.libp2p])
    await connectClient(client, proxyNode)
    const data = patternBytes(1000, 61)
    const cid = CID.createV1(raw.code, await sha256.digest(data))
    await client.blockstore.put(cid, data)

    const attempt = Promise.resolve(downstream.blockstore.get(cid, { signal: AbortSignal.timeout(1_500) }).next())
    await expect(attempt).to.eventually.be.rejected()

    expect(bitswapOf(client).getPeerWantlist(proxyNode.peerId) ?? []).to.have.lengthOf(0)
    expect(proxyNode.services.bitswapForwarder.stats().downstreamWantsDropped).to.be.greaterThan(0)
  })

  it('a downstream that sends a corrupt block: the client still gets the right bytes', async () => {
    const [corrupt, good, client] = nodes = await startHelias(3)
    const bytes = patternBytes(4 * MiB, 71)
    const cid = await addFile(corrupt, bytes)
    await addFile(good, bytes)
    const leaf = (await blockCids(corrupt)).find(c => !equals(c.multihash.bytes, cid.multihash.bytes))!
    // below Helia's storage layer, which would not overwrite a block it has
    await rawStore(corrupt).put(leaf, patternBytes(1024 * 1024, 72))
    proxyNode = await startProxy([corrupt.libp2p, good.libp2p], { forwarder: { strategy: preferOrder([corrupt.libp2p.peerId, good.libp2p.peerId]) } })
    await connectClient(client, proxyNode)

    const fetched = await cat(client, cid)

    expect(equals(fetched, bytes)).to.be.true()
    const stats = proxyNode.services.bitswapForwarder.stats()
    expect(stats.badBlocks).to.be.greaterThan(0)
    expect(stats.downstreams[corrupt.libp2p.peerId.toString()].badBlocks).to.be.greaterThan(0)
    expect(stats.downstreams[good.libp2p.peerId.toString()].blocksReceived).to.be.greaterThan(0)
  })
})
