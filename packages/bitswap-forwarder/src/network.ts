import { LRUCache } from 'lru-cache'
import { decodeMessage, protocolsOf, versionOf } from './codec.ts'
import { FrameBudgetError, FrameTimeoutError, PeerCutOffError, TooManyStreamsError, WantlistTooLargeError } from './errors.ts'
import { FrameBudget, readFrames } from './framing.ts'
import { MessageQueue } from './message-queue.ts'
import type { DecodedMessage } from './codec.ts'
import type { FrameGuard } from './framing.ts'
import type { BitswapForwarderComponents } from './index.ts'
import type { SentSummary } from './message-queue.ts'
import type { Counters } from './metrics.ts'
import type { Options } from './options.ts'
import type { PeerState, PeerStates } from './peer-state.ts'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'

export interface NetworkInit {
  components: Pick<BitswapForwarderComponents, 'registrar' | 'connectionManager'>
  options: Options
  /** Protocol ids handled, newest first */
  protocols: string[]
  peers: PeerStates
  counters: Counters
  log: Logger
  /** Shared tally of block bytes queued for all peers */
  totals: { queuedBytes: number, queuedPeers: number }
  isDownstream(peer: PeerId): boolean
  /** Whether blocks hashed with this multihash code can be verified */
  canVerify(code: number): boolean
  /**
   * Handles one decoded message; returns a promise when the next message
   * must wait for it
   */
  receive(peer: PeerId, downstream: boolean, message: DecodedMessage): Promise<void> | undefined
  /** A downstream sent malformed input */
  downstreamFailed(peer: PeerId, err: Error): void
  /** An upstream peer was cut off; its streams and queue are gone already */
  cutOff(state: PeerState): void
  /** A message was handed to a peer's stream */
  sent(peer: PeerId, sent: SentSummary): void
  /** A peer's queue could not deliver and was emptied */
  queueFailed(peer: PeerId, err: Error): void
}

/**
 * Bitswap on the wire: takes inbound streams (within the per-peer limits,
 * refusing cut-off peers), splits them into messages, decodes each and hands
 * it on; keeps one outbound queue per peer, offering the version the peer
 * used first. Answers come back on streams the other side opens, so nothing
 * here pairs a reply with a request.
 */
export class Network {
  private readonly init: NetworkInit
  private readonly options: Options
  /** Peers that broke a limit, until their `cutOffTime` ends */
  private readonly cutOffs?: LRUCache<string, true>
  /** Bytes of upstream peers' incomplete messages */
  readonly frameBudget: FrameBudget
  private started = false

  constructor (init: NetworkInit) {
    this.init = init
    this.options = init.options
    this.handleStream = this.handleStream.bind(this)
    this.frameBudget = new FrameBudget(this.options.maxInboundFrameBytes, this.options.maxInboundFrameBytesPerPeer)
    if (this.options.cutOffTime > 0) {
      this.cutOffs = new LRUCache({ max: this.options.maxCutOffPeers, ttl: this.options.cutOffTime })
    }
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    const maxInboundStreams = Math.max(this.options.maxInboundStreamsPerPeer, this.options.maxInboundStreamsPerDownstream)
    for (const protocol of this.init.protocols) {
      await this.init.components.registrar.handle(protocol, this.handleStream, {
        maxInboundStreams,
        maxOutboundStreams: this.options.maxOutboundStreams
      })
    }
    this.started = true
  }

  /**
   * Stops taking streams, then resets every stream and drops every queue
   */
  async stop (): Promise<void> {
    for (const protocol of this.init.protocols) {
      await this.init.components.registrar.unhandle(protocol)
    }
    const err = new Error('The Bitswap forwarder is stopping')
    for (const state of this.init.peers.values()) {
      state.queue?.abort(err)
      state.queue = undefined
      for (const stream of state.inbound) {
        stream.abort(err)
      }
    }
    this.started = false
  }

  /**
   * The outbound queue to a peer, created on first use (none once stopped)
   */
  queueFor (peer: PeerId): MessageQueue | undefined {
    const existing = this.init.peers.get(peer)?.queue
    if (existing != null || !this.started) {
      return existing
    }
    const state = this.init.peers.getOrCreate(peer)
    state.queue = new MessageQueue({
      peer,
      connectionManager: this.init.components.connectionManager,
      protocols: () => this.protocolsFor(state),
      maxMessageSize: this.options.maxMessageSize,
      maxMessageSizeOverMplex: this.options.maxMessageSizeOverMplex,
      idleTimeout: this.options.outboundIdleTimeout,
      openTimeout: this.options.openStreamTimeout,
      sendTimeout: this.options.sendTimeout,
      maxOutboundStreams: this.options.maxOutboundStreams,
      log: this.init.log,
      totals: this.init.totals,
      onSent: (sent) => { this.init.sent(peer, sent) },
      onError: (err) => { this.init.queueFailed(peer, err) }
    })
    return state.queue
  }

