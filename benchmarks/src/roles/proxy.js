/**
 * Role: the proxy node, a stock `@kitsune/proxy` in front of the single
 * downstream, routing the sink and echo protocols.
 */

import { proxy } from '@kitsune/proxy'
import { createTestNode } from '@kitsune/test-support'
import { serveRole } from '../rpc.js'
import { ECHO_PROTOCOL, SINK_PROTOCOL } from '../protocols.js'

serveRole('proxy', async (config) => {
  const node = await createTestNode({
    services: {
      proxy: proxy({
        downstreams: [config.downstream],
        routes: [{
          protocols: [SINK_PROTOCOL, ECHO_PROTOCOL],
          // Workaround, see README "Known problems": the bridge pauses the
          // upstream stream when the downstream is full, but (1) yamux has
          // already granted the sender up to its max stream window (16 MiB),
          // which keeps arriving while paused, and (2) @libp2p/utils 7.4.1
          // resume() tells yamux to resume *after* dispatching the buffered
          // data, so a pause made during that dispatch is lost at the muxer
          // and credit keeps flowing until the next drain. With the default
          // limit (4 MiB) a bulk transfer is reset (StreamBufferError)
          // within seconds; with 17 MiB, now and then. 64 MiB keeps the
          // benchmark running until the proxy is fixed.
          maxBufferedBytes: config.maxBufferedBytes ?? 64 * 1024 * 1024
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
