import { createTestNode } from '@kitsune/test-support'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { Uint8ArrayList } from 'uint8arraylist'
import { decodeMessage, encodeMessage, keyOf, protocolsOf } from '../src/codec.ts'
import { frame, readFrames } from '../src/framing.ts'
import { BlockVerifier } from '../src/verifier.ts'
import { waitFor } from './fixtures.ts'
import type { Multiaddr } from './fixtures.ts'
import type { BitswapVersion, DecodedMessage, OutgoingMessage, OutgoingWant } from '../src/codec.ts'
import type { BaseServices, TestNodeOptions } from '@kitsune/test-support'
import type { Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'

const verifier = new BlockVerifier()

export interface Received {
  from: string
  protocol: string
  message: DecodedMessage
  /** The inbound stream it came on */
  stream: Stream
  /** `performance.now()` when it was read (monotonic: the wall clock may step) */
  at: number
}

export async function makeBlock (seed: number, size = 1024): Promise<{ cid: CID, data: Uint8Array }> {
  const data = new Uint8Array(size)
  let x = seed || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    data[i] = x & 0xff
  }
  return { cid: CID.createV1(raw.code, await sha256.digest(data)), data }
}

export function want (cid: CID, options: Partial<OutgoingWant> = {}): OutgoingWant {
  return { cid, priority: 1, cancel: false, wantType: 'block', sendDontHave: true, ...options }
}

/**
 * A real libp2p node that speaks Bitswap through our codec only, pinned to
 * one version: it records every message it receives and sends whatever the
 * test tells it to. Used where a stock Helia node cannot be made to do
 * something (speak 1.0.0, send a CANCEL, misbehave).
 */
export class RawBitswapPeer {
  readonly node: Libp2p<BaseServices>
  readonly version: BitswapVersion
  readonly received: Received[] = []
  /** Encoded size of every message received */
  readonly messageSizes: number[] = []
  readonly inboundStreams: Stream[] = []
  /** Blocks this peer serves when asked, by multihash key */
  readonly blocks = new Map<string, { cid: CID, data: Uint8Array }>()
  /** Answer wants from `blocks` (a raw downstream); otherwise only record */
  serve = false
  /** Stop reading inbound streams (a slow reader) */
  paused = false

  private constructor (node: Libp2p<BaseServices>, version: BitswapVersion, protocols: string[]) {
    this.node = node
    this.version = version
    this.protocols = protocols
  }

  readonly protocols: string[]

  static async create (version: BitswapVersion = '1.2.0', protocols: string[] = protocolsOf(version), options: { privateKey?: PrivateKey, listen?: string[], streamMuxers?: NonNullable<TestNodeOptions['config']>['streamMuxers'] } = {}): Promise<RawBitswapPeer> {
    const { streamMuxers, ...nodeOptions } = options
    const node = await createTestNode({ ...nodeOptions, config: streamMuxers == null ? undefined : { streamMuxers } })
    const peer = new RawBitswapPeer(node, version, protocols)
    await node.handle(protocols, (stream, connection) => {
      peer.onStream(stream, connection.remotePeer)
    }, { maxInboundStreams: 1024, maxOutboundStreams: 1024 })
    return peer
  }

  get peerId (): PeerId {
    return this.node.peerId
  }

  private onStream (stream: Stream, from: PeerId): void {
    this.inboundStreams.push(stream)
    if (this.paused) {
      stream.pause()
      stream.maxReadBufferLength = 64 * 1024 * 1024
    }
    Promise.resolve().then(async () => {
      for await (const bytes of readFrames(stream, 64 * 1024 * 1024)) {
        this.messageSizes.push(bytes.byteLength)
        const message = decodeMessage(bytes, { maxEntries: 100_000, canVerify: () => true })
        this.received.push({ from: from.toString(), protocol: stream.protocol, message, stream, at: performance.now() })
        if (this.serve) {
          await this.answer(from, message)
        }
      }
    }).catch(() => {})
  }

