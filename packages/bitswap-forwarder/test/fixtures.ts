import { unixfs } from '@helia/unixfs'
import { proxy } from '@kitsune/proxy'
import { addressOf, createTestHelia, createTestNode, FAST_POOL, waitFor } from '@kitsune/test-support'
import { concat } from 'uint8arrays/concat'
import { bitswapForwarder } from '../src/index.ts'
import type { BitswapForwarder, BitswapForwarderInit } from '../src/index.ts'
import type { BalancingStrategy, Proxy, ProxyInit } from '@kitsune/proxy'
import type { BaseServices, TestHelia } from '@kitsune/test-support'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export type Multiaddr = ReturnType<Libp2p['getMultiaddrs']>[number]

export type ProxyNode = Libp2p<BaseServices & { proxy: Proxy, bitswapForwarder: BitswapForwarder }>

export { addressOf, FAST_POOL, waitFor }

export interface ProxyOptions {
  forwarder?: BitswapForwarderInit
  proxy?: Partial<ProxyInit>
  /** Merged into the proxy node's libp2p config */
  config?: Record<string, unknown>
}

/**
 * A proxy node running the proxy service and the forwarder in front of the
 * given downstreams (nodes or multiaddrs), ready once every downstream is up
 */
export async function startProxy (downstreams: Array<Libp2p | Multiaddr>, options: ProxyOptions = {}): Promise<ProxyNode> {
  const node = await createTestNode({
    services: {
      proxy: proxy({
        ...FAST_POOL,
        downstreams: downstreams.map(d => 'peerId' in d ? addressOf(d) : d),
        ...options.proxy
      }),
      bitswapForwarder: bitswapForwarder(options.forwarder)
    },
    config: options.config
  }) as ProxyNode
  await node.services.proxy.ready()
  await waitFor(() => node.services.proxy.pool.healthy().length === downstreams.length, 10_000, 'downstreams up')
  await waitFor(() => downstreams.every(d => !('peerId' in d) || d.getConnections(node.peerId).length > 0), 10_000, 'downstreams connected')
  return node
}

export async function startHelias (count: number): Promise<TestHelia[]> {
  return Promise.all(Array.from({ length: count }, async () => createTestHelia()))
}

/**
 * Adds bytes as a UnixFS file (CIDv1, raw leaves, 256 KiB chunks unless the
 * profile says otherwise)
 */
export async function addFile (helia: TestHelia, bytes: Uint8Array, options: { profile?: 'unixfs-v0-2015' } = {}): Promise<CID> {
  return unixfs(helia).addBytes(bytes, options.profile == null ? {} : { profile: options.profile } as any)
}

export async function cat (helia: TestHelia, cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of unixfs(helia).cat(cid, { signal: options.signal ?? AbortSignal.timeout(60_000) })) {
    chunks.push(chunk)
  }
  return concat(chunks)
}

/**
 * Every CID of a DAG a Helia node holds, found by walking its blockstore
 */
export async function blockCids (helia: TestHelia): Promise<CID[]> {
  const cids: CID[] = []
  for await (const { cid } of (helia.blockstore as any).unwrap().getAll() as AsyncIterable<{ cid: CID }>) {
    cids.push(cid)
  }
  return cids
}

/**
 * Dials the proxy and waits until Helia's Bitswap has seen it as a peer
 * (identify has run and listed the Bitswap protocols)
 */
export async function connectClient (client: TestHelia, proxyNode: Libp2p): Promise<void> {
  await client.libp2p.dial(addressOf(proxyNode))
  await waitFor(async () => {
    const peer = await client.libp2p.peerStore.get(proxyNode.peerId).catch(() => undefined)
    return peer?.protocols.includes('/ipfs/bitswap/1.2.0') === true
  }, 10_000, 'identify')
}

/**
 * Helia's Bitswap engine, to observe what a stock node holds in its ledgers
 */
export function bitswapOf (helia: TestHelia): { getPeerWantlist(peer: PeerId): Array<{ cid: CID }> | undefined, getWantlist(): Array<{ cid: CID }> } {
  const broker = (helia as any).blockBrokers.find((b: any) => b.name === 'bitswap')
  if (broker == null) {
    throw new Error('no bitswap broker')
  }
  return broker.bitswap
}

export async function stopAll (nodes: Array<{ stop(): unknown } | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => { await Promise.resolve(n?.stop()).catch(() => {}) }))
}

/**
 * A strategy that always tries the downstreams in the given order
 */
export function preferOrder (peers: PeerId[]): BalancingStrategy {
  const order = peers.map(p => p.toString())
  return {
    name: 'fixed',
    select: (_request, downstreams) => [...downstreams].sort((a, b) => order.indexOf(a.peerId.toString()) - order.indexOf(b.peerId.toString()))
  }
}

/**
 * The blockstore under a Helia node's storage layers (no duplicate check)
 */
export function rawStore (helia: TestHelia): { put(cid: CID, data: Uint8Array): unknown } {
  return (helia.blockstore as any).unwrap().unwrap()
}
