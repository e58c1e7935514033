/**
 * Role: the proxy node, a stock `@kitsune/proxy` in front of the single
 * downstream, routing the sink and echo protocols. The node is configured as
 * a front door the way the `kitsune` CLI and the example configure it:
 * `frontDoorMuxerOptions()` (bounded yamux stream windows, so a paused bridge
 * side holds little) and `frontDoorConnectionManager()`, with the route's
 * default limits.
 */

import { frontDoorConnectionManager, frontDoorMuxerOptions, frontDoorNoiseCrypto, proxy } from '@kitsune/proxy'
import { createTestNode } from '@kitsune/test-support'
// not declared in benchmarks/package.json (adding it needs a lock-file
// update); it resolves through the workspace, as a dependency of
// test-support
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { serveRole } from '../rpc.js'
import { ECHO_PROTOCOL, SINK_PROTOCOL } from '../protocols.js'

serveRole('proxy', async (config) => {
  const node = await createTestNode({
    config: {
      // as `kitsune proxy` runs it, unless --stock-noise
      connectionEncrypters: [noise(config.stockNoise === true ? {} : { crypto: frontDoorNoiseCrypto })],
      streamMuxers: [yamux(frontDoorMuxerOptions(config.maxStreamWindowSize == null ? {} : { maxStreamWindowSize: config.maxStreamWindowSize }))],
      connectionManager: {
        ...frontDoorConnectionManager(),
        // many short benchmark streams from one loopback host
        inboundConnectionThreshold: 10_000
      }
    },
    services: {
      proxy: proxy({
        downstreams: [config.downstream],
        routes: [{
          protocols: [SINK_PROTOCOL, ECHO_PROTOCOL],
          // default (4 MiB) unless --max-buffered is given
          ...(config.maxBufferedBytes == null ? {} : { maxBufferedBytes: config.maxBufferedBytes })
        }]
      })
    }
  })
  await node.services.proxy.ready()
  const status = node.services.proxy.status()
  if (!status.downstreams.every(d => d.status === 'up')) {
    throw new Error(`downstream not up: ${JSON.stringify(status.downstreams)}`)
  }

  return {
    info: {
      peerId: node.peerId.toString(),
      multiaddr: node.getMultiaddrs()[0].toString()
    },
    handlers: {
      status: () => JSON.parse(JSON.stringify(node.services.proxy.status()))
    },
    stop: async () => { await node.stop() }
  }
})
