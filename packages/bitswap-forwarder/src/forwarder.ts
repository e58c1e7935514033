import { resolveStrategy } from '@kitsune/proxy'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { trackedMap } from '@libp2p/utils'
import { identity } from 'multiformats/hashes/identity'
import { LruBlockCache, readBlock } from './block-cache.ts'
import { decodeMessage, FrameDecoder, keyOf, protocolsOf, versionOf } from './codec.ts'
import * as C from './constants.ts'
import { MissingProxyError, PeerCutOffError, SendTimeoutError, TooManyStreamsError, WantlistTooLargeError } from './errors.ts'
import { MessageQueue } from './message-queue.ts'
import { registerMetrics } from './metrics.ts'
import { positive, validate } from './options.ts'
import { PeerLedger, Totals } from './peer-ledger.ts'
import { Window } from './preload-window.ts'
import { BlockVerifier } from './verifier.ts'
import { WantRouter } from './want-router.ts'
import type { BitswapVersion, DecodedMessage, Want } from './codec.ts'
import type { BitswapForwarderComponents, BitswapForwarderInit, BitswapForwarderStats, BitswapForwarder as BitswapForwarderInterface, LedgerWant, ProbeOptions } from './index.ts'
import type { SentSummary } from './message-queue.ts'
import type { Counters } from './metrics.ts'
import type { Options } from './options.ts'
import type { LedgerEntry } from './peer-ledger.ts'
import type { PreloadWindow, PreloadWindowInit } from './preload-window.ts'
import type { BalancingStrategy, DownstreamInfo, DownstreamPool, Proxy } from '@kitsune/proxy'
import type { Connection, HistogramGroup, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/**
 * The forwarder service: owns the protocol handlers, the peers' ledgers and
 * outbound queues, and two want routers, `forward` (upstream wants to
 * downstreams) and `reverse` (downstream wants to upstream peers, inside
 * preload windows only).
 */
export class BitswapForwarder implements BitswapForwarderInterface, Startable {
  readonly [Symbol.toStringTag] = '@kitsune/bitswap-forwarder'
  readonly [serviceCapabilities]: string[] = ['@kitsune/bitswap-forwarder']
  readonly [serviceDependencies]: string[] = ['@kitsune/proxy']
  readonly protocols = [...C.BITSWAP_PROTOCOLS]

  private readonly components: BitswapForwarderComponents
  private readonly init: BitswapForwarderInit
  private readonly options: Options
  private readonly log: Logger
  private readonly verifier: BlockVerifier
  private readonly cache?: Blockstore
  private readonly counters: Counters
  private readonly perDownstream = new Map<string, { wantsForwarded: number, blocksReceived: number, badBlocks: number }>()
  private readonly latency?: HistogramGroup

  private proxy?: Proxy
  private strategy?: BalancingStrategy
  private forward!: WantRouter
  private reverse!: WantRouter
  private readonly upstreamLedgers: Map<string, PeerLedger>
  private readonly downstreamLedgers = new Map<string, PeerLedger>()
  private readonly queues: Map<string, MessageQueue>
  private readonly inbound = new Map<string, Set<Stream>>()
  private readonly versions = new Map<string, BitswapVersion>()
  private readonly cutOffUntil = new Map<string, number>()
  private readonly openWindows = new Set<Window>()
  private readonly probes = new Map<string, Set<Probe>>()
  /** Downstream wants dropped by the one-way rule, newest last, per downstream */
  private readonly droppedWants = new Map<string, { peer: PeerId, wants: Map<string, Want> }>()
  private readonly pumpSoon = new Set<PeerLedger>()
  /** Ledgers whose want-blocks wait for the global budget */
  private readonly starved = new Set<PeerLedger>()
  private readonly totals = new Totals()
  private trackedWants = 0
  private blockSizeEstimate = C.INITIAL_BLOCK_SIZE_ESTIMATE
  private windowIds = 0
  private started = false

  constructor (components: BitswapForwarderComponents, init: BitswapForwarderInit = {}) {
    this.components = components
    this.init = init
    this.options = validate(init)
    this.log = components.logger.forComponent('kitsune:bitswap-forwarder')
    this.verifier = new BlockVerifier(init.hashers)
    if (init.cache === true) {
      this.cache = new LruBlockCache(positive('cacheMaxBytes', init.cacheMaxBytes, C.CACHE_MAX_BYTES))
    } else if (init.cache != null && init.cache !== false) {
      this.cache = init.cache
    }
    this.counters = {
      wantsReceived: 0,
      cancelsReceived: 0,
      wantsForwarded: 0,
      cancelsForwarded: 0,
      blocksReceived: 0,
      blockBytesReceived: 0,
      blocksSent: 0,
      blockBytesSent: 0,
      havesSent: 0,
      dontHavesSent: 0,
      badBlocks: 0,
      duplicateBlocks: 0,
      unwantedBlocks: 0,
      cacheHits: 0,
      cacheMisses: 0,
      downstreamWantsDropped: 0,
      windowWantsPassed: 0,
      windowBlocksPassed: 0,
      windowBlocksRefused: 0,
      probes: 0,
      refusedWants: 0,
      malformedMessages: 0,
      refusedStreams: 0,
      cutOffs: 0
    }
    this.upstreamLedgers = trackedMap({ name: 'kitsune_bitswap_upstream_ledgers', metrics: components.metrics })
    this.queues = trackedMap({ name: 'kitsune_bitswap_outbound_queues', metrics: components.metrics })
    this.latency = registerMetrics(components.metrics, {
      counters: this.counters,
      forward: () => this.forward.stats,
      pendingCids: () => this.forward.size,
      trackedWants: () => this.trackedWants,
      upstreamPeers: () => this.upstreamLedgers.size,
      windows: () => this.openWindows.size
    })
    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
    this.onDownstreamUp = this.onDownstreamUp.bind(this)
    this.onDownstreamDown = this.onDownstreamDown.bind(this)
    this.handleStream = this.handleStream.bind(this)
    this.createRouters()
  }

  private get pool (): DownstreamPool {
    if (this.proxy == null) {
      throw new MissingProxyError('The forwarder is not started')
    }
    return this.proxy.pool
  }

  private createRouters (): void {
    const common = {
      timeout: this.options.downstreamTimeout,
      maxAsksPerProvider: this.options.maxWantsPerDownstream,
      dontHaveTtl: this.options.dontHaveTtl,
      recentKeys: this.options.recentKeys,
      log: this.log,
      queue: (peer: PeerId) => this.queueFor(peer),
      deliver: (ledger: PeerLedger, entry: LedgerEntry, data: Uint8Array | undefined) => { this.deliver(ledger, entry, data) },
      exhausted: (ledger: PeerLedger, entry: LedgerEntry) => { this.exhausted(ledger, entry) }
    }

    this.forward = new WantRouter({
      ...common,
      name: 'forward',
      fanout: this.options.fanout,
      select: (key, _cid, wanter) => {
        const downstreams = this.pool.healthy()
        return (this.strategy?.select({ upstream: wanter.peer, protocol: C.BITSWAP_120, key }, downstreams) ?? downstreams).map(d => d.peerId)
      },
      isAvailable: (peer) => this.pool.healthy().some(d => d.peerId.equals(peer)),
      onBlockLatency: (peer, seconds) => {
        this.latency?.observe({ [peer.toString()]: seconds })
      },
      onTimeout: (peer) => {
        this.pool.reportFailure(peer, new Error('Bitswap want timed out'))
      }
    })

    this.reverse = new WantRouter({
      ...common,
      name: 'reverse',
      fanout: Infinity,
      select: (_key, cid, wanter) => {
        const upstreams = new Map<string, PeerId>()
        for (const window of this.openWindows) {
          if (window.covers(wanter.peer, cid)) {
            for (const peer of window.upstreams) {
              upstreams.set(peer.toString(), peer)
            }
          }
        }
        return [...upstreams.values()]
      },
      isAvailable: (peer) => this.components.connectionManager.getConnections(peer).length > 0
    })
  }

  async start (): Promise<void> {
    const proxy = this.components[this.options.proxyService] as Proxy | undefined
    if (proxy?.pool == null) {
      throw new MissingProxyError(`No proxy service at components.${this.options.proxyService}; add proxy() from @kitsune/proxy to services`)
    }
    this.proxy = proxy
    this.strategy = resolveStrategy(this.init.strategy ?? C.STRATEGY, this.init.strategies)

    const maxInbound = Math.max(this.options.maxInboundStreamsPerPeer, this.options.maxInboundStreamsPerDownstream)
    for (const protocol of this.protocols) {
      await this.components.registrar.handle(protocol, this.handleStream, {
        maxInboundStreams: maxInbound,
        maxOutboundStreams: 64
      })
    }

    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.pool.addEventListener('downstream:up', this.onDownstreamUp)
    this.pool.addEventListener('downstream:down', this.onDownstreamDown)
    this.started = true
    this.log('started; strategy %s, fanout %s', this.strategy.name, this.options.fanout)
  }

  async stop (): Promise<void> {
    for (const protocol of this.protocols) {
      await this.components.registrar.unhandle(protocol)
    }
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.proxy?.pool.removeEventListener('downstream:up', this.onDownstreamUp)
    this.proxy?.pool.removeEventListener('downstream:down', this.onDownstreamDown)
    for (const window of [...this.openWindows]) {
      window.close('stopped')
    }
    for (const probes of this.probes.values()) {
      for (const probe of probes) {
        probe.finish()
      }
    }
    this.droppedWants.clear()
    for (const queue of this.queues.values()) {
      queue.abort(new Error('The Bitswap forwarder is stopping'))
    }
    for (const streams of this.inbound.values()) {
      for (const stream of streams) {
        stream.abort(new Error('The Bitswap forwarder is stopping'))
      }
    }
    this.queues.clear()
    this.inbound.clear()
    this.upstreamLedgers.clear()
    this.downstreamLedgers.clear()
    this.forward.stop()
    this.reverse.stop()
    this.trackedWants = 0
    this.started = false
  }

  isStarted (): boolean {
    return this.started
  }

  // ---- public API -------------------------------------------------------

  openWindow (init: PreloadWindowInit): PreloadWindow {
    const window = new Window(++this.windowIds, init, this.options.windowTimeout, (closed) => { this.windowClosed(closed) })
    this.openWindows.add(window)
    this.log('preload window %d opened for %s, %d upstream peers', window.id, init.root?.toString() ?? 'any CID', window.upstreams.length)
    this.replayDroppedWants(window)
    return window
  }

  windows (): PreloadWindow[] {
    return [...this.openWindows]
  }

  async probe (cid: CID, peers: PeerId[], options: ProbeOptions = {}): Promise<PeerId[]> {
    const key = keyOf(cid)
    const asked = peers.filter(peer =>
      this.proxy?.pool.isDownstream(peer) !== true &&
      this.components.connectionManager.getConnections(peer).length > 0
    )
    if (!this.started || asked.length === 0) {
      return []
    }

    const probe = new Probe(asked)
    let probes = this.probes.get(key)
    if (probes == null) {
      probes = new Set()
      this.probes.set(key, probes)
    }
    probes.add(probe)
    this.counters.probes++

    for (const peer of asked) {
      this.queueFor(peer)?.want(key, cid, { wantType: 'have', priority: 1, sendDontHave: true })
    }

    const timer = setTimeout(() => { probe.finish() }, options.timeout ?? C.PROBE_TIMEOUT)
    const onAbort = (): void => { probe.finish() }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await probe.done
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      probes.delete(probe)
      if (probes.size === 0) {
        this.probes.delete(key)
      }
      // the want-have leaves the peers' ledgers, unless a preload window
      // has since asked them for the same block
      if (!this.reverse.has(key)) {
        for (const peer of asked) {
          this.queues.get(peer.toString())?.cancel(key, cid)
        }
      }
    }
    options.signal?.throwIfAborted()
    return probe.haves
  }

  ledger (peer: PeerId): LedgerWant[] {
    const ledger = this.upstreamLedgers.get(peer.toString())
    return [...(ledger?.entries.values() ?? [])].map(entry => ({
      cid: entry.cid.toString(),
      wantType: entry.wantType,
      priority: entry.priority,
      sendDontHave: entry.sendDontHave
    }))
  }

  stats (): BitswapForwarderStats {
    return {
      ...this.counters,
      upstreamPeers: this.upstreamLedgers.size,
      trackedWants: this.trackedWants,
      pendingCids: this.forward.size,
      coalescedWants: this.forward.stats.coalesced,
      failovers: this.forward.stats.failovers,
      timeouts: this.forward.stats.timeouts,
      downstreams: Object.fromEntries([...this.perDownstream].map(([k, v]) => [k, { ...v }]))
    }
  }

  // ---- inbound ------------------------------------------------------------

  private handleStream (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer
    const peerKey = peer.toString()
    const downstream = this.proxy?.pool.isDownstream(peer) === true

    if (!downstream && this.isCutOff(peerKey)) {
      this.refuse(stream, new PeerCutOffError(`${peerKey} is cut off`))
      return
    }

    const limit = downstream ? this.options.maxInboundStreamsPerDownstream : this.options.maxInboundStreamsPerPeer
    let streams = this.inbound.get(peerKey)
    if (streams == null) {
      streams = new Set()
      this.inbound.set(peerKey, streams)
    }
    if (streams.size >= limit) {
      this.refuse(stream, new TooManyStreamsError(`${peerKey} already has ${streams.size} inbound Bitswap streams`))
      return
    }
    streams.add(stream)

    const version = versionOf(stream.protocol)
    this.versions.set(peerKey, version)

    this.readStream(stream, peer, downstream)
      .catch(err => {
        this.log.error('error reading Bitswap stream from %p - %e', peer, err)
      })
      .finally(() => {
        const set = this.inbound.get(peerKey)
        set?.delete(stream)
        if (set?.size === 0) {
          this.inbound.delete(peerKey)
        }
      })
  }

  private refuse (stream: Stream, err: Error): void {
    this.counters.refusedStreams++
    this.log('refusing Bitswap stream - %s', err.message)
    stream.abort(err)
  }

  private async readStream (stream: Stream, peer: PeerId, downstream: boolean): Promise<void> {
    const decoder = new FrameDecoder(this.options.maxMessageSize)
    // the write side of an inbound stream is never used
    stream.close().catch(() => {})

    try {
      for await (const chunk of stream) {
        for (const bytes of decoder.decode(chunk)) {
          // a downstream's wantlist is its own business (it is dropped
          // unless a preload window covers it): only its size is bounded
          const message = decodeMessage(bytes, {
            maxEntries: downstream ? Infinity : this.options.maxWantlistEntriesPerPeer,
            canVerify: (code) => this.verifier.canVerify(code),
            skipUnsupported: downstream
          })
          const pending = this.receive(peer, downstream, message)
          if (pending != null) {
            await pending
          }
        }
      }
    } catch (err: any) {
      if (stream.status === 'open' || stream.status === 'closing') {
        this.malformed(stream, peer, downstream, err)
      } else {
        this.log('Bitswap stream from %p ended - %s', peer, err.message)
      }
    }
  }

  private malformed (stream: Stream, peer: PeerId, downstream: boolean, err: Error): void {
    this.counters.malformedMessages++
    this.log('malformed input from %s %p - %s', downstream ? 'downstream' : 'upstream peer', peer, err.message)
    stream.abort(err)
    if (downstream) {
      this.proxy?.pool.reportFailure(peer, err)
    } else if (err instanceof WantlistTooLargeError || err.name === 'MessageTooLargeError') {
      this.cutOff(peer, err)
    }
  }

  private isCutOff (peerKey: string): boolean {
    const until = this.cutOffUntil.get(peerKey)
    if (until == null) {
      return false
    }
    if (until > Date.now()) {
      return true
    }
    this.cutOffUntil.delete(peerKey)
    return false
  }

  /**
   * A peer broke a limit: its streams are reset, its wants dropped (and
   * cancelled downstream), and its new streams refused for `cutOffTime`
   */
  private cutOff (peer: PeerId, err: Error): void {
    const peerKey = peer.toString()
    this.counters.cutOffs++
    this.log('cutting off %p for %dms - %s', peer, this.options.cutOffTime, err.message)
    if (this.options.cutOffTime > 0) {
      if (this.cutOffUntil.size > 10_000) {
        const now = Date.now()
        for (const [key, until] of this.cutOffUntil) {
          if (until <= now) {
            this.cutOffUntil.delete(key)
          }
        }
      }
      this.cutOffUntil.set(peerKey, Date.now() + this.options.cutOffTime)
    }
    for (const stream of this.inbound.get(peerKey) ?? []) {
      stream.abort(err)
    }
    this.dropLedger(this.upstreamLedgers, peerKey, this.forward)
    this.queues.get(peerKey)?.abort(err)
    this.queues.delete(peerKey)
  }

  /**
   * Handles one message. Synchronous unless a block needs an asynchronous
   * hasher, so that everything a message causes (blocks for many peers,
   * wants and cancels downstream) is queued before any queue flushes.
   */
  private receive (peer: PeerId, downstream: boolean, message: DecodedMessage): Promise<void> | undefined {
    const router = downstream ? this.forward : this.reverse
    router.touch(peer)

    if (message.wants.length > 0 || message.full) {
      if (downstream) {
        this.downstreamWants(peer, message)
      } else {
        this.applyWants(this.ledgerFor(this.upstreamLedgers, peer, 'upstream'), message, this.forward)
      }
    }

    const cids = message.blocks.map((block): CID | Promise<CID | Error> | Error => {
      if (block.data.byteLength > this.options.maxBlockSize) {
        return new Error(`block of ${block.data.byteLength} bytes is over maxBlockSize`)
      }
      try {
        const cid = this.verifier.cidOf(block.prefix, block.data)
        return cid instanceof Promise ? cid.catch((err: Error) => err) : cid
      } catch (err: any) {
        return err
      }
    })

    if (cids.some(cid => cid instanceof Promise)) {
      return Promise.all(cids.map(async cid => cid)).then(resolved => {
        this.receiveBlocks(peer, downstream, router, message, resolved)
      })
    }
    this.receiveBlocks(peer, downstream, router, message, cids as Array<CID | Error>)
  }

  private receiveBlocks (peer: PeerId, downstream: boolean, router: WantRouter, message: DecodedMessage, cids: Array<CID | Error>): void {
    for (let i = 0; i < message.blocks.length; i++) {
      const block = message.blocks[i]
      const cid = cids[i]
      if (cid instanceof Error) {
        this.badBlock(peer, downstream, router, block.prefix, cid.message)
        continue
      }
      const key = keyOf(cid)
      const probed = !downstream && this.answerProbes(peer, key, true)
      if (!downstream && !this.admitThroughWindows(peer, key, cid, block.data)) {
        continue
      }
      const result = router.receivedBlock(peer, key, block.data)
      if (result === 'unwanted' && probed) {
        continue
      }
      if (result === 'delivered') {
        this.blockSizeEstimate = Math.round(this.blockSizeEstimate * 0.9 + block.data.byteLength * 0.1)
        // blocks from upstream peers are counted as window blocks
        if (downstream) {
          this.counters.blocksReceived++
          this.counters.blockBytesReceived += block.data.byteLength
          this.downstreamCounters(peer).blocksReceived++
          this.proxy?.pool.reportSuccess(peer)
        }
        if (this.cache != null) {
          Promise.resolve(this.cache.put(cid, block.data)).catch(err => {
            this.log.error('could not cache %c - %e', cid, err)
          })
        }
      } else if (result === 'duplicate') {
        this.counters.duplicateBlocks++
      } else {
        this.badBlock(peer, downstream, router, block.prefix, `block ${cid} answers nothing that was asked`)
      }
    }

    for (const presence of message.presences) {
      if (!downstream) {
        this.answerProbes(peer, presence.key, presence.type === 'have')
      }
      router.receivedPresence(peer, presence.key, presence.type)
    }
  }

  /**
   * An upstream peer answered a want-have of `probe()` (a block counts as
   * HAVE). Returns whether any probe was waiting for it.
   */
  private answerProbes (peer: PeerId, key: string, have: boolean): boolean {
    const probes = this.probes.get(key)
    if (probes == null) {
      return false
    }
    let answered = false
    for (const probe of probes) {
      answered = probe.answer(peer, have) || answered
    }
    return answered
  }

  /**
   * A block from an upstream peer that a preload window asked for counts
   * against the window's budgets (only while a downstream still waits for
   * it, so copies from several upstream peers count once). Returns false
   * when a budget refuses it: the block is dropped and the window closes.
   */
  private admitThroughWindows (peer: PeerId, key: string, cid: CID, data: Uint8Array): boolean {
    if (this.openWindows.size === 0 || !this.reverse.has(key)) {
      return true
    }
    let expected = false
    let admitted = false
    for (const window of this.openWindows) {
      if (window.expects(peer, cid)) {
        expected = true
        admitted = window.admit(cid, data) || admitted
      }
    }
    if (!expected) {
      return true
    }
    if (admitted) {
      this.counters.windowBlocksPassed++
    } else {
      this.counters.windowBlocksRefused++
    }
    return admitted
  }

  /**
   * A block answered nothing: either corrupt or unsolicited. If the peer was
   * asked for CIDs with the same prefix, those are failed over and the block
   * counts as bad.
   */
  private badBlock (peer: PeerId, downstream: boolean, router: WantRouter, prefix: DecodedMessage['blocks'][number]['prefix'], reason: string): void {
    const failedOver = router.badBlock(peer, prefix)
    if (failedOver === 0) {
      this.counters.unwantedBlocks++
      this.log.trace('unwanted block from %p - %s', peer, reason)
      return
    }
    this.counters.badBlocks++
    this.log('bad block from %p, %d wants failed over - %s', peer, failedOver, reason)
    if (downstream) {
      this.downstreamCounters(peer).badBlocks++
      this.proxy?.pool.reportFailure(peer, new Error(`Bad block: ${reason}`))
    }
  }

  // ---- ledgers ----------------------------------------------------------

  private ledgerFor (ledgers: Map<string, PeerLedger>, peer: PeerId, role: 'upstream' | 'downstream'): PeerLedger {
    const key = peer.toString()
    let ledger = ledgers.get(key)
    if (ledger == null) {
      ledger = new PeerLedger(peer, role, this.totals)
      ledgers.set(key, ledger)
    }
    return ledger
  }

  /**
   * Applies a wantlist to a peer's ledger: full-list replacement, cancels,
   * new wants and want-type upgrades
   */
  private applyWants (ledger: PeerLedger, message: Pick<DecodedMessage, 'full' | 'wants'>, router: WantRouter): void {
    if (message.full) {
      const keep = new Set(message.wants.filter(want => !want.cancel).map(want => want.key))
      for (const key of [...ledger.entries.keys()]) {
        if (!keep.has(key)) {
          this.removeWant(ledger, key, router)
        }
      }
    }

    for (const want of message.wants) {
      if (want.cancel) {
        if (ledger.role === 'upstream') {
          this.counters.cancelsReceived++
        }
        this.removeWant(ledger, want.key, router)
        continue
      }
      if (ledger.role === 'upstream') {
        this.counters.wantsReceived++
      }

      const existing = ledger.entries.get(want.key)
      if (existing != null) {
        this.updateWant(ledger, existing, want, router)
        continue
      }

      if (ledger.size >= this.options.maxWantlistEntriesPerPeer) {
        throw new WantlistTooLargeError(`${ledger.peerKey} wants more than ${this.options.maxWantlistEntriesPerPeer} CIDs (maxWantlistEntriesPerPeer)`)
      }

      if (want.cid.multihash.code === identity.code) {
        // the block is inside the CID
        this.deliver(ledger, { ...this.entryFor(want), state: 'routed' }, want.cid.multihash.digest)
        continue
      }

      if (this.trackedWants >= this.options.maxTrackedWants) {
        this.counters.refusedWants++
        if (want.sendDontHave) {
          this.queueFor(ledger.peer)?.presence(want.key, want.cid, 'dont-have')
          this.counters.dontHavesSent++
        }
        continue
      }

      ledger.add(this.entryFor(want))
      this.trackedWants++
    }

    this.pump(ledger, router)
  }

  private entryFor (want: Want): LedgerEntry {
    return {
      key: want.key,
      cid: want.cid,
      wantType: want.wantType,
      priority: want.priority,
      sendDontHave: want.sendDontHave,
      state: 'held',
      reserved: false,
      toldDontHave: false
    }
  }

  private updateWant (ledger: PeerLedger, entry: LedgerEntry, want: Want, router: WantRouter): void {
    entry.priority = want.priority
    entry.sendDontHave = want.sendDontHave
    if (want.wantType === 'block' && entry.wantType === 'have') {
      entry.wantType = 'block'
      if (entry.state === 'routed') {
        ledger.reserve(entry)
        router.want(ledger, entry)
      }
      return
    }
    if (entry.state === 'routed' && entry.toldDontHave) {
      // asked again after DONT_HAVE: the router asks downstreams again once
      // the earlier answer is older than dontHaveTtl
      entry.toldDontHave = false
      router.want(ledger, entry)
    }
  }

  private removeWant (ledger: PeerLedger, key: string, router: WantRouter): void {
    const entry = ledger.remove(key)
    if (entry == null) {
      return
    }
    this.trackedWants--
    if (entry.state === 'routed') {
      router.cancel(ledger, key)
    }
    this.released(ledger)
  }

  private dropLedger (ledgers: Map<string, PeerLedger>, peerKey: string, router: WantRouter): void {
    const ledger = ledgers.get(peerKey)
    if (ledger == null) {
      return
    }
    ledgers.delete(peerKey)
    this.starved.delete(ledger)
    for (const key of [...ledger.entries.keys()]) {
      this.removeWant(ledger, key, router)
    }
  }

  /**
   * Whether the peer may have another want-block routed: the bytes queued
   * for it plus the expected size of its unanswered want-blocks stay under
   * `maxOutstandingBytesPerPeer`, and the same sums over all peers stay
   * under `maxOutstandingBytes`. A peer that ran out waits until half of
   * its budget is free, so its wants go downstream in batches (stock Helia
   * answers each batch on a new stream, which starts with a small flow
   * control window: one block at a time would crawl). While its queue is
   * under the limit, a peer with nothing in flight may always have one
   * want-block routed, so a block larger than the budget still gets through.
   */
  private hasBudget (ledger: PeerLedger): 'ok' | 'peer' | 'global' {
    const estimate = this.blockSizeEstimate
    const perPeer = ledger.throttled ? this.options.maxOutstandingBytesPerPeer / 2 : this.options.maxOutstandingBytesPerPeer
    const queued = this.queues.get(ledger.peerKey)?.queuedBytes ?? 0
    if (queued >= perPeer) {
      return 'peer'
    }
    if (ledger.reservedBlocks > 0 && queued + (ledger.reservedBlocks + 1) * estimate > perPeer) {
      return 'peer'
    }
    const total = this.totals
    if (total.queuedBytes >= this.options.maxOutstandingBytes) {
      return 'global'
    }
    if (total.reservedBlocks > 0 && total.queuedBytes + (total.reservedBlocks + 1) * estimate > this.options.maxOutstandingBytes) {
      return 'global'
    }
    return 'ok'
  }

  /**
   * Routes held wants in order while the budgets allow (want-haves need no
   * budget and are never held back)
   */
  private pump (ledger: PeerLedger, router: WantRouter): void {
    let budget = true
    for (const key of ledger.held) {
      const entry = ledger.entries.get(key)
      if (entry == null) {
        ledger.held.delete(key)
        continue
      }
      if (entry.wantType === 'block') {
        if (!budget) {
          continue
        }
        const verdict = this.hasBudget(ledger)
        if (verdict !== 'ok') {
          budget = false
          ledger.throttled = verdict === 'peer'
          if (verdict === 'global') {
            this.starved.add(ledger)
          }
          continue
        }
        ledger.throttled = false
      }
      ledger.held.delete(key)
      entry.state = 'routed'
      ledger.reserve(entry)
      this.route(ledger, entry, router)
    }
  }

  /**
   * Budget was freed: the ledger, and every ledger waiting on the global
   * budget, may route more
   */
  private released (ledger?: PeerLedger): void {
    if (ledger != null) {
      this.schedulePump(ledger)
    }
    if (this.starved.size > 0) {
      const starved = [...this.starved]
      this.starved.clear()
      for (const l of starved) {
        this.schedulePump(l)
      }
    }
  }

  private schedulePump (ledger: PeerLedger): void {
    if (ledger.held.size === 0) {
      return
    }
    if (this.pumpSoon.size === 0) {
      queueMicrotask(() => {
        const ledgers = [...this.pumpSoon]
        this.pumpSoon.clear()
        for (const l of ledgers) {
          const current = l.role === 'upstream' ? this.upstreamLedgers.get(l.peerKey) : this.downstreamLedgers.get(l.peerKey)
          if (current === l) {
            this.pump(l, l.role === 'upstream' ? this.forward : this.reverse)
          }
        }
      })
    }
    this.pumpSoon.add(ledger)
  }

  private route (ledger: PeerLedger, entry: LedgerEntry, router: WantRouter): void {
    const cache = this.cache
    if (cache == null || ledger.role !== 'upstream') {
      router.want(ledger, entry)
      return
    }

    readBlock(cache, entry.cid)
      .catch(err => {
        this.log.error('cache lookup for %c failed - %e', entry.cid, err)
        return undefined
      })
      .then(data => {
        if (ledger.entries.get(entry.key) !== entry || this.upstreamLedgers.get(ledger.peerKey) !== ledger) {
          return
        }
        if (data != null) {
          this.counters.cacheHits++
          this.deliver(ledger, entry, data)
        } else {
          this.counters.cacheMisses++
          router.want(ledger, entry)
        }
      })
      .catch(err => {
        this.log.error('routing %c failed - %e', entry.cid, err)
      })
  }

  /**
   * Answers a want: the block for a want-block, HAVE for a want-have. The
   * want leaves the ledger, as in Boxo and Helia.
   */
  private deliver (ledger: PeerLedger, entry: LedgerEntry, data: Uint8Array | undefined): void {
    const queue = this.queueFor(ledger.peer)
    if (entry.wantType === 'block' && data != null) {
      queue?.block(entry.key, entry.cid, data)
    } else {
      queue?.presence(entry.key, entry.cid, 'have')
      if (ledger.role === 'upstream') {
        this.counters.havesSent++
      }
    }
    if (ledger.entries.get(entry.key) === entry) {
      ledger.remove(entry.key)
      this.trackedWants--
    }
    this.released(ledger)
  }

  /**
   * No downstream has the block: DONT_HAVE if the peer asked for it. The
   * want stays in the ledger (a block that turns up later is still sent)
   * but stops counting against the peer's byte budget.
   */
  private exhausted (ledger: PeerLedger, entry: LedgerEntry): void {
    ledger.release(entry)
    if (entry.sendDontHave && !entry.toldDontHave) {
      entry.toldDontHave = true
      this.queueFor(ledger.peer)?.presence(entry.key, entry.cid, 'dont-have')
      if (ledger.role === 'upstream') {
        this.counters.dontHavesSent++
      }
    }
    this.released(ledger)
  }

  // ---- downstream wants and preload windows ------------------------------

  /**
   * Wants a downstream sends: dropped (one-way), except those an open
   * preload window covers, which go to the window's upstream peers
   */
  private downstreamWants (peer: PeerId, message: DecodedMessage): void {
    const passed: Want[] = []
    const dropped = this.droppedWantsOf(peer, message.full)
    for (const want of message.wants) {
      dropped.delete(want.key)
      if (want.cancel) {
        passed.push(want)
        continue
      }
      let covered = false
      for (const window of this.openWindows) {
        if (window.covers(peer, want.cid)) {
          covered = true
          window.wantsPassed++
        }
      }
      if (!covered) {
        this.counters.downstreamWantsDropped++
        // newest last, so the oldest is evicted first
        dropped.set(want.key, want)
        if (dropped.size > this.options.droppedWantsPerDownstream) {
          dropped.delete(dropped.keys().next().value as string)
        }
        continue
      }
      this.counters.windowWantsPassed++
      passed.push(want)
    }

    if (passed.length === 0 && !message.full) {
      return
    }
    if (passed.every(want => want.cancel) && !this.downstreamLedgers.has(peer.toString())) {
      return
    }
    this.applyWants(this.ledgerFor(this.downstreamLedgers, peer, 'downstream'), { full: message.full, wants: passed }, this.reverse)
  }

  private droppedWantsOf (peer: PeerId, full: boolean): Map<string, Want> {
    const peerKey = peer.toString()
    let dropped = this.droppedWants.get(peerKey)
    if (dropped == null || full) {
      dropped = { peer, wants: new Map() }
      this.droppedWants.set(peerKey, dropped)
    }
    return dropped.wants
  }

  /**
   * Passes the dropped downstream wants that a new window covers: they were
   * sent before the window opened, and a downstream does not send them again
   */
  private replayDroppedWants (window: Window): void {
    for (const { peer: downstream, wants: dropped } of this.droppedWants.values()) {
      const covered = [...dropped.values()].filter(want => window.covers(downstream, want.cid))
      if (covered.length === 0) {
        continue
      }
      for (const want of covered) {
        dropped.delete(want.key)
      }
      window.wantsPassed += covered.length
      this.counters.windowWantsPassed += covered.length
      this.log('preload window %d passes %d earlier wants of %p', window.id, covered.length, downstream)
      this.applyWants(this.ledgerFor(this.downstreamLedgers, downstream, 'downstream'), { full: false, wants: covered }, this.reverse)
    }
  }

  private windowClosed (window: Window): void {
    this.openWindows.delete(window)
    this.log('preload window %d closed after passing %d wants', window.id, window.wantsPassed)
    for (const ledger of [...this.downstreamLedgers.values()]) {
      for (const entry of [...ledger.entries.values()]) {
        if (![...this.openWindows].some(open => open.covers(ledger.peer, entry.cid))) {
          this.removeWant(ledger, entry.key, this.reverse)
        }
      }
      if (ledger.size === 0) {
        this.downstreamLedgers.delete(ledger.peerKey)
      }
    }
  }

  // ---- outbound ---------------------------------------------------------

  private queueFor (peer: PeerId): MessageQueue | undefined {
    const peerKey = peer.toString()
    let queue = this.queues.get(peerKey)
    if (queue == null) {
      if (!this.started) {
        return undefined
      }
      queue = new MessageQueue({
        peer,
        connectionManager: this.components.connectionManager,
        protocols: () => this.protocolsFor(peerKey),
        maxMessageSize: this.options.maxMessageSize,
        idleTimeout: this.options.outboundIdleTimeout,
        openTimeout: this.options.openStreamTimeout,
        sendTimeout: this.options.sendTimeout,
        maxOutboundStreams: 64,
        log: this.log,
        totals: this.totals,
        onSent: (sent) => { this.onSent(peer, sent) },
        onError: (err) => { this.onQueueError(peer, err) }
      })
      this.queues.set(peerKey, queue)
    }
    return queue
  }

  /**
   * The version the peer used with us first, then the rest, newest first
   */
  private protocolsFor (peerKey: string): string[] {
    const version = this.versions.get(peerKey)
    if (version == null) {
      return this.protocols
    }
    const preferred = protocolsOf(version)
    return [...preferred, ...this.protocols.filter(p => !preferred.includes(p))]
  }

  private onSent (peer: PeerId, sent: SentSummary): void {
    const peerKey = peer.toString()
    if (this.proxy?.pool.isDownstream(peer) === true) {
      this.counters.wantsForwarded += sent.wants
      this.counters.cancelsForwarded += sent.cancels
      this.downstreamCounters(peer).wantsForwarded += sent.wants
    } else {
      this.counters.blocksSent += sent.blocks
      this.counters.blockBytesSent += sent.blockBytes
    }
    if (sent.blockBytes > 0) {
      this.released(this.upstreamLedgers.get(peerKey) ?? this.downstreamLedgers.get(peerKey))
    }
  }

  private onQueueError (peer: PeerId, err: Error): void {
    const peerKey = peer.toString()
    if (this.proxy?.pool.isDownstream(peer) === true) {
      this.proxy.pool.reportFailure(peer, err)
      this.forward.providerGone(peerKey)
      return
    }
    this.reverse.providerGone(peerKey)
    if (err instanceof SendTimeoutError) {
      this.cutOff(peer, err)
    }
    this.released()
  }

  // ---- events -----------------------------------------------------------

  private onPeerDisconnect (evt: CustomEvent<PeerId>): void {
    const peer = evt.detail
    const peerKey = peer.toString()
    this.dropLedger(this.upstreamLedgers, peerKey, this.forward)
    this.dropLedger(this.downstreamLedgers, peerKey, this.reverse)
    this.droppedWants.delete(peerKey)
    this.forward.providerGone(peerKey)
    this.reverse.providerGone(peerKey)
    this.queues.get(peerKey)?.abort(new Error('Peer disconnected'))
    this.queues.delete(peerKey)
    this.versions.delete(peerKey)
    this.strategy?.forget?.(peer)
  }

  private onDownstreamUp (): void {
    this.forward.providersChanged()
  }

  private onDownstreamDown (evt: CustomEvent<DownstreamInfo>): void {
    if (evt.detail.peerId != null) {
      this.forward.providerGone(evt.detail.peerId)
    }
  }

  private downstreamCounters (peer: PeerId): { wantsForwarded: number, blocksReceived: number, badBlocks: number } {
    const key = peer.toString()
    let counters = this.perDownstream.get(key)
    if (counters == null) {
      counters = { wantsForwarded: 0, blocksReceived: 0, badBlocks: 0 }
      this.perDownstream.set(key, counters)
    }
    return counters
  }
}

/**
 * One `probe()`: the peers asked, and those that said HAVE
 */
class Probe {
  readonly haves: PeerId[] = []
  readonly done: Promise<void>
  private readonly waiting: Set<string>
  private resolve!: () => void

  constructor (asked: PeerId[]) {
    this.waiting = new Set(asked.map(peer => peer.toString()))
    this.done = new Promise(resolve => { this.resolve = resolve })
  }

  answer (peer: PeerId, have: boolean): boolean {
    if (!this.waiting.delete(peer.toString())) {
      return false
    }
    if (have) {
      this.haves.push(peer)
    }
    if (this.waiting.size === 0) {
      this.resolve()
    }
    return true
  }

  finish (): void {
    this.waiting.clear()
    this.resolve()
  }
}
