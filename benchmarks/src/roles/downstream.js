/**
 * Role: the downstream node. Serves the sink and echo protocols; the client
 * reaches it directly (the direct path) and through the proxy.
 */

import { createTestNode, handleEcho } from '@kitsune/test-support'
import { serveRole } from '../rpc.js'
import { ECHO_PROTOCOL, handleSink } from '../protocols.js'

serveRole('downstream', async () => {
  const node = await createTestNode()
  await handleSink(node)
  await handleEcho(node, ECHO_PROTOCOL, { maxInboundStreams: 256 })

  return {
    info: {
      peerId: node.peerId.toString(),
      multiaddr: node.getMultiaddrs()[0].toString()
    },
    stop: async () => { await node.stop() }
  }
})
