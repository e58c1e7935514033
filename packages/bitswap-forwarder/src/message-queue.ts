import { pEvent, TimeoutError } from 'p-event'
import { blockSize, MESSAGE_OVERHEAD, presenceSize, SHA2_256, versionOf, wantSize } from './codec.ts'
import { NotConnectedError, SendTimeoutError } from './errors.ts'
import { encodeFrame } from './framing.ts'
import type { BitswapVersion, OutgoingBlock, OutgoingMessage, OutgoingPresence, OutgoingWant, PresenceKind, WantKind } from './codec.ts'
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { CID } from 'multiformats/cid'

/**
 * The muxer protocol of connections without flow control
 */
const MPLEX = '/mplex/6.7.0'

export interface MessageQueueInit {
  peer: PeerId
  connectionManager: ConnectionManager
  /** Protocol ids to offer, in order, when a stream is opened */
  protocols(): string[]
  maxMessageSize: number
  /**
   * The largest message on a connection without flow control (mplex), each
   * on a stream of its own
   */
  maxMessageSizeOverMplex: number
  idleTimeout: number
  openTimeout: number
  /** ms a written message may take to drain before the stream is reset */
  sendTimeout: number
  maxOutboundStreams: number
  log: Logger
  /** Shared tally of queued block bytes */
  totals?: { queuedBytes: number, queuedPeers: number }
  /** Called after each message has been handed to the stream */
  onSent?(sent: SentSummary): void
  /** Called when messages could not be delivered; the queue was emptied */
  onError?(err: Error): void
}

export interface SentSummary {
  version: BitswapVersion
  wants: number
  cancels: number
  blocks: number
  blockBytes: number
  presences: number
  bytes: number
}

interface QueuedWant {
  cid: CID
  /** Send a cancel for the CID first (resets the remote's ledger entry) */
  cancel: boolean
  want?: { wantType: WantKind, priority: number, sendDontHave: boolean }
}

/**
 * Everything the forwarder has to say to one peer. Items are merged while
 * they wait (a later want for a CID replaces an earlier one, a cancel drops a
 * queued want), then written as messages of at most `maxMessageSize` bytes on
 * one long-lived outbound stream, with back-pressure: the next message is
 * built only after the stream drained the last one. An idle stream is closed;
 * a stream that fails is replaced once before the queue gives up.
 *
 * mplex has no flow control, so "drained" only means the socket took the
 * bytes: a js-ipfs peer reads each stream one message at a time and resets
 * it once 4 MiB wait unread. Over mplex, blocks therefore travel in messages
 * of their own, at most `maxMessageSizeOverMplex` bytes, each on a new
 * stream (as js-ipfs sends them), while wants and presences keep the one
 * long-lived stream: Bitswap wantlist updates must arrive in order, and
 * separate streams are read concurrently.
 */
export class MessageQueue {
  readonly peer: PeerId
  private readonly init: MessageQueueInit
  private readonly wants = new Map<string, QueuedWant>()
  private readonly blocks = new Map<string, OutgoingBlock>()
  private readonly presences = new Map<string, OutgoingPresence>()
  private stream?: Stream
  private version?: BitswapVersion
  /** The peer's connection has no flow control (mplex): blocks go apart */
  private blocksApart = false
  private flushing = false
  private closed = false
  private idleTimer?: ReturnType<typeof setTimeout>
  /** Block bytes queued and not yet handed to the stream */
  private queued = 0

  constructor (init: MessageQueueInit) {
    this.peer = init.peer
    this.init = init
  }

  /**
   * Block bytes queued and not yet handed to the stream
   */
  get queuedBytes (): number {
    return this.queued
  }

  private addQueued (delta: number): void {
    const before = this.queued
    this.queued += delta
    if (this.init.totals != null) {
      this.init.totals.queuedBytes += delta
      if (before === 0 && this.queued > 0) {
        this.init.totals.queuedPeers++
      } else if (before > 0 && this.queued === 0) {
        this.init.totals.queuedPeers--
      }
    }
  }

  get isEmpty (): boolean {
    return this.wants.size === 0 && this.blocks.size === 0 && this.presences.size === 0
  }

  want (key: string, cid: CID, want: { wantType: WantKind, priority: number, sendDontHave: boolean }, cancelFirst = false): void {
    const queued = this.wants.get(key)
    this.wants.set(key, { cid, cancel: cancelFirst || (queued?.cancel ?? false), want })
    this.schedule()
  }

