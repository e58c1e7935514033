/**
 * Role: the proxy node with the Bitswap forwarder, built as `kitsune proxy`
 * builds it (packages/cli/src/proxy-command.ts): noise with
 * `frontDoorNoiseCrypto`, yamux with `frontDoorMuxerOptions()`,
 * `frontDoorConnectionManager()`, `proxy({ downstreams })` and
 * `bitswapForwarder({})` (its defaults: no block cache, `hash` strategy). No
 * stream routes: Bitswap goes through the forwarder, message by message.
 *
 * config: { downstream: multiaddr, forwarder?: BitswapForwarderInit (JSON),
 *           maxStreamWindowSize?: bytes (default: frontDoorMuxerOptions()'s) }
 */

import { bitswapForwarder } from '@kitsune/bitswap-forwarder'
import { frontDoorConnectionManager, frontDoorMuxerOptions, frontDoorNoiseCrypto, proxy } from '@kitsune/proxy'
import { createTestNode } from '@kitsune/test-support'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { memoryHandlers } from '../memory.js'
import { serveRole } from '../rpc.js'

serveRole('forwarder-proxy', async (config) => {
  const node = await createTestNode({
    config: {
      connectionEncrypters: [noise({ crypto: frontDoorNoiseCrypto })],
      streamMuxers: [yamux(frontDoorMuxerOptions(config.maxStreamWindowSize == null ? {} : { maxStreamWindowSize: config.maxStreamWindowSize }))],
      connectionManager: {
        ...frontDoorConnectionManager(),
        // hundreds of benchmark peers dial from one loopback host within a
        // second; the front door's per-host rate limit (100/s) is for the
        // internet
        inboundConnectionThreshold: 10_000
      }
    },
    services: {
      proxy: proxy({ downstreams: [config.downstream] }),
      bitswapForwarder: bitswapForwarder(config.forwarder ?? {})
    }
  })
  await node.services.proxy.ready()
  const deadline = Date.now() + 10_000
  while (node.services.proxy.pool.healthy().length === 0) {
    if (Date.now() > deadline) {
      throw new Error(`downstream not up: ${JSON.stringify(node.services.proxy.status().downstreams)}`)
    }
    await new Promise(resolve => setTimeout(resolve, 20))
  }

  return {
    info: {
      peerId: node.peerId.toString(),
      multiaddr: node.getMultiaddrs()[0].toString()
    },
    handlers: {
      ...memoryHandlers(),
      stats: () => JSON.parse(JSON.stringify(node.services.bitswapForwarder.stats())),
      connections: () => node.getConnections().length
    },
    stop: async () => { await node.stop() }
  }
})
