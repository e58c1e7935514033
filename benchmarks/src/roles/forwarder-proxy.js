/**
 * Role: the proxy node with the Bitswap forwarder, built as `kitsune proxy`
 * builds it (packages/cli/src/proxy-command.ts): noise with
 * `frontDoorNoiseCrypto`, yamux with `frontDoorMuxerOptions()`,
 * `frontDoorConnectionManager()`, `proxy({ downstreams })` and
 * `bitswapForwarder({})` (its defaults: no block cache, `hash` strategy).
 * Bitswap goes through the forwarder, message by message, never through a
 * stream route. With `routeSink`, one stream route as well, for the sink
 * protocol (src/protocols.js, route defaults): the plain bridged stream the
 * Bitswap benchmark compares the forwarder's CPU per GiB with, in the same
 * process.
 * With `preload`, also `proxyPreload()` from @kitsune/preload on 127.0.0.1
 * (as `kitsune proxy --preload-listen` adds it), and the downstream is given
 * by its Kubo RPC API (`downstreamApis`), as preloading needs.
 *
 * config: { downstream?: multiaddr, downstreamApi?: URL,
 *           forwarder?: BitswapForwarderInit (JSON),
 *           preload?: ProxyPreloadInit (JSON),
 *           maxStreamWindowSize?: bytes (default: frontDoorMuxerOptions()'s),
 *           routeSink?: true }
 *
 * info: { peerId, multiaddr, preload?: the preload endpoint's base URL }
 * Commands (besides rpc.js's and memory.js's): stats (the forwarder's
 * counters), connections, open-bridges (the proxy's bridged streams still
 * open), preload-status (windows open in the preload service and in the
 * forwarder, and the endpoint's counters)
 */

import { bitswapForwarder } from '@kitsune/bitswap-forwarder'
import { frontDoorConnectionManager, frontDoorMuxerOptions, frontDoorNoiseCrypto, proxy } from '@kitsune/proxy'
import { createTestNode } from '@kitsune/test-support'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { memoryHandlers } from '../memory.js'
import { SINK_PROTOCOL } from '../protocols.js'
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
      proxy: proxy({
        downstreams: config.downstream == null ? [] : [config.downstream],
        downstreamApis: config.downstreamApi == null ? [] : [config.downstreamApi],
        routes: config.routeSink === true ? [{ protocols: [SINK_PROTOCOL] }] : []
      }),
      bitswapForwarder: bitswapForwarder(config.forwarder ?? {}),
      // the Bitswap benchmark does not load @kitsune/preload
      ...(config.preload == null ? {} : { preload: (await import('@kitsune/preload')).proxyPreload({ ...config.preload, listen: '/ip4/127.0.0.1/tcp/0' }) })
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
      multiaddr: node.getMultiaddrs()[0].toString(),
      preload: node.services.preload?.url?.href
    },
    handlers: {
      ...memoryHandlers(),
      stats: () => JSON.parse(JSON.stringify(node.services.bitswapForwarder.stats())),
      connections: () => node.getConnections().length,
      'peer-store-size': async () => (await node.peerStore.all()).length,
      snapshot: async ({ file }) => {
        globalThis.gc?.()
        const { writeHeapSnapshot } = await import('node:v8')
        return writeHeapSnapshot(file)
      },
      'open-bridges': () => node.services.proxy.status().openBridges,
      'preload-status': () => ({
        windows: node.services.preload.windows(),
        forwarderWindows: node.services.bitswapForwarder.windows().length,
        endpoint: node.services.preload.stats()
      })
    },
    stop: async () => { await node.stop() }
  }
})