  cancel (key: string, cid: CID): void {
    this.wants.set(key, { cid, cancel: true })
    this.schedule()
  }

  block (key: string, cid: CID, data: Uint8Array): void {
    if (this.blocks.has(key)) {
      return
    }
    this.presences.delete(key)
    this.blocks.set(key, { cid, data })
    this.addQueued(data.byteLength)
    this.schedule()
  }

  presence (key: string, cid: CID, type: PresenceKind): void {
    if (this.blocks.has(key)) {
      return
    }
    this.presences.set(key, { cid, type })
    this.schedule()
  }

  /**
   * Drops everything queued and resets the stream
   */
  abort (err: Error): void {
    this.closed = true
    clearTimeout(this.idleTimer)
    this.clear()
    this.stream?.abort(err)
    this.stream = undefined
  }

  private clear (): void {
    this.wants.clear()
    this.blocks.clear()
    this.presences.clear()
    this.addQueued(-this.queued)
  }

  private schedule (): void {
    if (this.closed || this.flushing) {
      return
    }
    clearTimeout(this.idleTimer)
    this.flushing = true
    queueMicrotask(() => {
      this.run().catch(err => {
        this.init.log.error('message queue to %p failed - %e', this.peer, err)
      })
    })
  }

  private async run (): Promise<void> {
    try {
      while (!this.closed && !this.isEmpty) {
        await this.sendNext()
      }
    } catch (err: any) {
      this.init.log('could not send to %p, dropping %d queued items - %e', this.peer, this.wants.size + this.blocks.size + this.presences.size, err)
      this.clear()
      this.init.onError?.(err)
    } finally {
      this.flushing = false
    }

    if (!this.closed && !this.isEmpty) {
      this.schedule()
    } else if (!this.closed) {
      this.armIdleTimer()
    }
  }

  private async sendNext (): Promise<void> {
    let stream = await this.open()
    const batch = this.take(this.version ?? '1.2.0')
    if (batch == null) {
      return
    }
    const apart = this.blocksApart && batch.message.blocks.length > 0

    for (let attempt = 0; ; attempt++) {
      const version = this.version ?? '1.2.0'
      const bytes = encodeFrame(batch.message, version)
      try {
        if (apart) {
          stream = await this.newStream()
        }
        if (!stream.send(bytes)) {
          await drained(stream, this.init.sendTimeout)
        }
        if (apart) {
          this.finish(stream)
        }
        this.init.onSent?.({
          version,
          wants: batch.wants,
          cancels: batch.cancels,
          blocks: batch.message.blocks.length,
          blockBytes: batch.blockBytes,
          presences: version === '1.2.0' ? batch.message.presences.length : 0,
          bytes: bytes.byteLength
        })
        return
      } catch (err: any) {
        if (this.stream === stream) {
          this.stream = undefined
        }
        if (attempt >= 1 || this.closed || err instanceof SendTimeoutError) {
          throw err
        }
        this.init.log('stream to %p failed, retrying on a new stream - %e', this.peer, err)
        stream = await this.open()
      }
    }
  }

