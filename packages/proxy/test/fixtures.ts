import { createTestNode, ECHO_PROTOCOL, handleEcho } from '@kitsune/test-support'
import { proxy } from '../src/index.ts'
import type { Proxy, ProxyInit } from '../src/index.ts'
import type { BaseServices } from '@kitsune/test-support'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type ProxyNode = Libp2p<BaseServices & { proxy: Proxy }>

export interface Cluster {
  proxy: ProxyNode
  downstreams: Array<Libp2p<BaseServices>>
  stop(): Promise<void>
}

export const FAST_POOL = {
  reconnectInitialDelay: 50,
  reconnectMaxDelay: 500,
  dialTimeout: 2_000
}

export function addressOf (node: Libp2p): Multiaddr {
  const address = node.getMultiaddrs()[0]
  if (address == null) {
    throw new Error('node has no address')
  }
  return address
}

/**
 * Starts `count` echo downstreams and a proxy in front of them that routes the
 * echo protocol
 */
export async function startCluster (count: number, init: Partial<ProxyInit> = {}, privateKey?: PrivateKey): Promise<Cluster> {
  const downstreams = await Promise.all(Array.from({ length: count }, async () => {
    const node = await createTestNode()
    await handleEcho(node)
    return node
  }))

  const proxyNode = await createTestNode({
    privateKey,
    services: {
      proxy: proxy({
        ...FAST_POOL,
        downstreams: downstreams.map(addressOf),
        routes: [{ protocols: [ECHO_PROTOCOL] }],
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

export async function waitFor (condition: () => boolean | Promise<boolean>, timeout = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
