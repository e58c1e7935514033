import { addressOf, createTestNode, ECHO_PROTOCOL, handleEcho, loopbackConfig } from '@kitsune/test-support'
import { mplex } from '@libp2p/mplex'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { frontDoorMplex, frontDoorMplexOptions } from '../src/index.ts'
import { waitFor } from './fixtures.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

/**
 * Opens `count` streams as {@link burst} does and resolves once the
 * connection is no longer open (the streams it cut short are abandoned)
 */
async function burstUntilClosed (connection: Connection, count: number): Promise<void> {
  const abandon = new AbortController()
  const opening = burst(connection, count, abandon.signal)
  try {
    await waitFor(() => connection.status !== 'open', 5_000, 'the connection to close')
  } finally {
    abandon.abort()
    await opening
  }
}

/**
 * Opens `count` streams on the connection at once, as a js-ipfs Bitswap
 * does (a new stream for every message), and writes to each. The streams
 * stay open: mplex also counts frames for streams it has already closed
 * against the same limit, which would blur the edge. Resolves once every
 * stream is open (or refused).
 */
async function burst (connection: Connection, count: number, signal?: AbortSignal): Promise<void> {
  await Promise.allSettled(Array.from({ length: count }, async () => {
    const stream = await connection.newStream(ECHO_PROTOCOL, { signal })
    stream.send(new Uint8Array([1]))
  }))
}

describe('frontDoorMplex', function () {
  this.timeout(30_000)
  const nodes: Libp2p[] = []

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  async function pair (server: ReturnType<typeof mplex>, client = mplex()): Promise<Connection> {
    const front = await createTestNode({ config: { streamMuxers: [server] } })
    await handleEcho(front, ECHO_PROTOCOL, { maxInboundStreams: 4096 })
    // a js-ipfs-era client: mplex only, and no identify, so that every
    // stream the front door counts is one the test opens
    const config = loopbackConfig({ config: { streamMuxers: [client] } })
    delete (config.services as Record<string, unknown>).identify
    const peer = await createLibp2p(config)
    nodes.push(front, peer)
    const connection = await peer.dial(addressOf(front))
    // streams that arrive before the front door has set the connection up
    // are "early streams", which the muxer caps apart (at 10)
    await waitFor(() => front.getConnections(peer.peerId).length === 1, 5_000, 'the front door to set the connection up')
    return connection
  }

  it('keeps a client that opens exactly mplexNewStreamsPerSecond streams in one second, and cuts it at one more', async () => {
    const limit = 40
    const within = await pair(frontDoorMplex({ mplexNewStreamsPerSecond: limit }))
    await burst(within, limit)
    expect(within.status, 'the limit itself is allowed').to.equal('open')

    const over = await pair(frontDoorMplex({ mplexNewStreamsPerSecond: limit }))
    await burstUntilClosed(over, limit + 1)
  })

  it('serves a js-ipfs-like burst of a hundred streams with the defaults, which @libp2p/mplex\'s own default (5 a second) cuts off', async () => {
    const front = await pair(frontDoorMplex())
    await burst(front, 100)
    expect(front.status).to.equal('open')

    const stock = await pair(frontDoorMplex({ mplexNewStreamsPerSecond: 5 }))
    await burstUntilClosed(stock, 100)
  })

  it('takes a frame of exactly mplexMaxMessageSize bytes and closes the connection on a larger one', async () => {
    const limit = 64 * 1024
    // the client splits its writes into frames of up to 256 KiB
    const front = await pair(frontDoorMplex({ mplexMaxMessageSize: limit }), mplex({ maxMessageSize: 256 * 1024 }))

    const exact = await front.newStream(ECHO_PROTOCOL)
    exact.send(new Uint8Array(limit))
    let echoed = 0
    for await (const chunk of exact) {
      echoed += chunk.byteLength
      if (echoed === limit) {
        break
      }
    }
    expect(echoed).to.equal(limit)
    expect(front.status).to.equal('open')

    const larger = await front.newStream(ECHO_PROTOCOL)
    larger.send(new Uint8Array(limit + 1))
    await waitFor(() => front.status !== 'open', 5_000, 'the connection to close')
  })

  it('passes its limits to mplex under @libp2p/mplex\'s option names', () => {
    expect(frontDoorMplexOptions({ mplexNewStreamsPerSecond: 7, mplexMaxMessageSize: 8, mplexMaxUnprocessedBytes: 9 })).to.deep.equal({
      disconnectThreshold: 7,
      maxMessageSize: 8,
      maxUnprocessedMessageQueueSize: 9
    })
  })
})
