import { addressOf, createTestNode, ECHO_PROTOCOL, FAST_POOL, handleEcho, readAll as drain, waitFor } from '@kitsune/test-support'
import { proxy } from '../src/index.ts'
import type { BalancingStrategy, Proxy, ProxyInit, RouteInit } from '../src/index.ts'
import type { BaseServices } from '@kitsune/test-support'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type ProxyNode = Libp2p<BaseServices & { proxy: Proxy }>

export interface Cluster {
  proxy: ProxyNode
  downstreams: Array<Libp2p<BaseServices>>
  stop(): Promise<void>
}

export { addressOf, FAST_POOL, waitFor }

/**
 * Starts `count` echo downstreams and a proxy in front of them that routes the
 * echo protocol
 */
export async function startCluster (count: number, init: Partial<ProxyInit> = {}, privateKey?: PrivateKey): Promise<Cluster> {
  const downstreams = await Promise.all(Array.from({ length: count }, async () => {
    const node = await createTestNode()
    await handleEcho(node)
    await handleWhoami(node)
    return node
  }))

  const proxyNode = await createTestNode({
    privateKey,
    services: {
      proxy: proxy({
        ...FAST_POOL,
        downstreams: downstreams.map(addressOf),
        routes: [{ protocols: [ECHO_PROTOCOL, WHOAMI_PROTOCOL] }],
        ...init
      })
    }
  }) as ProxyNode
  await proxyNode.services.proxy.ready()

  return {
    proxy: proxyNode,
    downstreams,
    stop: async () => {
      await Promise.all([proxyNode.stop(), ...downstreams.map(async d => { await d.stop() })])
    }
  }
}

export const WHOAMI_PROTOCOL = '/kitsune-test/whoami/1.0.0'

/**
 * Registers a protocol that answers with the node's peer id, then holds the
 * stream open until the remote closes its write end. Tests use it to see
 * which downstream served a stream, and to hold streams open.
 */
export async function handleWhoami (node: Libp2p): Promise<void> {
  await node.handle(WHOAMI_PROTOCOL, async (stream) => {
    try {
      stream.send(new TextEncoder().encode(node.peerId.toString()))
      // hold until the remote is done
      await drain(stream)
      await stream.close()
    } catch (err: any) {
      stream.abort(err)
    }
  }, { maxInboundStreams: 1024, maxOutboundStreams: 1024 })
}

/**
 * Opens a whoami stream and returns the id of the peer that answered, with
 * the stream still open for writing
 */
export async function whoami (client: Libp2p, target: Multiaddr, options: { close?: boolean } = {}): Promise<{ id: string, stream: Stream }> {
  const stream = await client.dialProtocol(target, WHOAMI_PROTOCOL)
  if (stream.status !== 'open') {
    // reset before we could listen: no 'close' event will come
    throw new Error(`stream ${stream.status} on arrival`)
  }
  const reading = new Promise<string>((resolve, reject) => {
    let text = ''
    const onMessage = (evt: any): void => {
      text += new TextDecoder().decode(evt.data.subarray())
      if (text.length >= 52) {
        stream.removeEventListener('message', onMessage)
        resolve(text)
      }
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', (evt: any) => { reject(evt.error ?? new Error(`closed after "${text}"`)) }, { once: true })
  })
  const id = await reading
  if (options.close !== false) {
    await stream.close()
  }
  return { id, stream }
}

/**
 * A strategy that always tries `peer` first, so a test can make a chosen
 * downstream fail and watch the fail-over
 */
export function preferring (peer: string): BalancingStrategy {
  return {
    name: 'preferring',
    select: (_request, downstreams) => [...downstreams].sort((a) => a.peerId.toString() === peer ? -1 : 1)
  }
}

/**
 * A proxy in front of the given downstreams with one whoami route that tries
 * `first` first
 */
export async function startProxyPreferring (downstreams: Array<string | Multiaddr>, first: string, route: Partial<RouteInit> = {}, pool: Partial<ProxyInit> = {}): Promise<ProxyNode> {
  const node = await createTestNode({
    services: {
      proxy: proxy({
        ...FAST_POOL,
        ...pool,
        downstreams,
        routes: [{ protocols: [WHOAMI_PROTOCOL], strategy: preferring(first), ...route }]
      })
    }
  }) as ProxyNode
  await node.services.proxy.ready()
  return node
}
