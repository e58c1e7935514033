// A downstream in its own process, so a test can freeze it (SIGSTOP) and see
// what the proxy does with a node whose connection is open but silent.
import { createTestNode } from '@kitsune/test-support'

const WHOAMI_PROTOCOL = '/kitsune-test/whoami/1.0.0'
const node = await createTestNode()
await node.handle(WHOAMI_PROTOCOL, async (stream) => {
  stream.send(new TextEncoder().encode(node.peerId.toString()))
  // hold the stream open until the remote is done
  stream.addEventListener('remoteCloseWrite', () => { void stream.close() })
}, { maxInboundStreams: 1024 })
process.stdout.write(JSON.stringify({ address: node.getMultiaddrs()[0].toString() }) + '\n')
process.on('SIGTERM', () => { void Promise.resolve(node.stop()).finally(() => process.exit(0)) })
