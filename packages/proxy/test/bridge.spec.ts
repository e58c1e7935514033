import { createTestNode, ECHO_PROTOCOL, echoRoundTrip, patternBytes, readAll, sendAll } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import { equals } from 'uint8arrays/equals'
import { addressOf, startCluster } from './fixtures.ts'
import type { Cluster } from './fixtures.ts'
import type { BaseServices } from '@kitsune/test-support'
import type { Libp2p } from '@libp2p/interface'

describe('stream bridging', () => {
  let cluster: Cluster
  let client: Libp2p<BaseServices>

  beforeEach(async () => {
    cluster = await startCluster(1)
    client = await createTestNode()
  })

  afterEach(async () => {
    await client?.stop()
    await cluster?.stop()
  })

  it('bridges an 8 MiB payload through the proxy and back, byte for byte', async () => {
    const payload = patternBytes(8 * 1024 * 1024, 7)
    const stream = await client.dialProtocol(addressOf(cluster.proxy), ECHO_PROTOCOL)
    const echoed = await echoRoundTrip(stream, payload)

    expect(echoed.byteLength).to.equal(payload.byteLength)
    expect(equals(echoed, payload)).to.be.true()
    expect(stream.remotePeer?.toString() ?? client.getConnections()[0].remotePeer.toString()).to.equal(cluster.proxy.peerId.toString())
  })

  it('carries data sent before the downstream side exists', async () => {
    const stream = await client.dialProtocol(addressOf(cluster.proxy), ECHO_PROTOCOL)
    // send and half-close at once: the proxy is still opening the downstream
    const reading = readAll(stream)
    await sendAll(stream, patternBytes(1000, 3))
    const echoed = await reading
    expect(equals(echoed, patternBytes(1000, 3))).to.be.true()
  })

  it('propagates half-close: the downstream sees end of data and the client sees the downstream close', async () => {
    const stream = await client.dialProtocol(addressOf(cluster.proxy), ECHO_PROTOCOL)
    await stream.close()
    const echoed = await readAll(stream)
    expect(echoed.byteLength).to.equal(0)
  })
})