  /**
   * A peer broke a limit: its streams are reset, its queue dropped, its
   * wants dropped (and cancelled downstream), and its new streams refused
   * for `cutOffTime`
   */
  cutOff (peer: PeerId, err: Error): void {
    this.init.counters.count('cutOffs')
    this.init.log('cutting off %p for %dms - %s', peer, this.options.cutOffTime, err.message)
    this.cutOffs?.set(peer.toString(), true)
    const state = this.init.peers.get(peer)
    if (state == null) {
      return
    }
    for (const stream of state.inbound) {
      stream.abort(err)
    }
    this.init.cutOff(state)
    state.queue?.abort(err)
    state.queue = undefined
  }

  /**
   * The version the peer used with us first, then the rest, newest first
   */
  private protocolsFor (state: PeerState): string[] {
    if (state.version == null) {
      return this.init.protocols
    }
    const preferred = protocolsOf(state.version)
    return [...preferred, ...this.init.protocols.filter(p => !preferred.includes(p))]
  }

  private handleStream (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer
    const downstream = this.init.isDownstream(peer)

    if (!downstream && this.cutOffs?.has(peer.toString()) === true) {
      this.refuse(stream, new PeerCutOffError(`${peer} is cut off`))
      return
    }

    const state = this.init.peers.getOrCreate(peer)
    const limit = downstream ? this.options.maxInboundStreamsPerDownstream : this.options.maxInboundStreamsPerPeer
    if (state.inbound.size >= limit) {
      this.refuse(stream, new TooManyStreamsError(`${peer} already has ${state.inbound.size} inbound Bitswap streams`))
      return
    }
    state.inbound.add(stream)
    state.version = versionOf(stream.protocol)

    // downstreams are the operator's own nodes: their messages are bounded
    // by maxMessageSize only
    this.readStream(stream, peer, downstream, downstream ? undefined : this.guardFor(stream, state))
      .catch(err => {
        this.init.log.error('error reading Bitswap stream from %p - %e', peer, err)
      })
      .finally(() => {
        state.inbound.delete(stream)
      })
  }

  private refuse (stream: Stream, err: Error): void {
    this.init.counters.count('refusedStreams')
    this.init.log('refusing Bitswap stream - %s', err.message)
    stream.abort(err)
  }

  /**
   * stream → frames → decoded messages → `receive`, one message at a time
   */
  private async readStream (stream: Stream, peer: PeerId, downstream: boolean, guard?: FrameGuard): Promise<void> {
    // the write side of an inbound stream is never used
    stream.close().catch(() => {})

    try {
      for await (const bytes of readFrames(stream, this.options.maxMessageSize, guard)) {
        // a downstream's wantlist is its own business (it is dropped
        // unless a preload window covers it): only its size is bounded
        const message = decodeMessage(bytes, {
          maxEntries: downstream ? Infinity : this.options.maxWantlistEntriesPerPeer,
          canVerify: this.init.canVerify
        })
        // a downstream may well fetch content the forwarder cannot verify:
        // only an upstream peer's unusable entries are counted
        if (!downstream && message.invalidEntries > 0) {
          this.init.counters.count('invalidEntries', message.invalidEntries)
          this.init.log('skipped %d invalid entries from %p', message.invalidEntries, peer)
        }
        const pending = this.init.receive(peer, downstream, message)
        if (pending != null) {
          await pending
        }
      }
    } catch (err: any) {
      if (stream.status === 'open' || stream.status === 'closing') {
        this.malformed(stream, peer, downstream, err)
      } else {
        this.init.log('Bitswap stream from %p ended - %s', peer, err.message)
      }
    }
  }

  /**
   * Counts the stream's incomplete message against the frame budget, and
   * resets the stream when a message takes longer than `frameTimeout`
   */
  private guardFor (stream: Stream, state: PeerState): FrameGuard {
    const guard = this.frameBudget.guard(state)
    let timer: ReturnType<typeof setTimeout> | undefined
    guard.inProgress = (started) => {
      clearTimeout(timer)
      timer = undefined
      if (!started) {
        return
      }
      timer = setTimeout(() => {
        this.init.counters.count('frameTimeouts')
        this.init.log('%p did not complete a message within %d ms', state.peer, this.options.frameTimeout)
        stream.abort(new FrameTimeoutError(`A message was not complete within ${this.options.frameTimeout} ms (frameTimeout)`))
      }, this.options.frameTimeout)
      timer.unref?.()
    }
    return guard
  }

  private malformed (stream: Stream, peer: PeerId, downstream: boolean, err: Error): void {
    if (err instanceof FrameBudgetError) {
      // not the peer's fault alone when the process-wide budget is spent:
      // its stream goes, the peer stays
      this.init.counters.count('frameBudgetResets')
      this.init.log('resetting a Bitswap stream of %p - %s', peer, err.message)
      stream.abort(err)
      return
    }
    this.init.counters.count('malformedMessages')
    this.init.log('malformed input from %s %p - %s', downstream ? 'downstream' : 'upstream peer', peer, err.message)
    stream.abort(err)
    if (downstream) {
      this.init.downstreamFailed(peer, err)
    } else if (err instanceof WantlistTooLargeError || err.name === 'MessageTooLargeError') {
      this.cutOff(peer, err)
    }
  }
}