  /**
   * Removes up to one message's worth of items from the queue
   */
  private take (version: BitswapVersion): { message: OutgoingMessage, blockBytes: number, wants: number, cancels: number } | undefined {
    const limit = this.init.maxMessageSize - MESSAGE_OVERHEAD
    // a block larger than the mplex size still goes, alone, up to the limit
    const budget = this.blocksApart ? Math.min(limit, this.init.maxMessageSizeOverMplex - MESSAGE_OVERHEAD) : limit
    const message: OutgoingMessage = { wants: [], blocks: [], presences: [] }
    let size = 0
    let count = 0
    let wants = 0
    let cancels = 0
    let blockBytes = 0

    for (const [key, queued] of this.wants) {
      const entries: OutgoingWant[] = []
      if (queued.cancel) {
        entries.push({ cid: queued.cid, cancel: true, priority: 0, wantType: 'block', sendDontHave: false })
      }
      if (queued.want != null) {
        entries.push({ cid: queued.cid, cancel: false, ...queued.want })
      }
      const entriesSize = entries.reduce((acc, entry) => acc + wantSize(entry, version), 0)
      if (count > 0 && size + entriesSize > budget) {
        break
      }
      message.wants.push(...entries)
      size += entriesSize
      count++
      wants += queued.want != null ? 1 : 0
      cancels += queued.cancel ? 1 : 0
      this.wants.delete(key)
    }

    for (const [key, presence] of this.presences) {
      if (version !== '1.2.0') {
        // 1.0.0 and 1.1.0 have no way to say HAVE or DONT_HAVE
        this.presences.delete(key)
        continue
      }
      const itemSize = presenceSize(presence)
      if (count > 0 && size + itemSize > budget) {
        break
      }
      message.presences.push(presence)
      size += itemSize
      count++
      this.presences.delete(key)
    }

    // over mplex a message carries blocks or the rest, never both
    const blocks = this.blocksApart && count > 0 ? [] : this.blocks
    for (const [key, block] of blocks) {
      const itemSize = blockSize(block, version)
      if (size + itemSize > budget && (count > 0 || itemSize > limit)) {
        if (count > 0) {
          break
        }
        this.init.log.error('block %c of %d bytes does not fit in a message, dropping it', block.cid, block.data.byteLength)
        this.blocks.delete(key)
        this.addQueued(-block.data.byteLength)
        continue
      }
      this.blocks.delete(key)
      this.addQueued(-block.data.byteLength)
      if (version === '1.0.0' && block.cid.multihash.code !== SHA2_256) {
        // a 1.0.0 peer hashes every block with sha2-256 to find its CID
        this.init.log('cannot send block %c to %p over Bitswap 1.0.0', block.cid, this.peer)
        continue
      }
      message.blocks.push(block)
      blockBytes += block.data.byteLength
      size += itemSize
      count++
    }

    return count === 0 ? undefined : { message, blockBytes, wants, cancels }
  }

  /**
   * The long-lived stream, opened if there is none
   */
  private async open (): Promise<Stream> {
    const current = this.stream
    if (current != null && current.status === 'open' && current.writeStatus === 'writable') {
      return current
    }
    this.stream = undefined
    const stream = await this.newStream()
    stream.addEventListener('close', () => {
      if (this.stream === stream) {
        this.stream = undefined
      }
    })
    this.stream = stream
    return stream
  }

  private async newStream (): Promise<Stream> {
    const connection = this.init.connectionManager.getConnections(this.peer)
      .find(c => c.status === 'open' && c.limits == null)
    if (connection == null) {
      throw new NotConnectedError(`Not connected to ${this.peer.toString()}`)
    }

    const stream = await connection.newStream(this.init.protocols(), {
      signal: AbortSignal.timeout(this.init.openTimeout),
      maxOutboundStreams: this.init.maxOutboundStreams
    })
    this.version = versionOf(stream.protocol)
    this.blocksApart = connection.multiplexer === MPLEX
    // nothing is ever read from our own outbound streams
    stream.closeRead().catch(() => {})

    if (this.closed) {
      stream.abort(new Error('Queue closed'))
      throw new NotConnectedError('Queue closed')
    }
    return stream
  }

  /**
   * Closes a stream that carries no more messages
   */
  private finish (stream: Stream): void {
    if (this.stream === stream) {
      this.stream = undefined
    }
    stream.close().catch(err => { stream.abort(err) })
  }

  private armIdleTimer (): void {
    clearTimeout(this.idleTimer)
    if (this.stream == null) {
      return
    }
    this.idleTimer = setTimeout(() => {
      const stream = this.stream
      if (stream == null || this.flushing) {
        return
      }
      this.finish(stream)
    }, this.init.idleTimeout)
    this.idleTimer.unref?.()
  }
}

/**
 * Waits for the stream's next 'drain' event; rejects if it closes first, and
 * resets it if the peer reads nothing for `timeout` ms. (`stream.onDrain()`
 * in `@libp2p/utils` 7.4 keeps its first promise and so resolves at once
 * after the first drain: it cannot be used as a brake.)
 */
async function drained (stream: Stream, timeout: number): Promise<void> {
  try {
    await pEvent(stream, 'drain', { rejectionEvents: ['close'], timeout })
  } catch (err: any) {
    if (err instanceof TimeoutError) {
      const timedOut = new SendTimeoutError(`The peer read nothing for ${timeout}ms`)
      stream.abort(timedOut)
      throw timedOut
    }
    // a 'close' event
    throw err?.error ?? new Error('Stream closed while waiting for drain')
  }
}