  private async answer (from: PeerId, message: DecodedMessage): Promise<void> {
    const reply: OutgoingMessage = { wants: [], blocks: [], presences: [] }
    for (const w of message.wants) {
      if (w.cancel) {
        continue
      }
      const block = this.blocks.get(w.key)
      if (block != null && w.wantType === 'block') {
        reply.blocks.push({ cid: w.cid, data: block.data })
      } else if (block != null) {
        reply.presences.push({ cid: w.cid, type: 'have' })
      } else if (w.sendDontHave) {
        reply.presences.push({ cid: w.cid, type: 'dont-have' })
      }
    }
    if (reply.blocks.length + reply.presences.length === 0) {
      return
    }
    // one block per message, so that no message outgrows a small limit
    const frames = [
      frame(encodeMessage({ wants: [], blocks: [], presences: reply.presences }, this.version)),
      ...reply.blocks.map(block => frame(encodeMessage({ wants: [], blocks: [block], presences: [] }, this.version)))
    ]
    await this.sendBytes(from, new Uint8ArrayList(...frames).subarray())
  }

  /**
   * Starts reading the streams held paused
   */
  resume (): void {
    this.paused = false
    for (const stream of this.inboundStreams) {
      stream.resume()
    }
  }

  async dial (target: Multiaddr): Promise<void> {
    await this.node.dial(target)
  }

  /**
   * Opens a new stream (pinned protocol), writes the message, closes
   */
  async send (to: PeerId | Multiaddr, message: OutgoingMessage): Promise<Stream> {
    return this.sendBytes(to, frame(encodeMessage(message, this.version)).subarray())
  }

  async sendBytes (to: PeerId | Multiaddr, bytes: Uint8Array, options: { close?: boolean } = {}): Promise<Stream> {
    const stream = await this.node.dialProtocol(to, this.protocols)
    try {
      stream.send(bytes)
    } catch {
      // the remote reset the stream already; the caller looks at its status
    }
    if (options.close !== false) {
      await stream.close().catch(() => {})
    }
    return stream
  }

  /**
   * Messages received so far, flattened
   */
  all (): DecodedMessage[] {
    return this.received.map(r => r.message)
  }

  /**
   * Verified blocks received, by multihash key
   */
  async receivedBlocks (): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>()
    for (const message of this.all()) {
      for (const block of message.blocks) {
        const cid = await verifier.cidOf(block.prefix, block.data)
        out.set(keyOf(cid), block.data)
      }
    }
    return out
  }

  presences (cid: CID): string[] {
    return this.all().flatMap(m => m.presences).filter(p => p.key === keyOf(cid)).map(p => p.type)
  }

  /**
   * When the first presence of `type` for `cid` was read
   */
  async presenceAt (cid: CID, type: string, timeout = 10_000): Promise<number> {
    const find = (): Received | undefined => this.received.find(r => r.message.presences.some(p => p.key === keyOf(cid) && p.type === type))
    await waitFor(() => find() != null, timeout, `${type} for ${cid}`)
    return find()?.at ?? 0
  }

  wantsFor (cid: CID): Array<DecodedMessage['wants'][number]> {
    return this.all().flatMap(m => m.wants).filter(w => w.key === keyOf(cid))
  }

  async waitForBlocks (cids: CID[], timeout = 10_000): Promise<Map<string, Uint8Array>> {
    let blocks = new Map<string, Uint8Array>()
    await waitFor(async () => {
      blocks = await this.receivedBlocks()
      return cids.every(cid => blocks.has(keyOf(cid)))
    }, timeout, `${cids.length} blocks`)
    return blocks
  }

  async stop (): Promise<void> {
    await this.node.stop()
  }
}

/**
 * Resolves with how the stream ended: `reset` when the remote reset it
 */
export async function ended (stream: Stream, timeout = 5_000): Promise<string> {
  await waitFor(() => stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset', timeout, 'stream to end')
  return stream.status
}
