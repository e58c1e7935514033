import { contentPlacement, findProxy, PROXY_CAPABILITY } from '@kitsune/proxy'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { LruBlockCache } from './block-cache.ts'
import { keyOf } from './codec.ts'
import * as C from './constants.ts'
import { MissingProxyError, SendTimeoutError } from './errors.ts'
import { Ledgers } from './ledgers.ts'
import { createCounters, registerMetrics } from './metrics.ts'
import { Network } from './network.ts'
import { positive, validate } from './options.ts'
import { PeerStates } from './peer-state.ts'
import { Probes } from './probes.ts'
import { BlockVerifier } from './verifier.ts'
import { WantRouter } from './want-router.ts'
import { PreloadWindows } from './windows.ts'
import type { BlockPrefix, DecodedMessage } from './codec.ts'
import type { BitswapForwarderComponents, BitswapForwarderInit, BitswapForwarderStats, BitswapForwarder as BitswapForwarderInterface, LedgerWant, ProbeOptions } from './index.ts'
import type { SentSummary } from './message-queue.ts'
import type { Counters, DownstreamCounters } from './metrics.ts'
import type { Options } from './options.ts'
import type { PreloadWindow, PreloadWindowInit } from './preload-window.ts'
import type { ContentPlacement, DownstreamInfo, DownstreamPool, Proxy } from '@kitsune/proxy'
import type { HistogramGroup, Logger, PeerId, Startable } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/**
 * The forwarder service. Wires the parts along the data path: the network
 * (streams, framing, decoding) hands each message to `receive`, which puts
 * wants into the peers' ledgers and verified blocks and presences into the
 * want routers: `forward` (upstream wants to downstreams) and `reverse`
 * (downstream wants to upstream peers, inside preload windows only). The
 * answers go out through each peer's message queue.
 */
export class BitswapForwarder implements BitswapForwarderInterface, Startable {
  readonly [Symbol.toStringTag] = '@kitsune/bitswap-forwarder'
  readonly [serviceCapabilities]: string[] = [C.BITSWAP_FORWARDER_CAPABILITY]
  readonly [serviceDependencies]: string[] = [PROXY_CAPABILITY]
  readonly protocols = [...C.BITSWAP_PROTOCOLS]

  private readonly components: BitswapForwarderComponents
  private readonly init: BitswapForwarderInit
  private readonly options: Options
  private readonly log: Logger
  private readonly verifier: BlockVerifier
  private readonly counters: Counters = createCounters()
  private readonly perDownstream = new Map<string, DownstreamCounters>()
  private readonly latency?: HistogramGroup
  private readonly blockCache?: Blockstore
  private readonly peers = new PeerStates()
  private readonly network: Network
  private readonly ledgers: Ledgers
  private readonly forward: WantRouter
  private readonly reverse: WantRouter
  private readonly preloadWindows: PreloadWindows
  private readonly probes: Probes

  private proxy?: Proxy
  private placement?: ContentPlacement

  constructor (components: BitswapForwarderComponents, init: BitswapForwarderInit = {}) {
    this.components = components
    this.init = init
    this.options = validate(init)
    this.log = components.logger.forComponent('kitsune:bitswap-forwarder')
    this.verifier = new BlockVerifier(init.hashers)
    const counters = this.counters
    const log = this.log

    if (init.cache === true) {
      this.blockCache = new LruBlockCache(positive('cacheMaxBytes', init.cacheMaxBytes, C.CACHE_MAX_BYTES))
    } else if (init.cache != null && init.cache !== false) {
      this.blockCache = init.cache
    }

    this.ledgers = new Ledgers({
      options: this.options,
      peers: this.peers,
      counters,
      log,
      cache: this.blockCache,
      queue: (peer) => this.network.queueFor(peer),
      router: (role) => role === 'upstream' ? this.forward : this.reverse
    })

    this.network = new Network({
      components,
      options: this.options,
      protocols: this.protocols,
      peers: this.peers,
      counters,
      log,
      totals: this.ledgers.queuedBytes,
      isDownstream: (peer) => this.isDownstream(peer),
      canVerify: (code) => this.verifier.canVerify(code),
      receive: (peer, downstream, message) => this.receive(peer, downstream, message),
      downstreamFailed: (peer, err) => { this.proxy?.pool.reportFailure(peer, err) },
      cutOff: (state) => { this.ledgers.drop(state, 'upstream') },
      sent: (peer, sent) => { this.sent(peer, sent) },
      queueFailed: (peer, err) => { this.queueFailed(peer, err) }
    })

    const routerCommon = {
      timeout: this.options.downstreamTimeout,
      maxAsksPerProvider: this.options.maxWantsPerDownstream,
      dontHaveTtl: this.options.dontHaveTtl,
      recentKeys: this.options.recentKeys,
      log,
      queue: (peer: PeerId) => this.network.queueFor(peer),
      deliver: this.ledgers.deliver.bind(this.ledgers),
      exhausted: this.ledgers.exhausted.bind(this.ledgers)
    }

    this.forward = new WantRouter({
      ...routerCommon,
      name: 'forward',
      fanout: this.options.fanout,
      noProviderTimeout: this.options.noDownstreamTimeout,
      select: (_key, cid, wanter) => (this.placement?.place(cid, { upstream: wanter.peer }) ?? this.pool.healthy()).map(d => d.peerId),
      isAvailable: (peer) => this.pool.healthy().some(d => d.peerId.equals(peer)),
      onBlockLatency: (peer, seconds) => {
        this.latency?.observe({ [peer.toString()]: seconds })
      },
      onTimeout: (peer) => {
        this.pool.reportFailure(peer, new Error('Bitswap want timed out'))
      }
    })

    this.reverse = new WantRouter({
      ...routerCommon,
      name: 'reverse',
      fanout: Infinity,
      noProviderTimeout: 0,
      select: (_key, cid, wanter) => this.preloadWindows.upstreamsFor(wanter.peer, cid),
      isAvailable: (peer) => this.isConnected(peer)
    })

    this.preloadWindows = new PreloadWindows({
      options: this.options,
      peers: this.peers,
      ledgers: this.ledgers,
      counters,
      log,
      reverse: () => this.reverse
    })

    this.probes = new Probes({
      counters,
      isStarted: () => this.network.isStarted(),
      canAsk: (peer) => !this.isDownstream(peer) && this.isConnected(peer),
      queue: (peer) => this.network.queueFor(peer),
      existingQueue: (peer) => this.peers.get(peer)?.queue,
      windowWants: (key) => this.reverse.has(key)
    })

    this.latency = registerMetrics(components.metrics, {
      counters,
      forward: this.forward.tally,
      pendingCids: () => this.forward.size,
      trackedWants: () => this.ledgers.trackedWants,
      waitingWants: () => this.ledgers.waitingWants,
      inboundFrameBytes: () => this.network.frameBudget.used,
      upstreamPeers: () => this.peers.count('ledger'),
      queues: () => this.peers.count('queue'),
      windows: () => this.preloadWindows.size
    })
    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
    this.onDownstreamUp = this.onDownstreamUp.bind(this)
    this.onDownstreamDown = this.onDownstreamDown.bind(this)
  }

  private get pool (): DownstreamPool {
    if (this.proxy == null) {
      throw new MissingProxyError('The forwarder is not started')
    }
    return this.proxy.pool
  }

  private isDownstream (peer: PeerId): boolean {
    return this.proxy?.pool.isDownstream(peer) === true
  }

  private isConnected (peer: PeerId): boolean {
    return this.components.connectionManager.getConnections(peer).length > 0
  }

  async start (): Promise<void> {
    const proxy = findProxy(this.components, this.options.proxyService)
    if (proxy == null) {
      throw new MissingProxyError(`No proxy service at components.${this.options.proxyService}; add proxy() from @kitsune/proxy to services`)
    }
    this.proxy = proxy
    // the proxy's placement unless a strategy of its own is given, so that
    // the preload endpoint sends a DAG where the forwarder asks first
    this.placement = this.init.strategy == null ? proxy.placement : contentPlacement(proxy.pool, this.init.strategy, this.init.strategies)

    await this.network.start()
    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.pool.addEventListener('downstream:up', this.onDownstreamUp)
    this.pool.addEventListener('downstream:down', this.onDownstreamDown)
    this.log('started; placement %s, fanout %s', this.placement.name, this.options.fanout)
  }

  async stop (): Promise<void> {
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.proxy?.pool.removeEventListener('downstream:up', this.onDownstreamUp)
    this.proxy?.pool.removeEventListener('downstream:down', this.onDownstreamDown)
    this.preloadWindows.closeAll()
    this.probes.finishAll()
    await this.network.stop()
    this.peers.clear()
    this.ledgers.clear()
    this.forward.stop()
    this.reverse.stop()
  }

  isStarted (): boolean {
    return this.network.isStarted()
  }

  // ---- public API -------------------------------------------------------

  openWindow (init: PreloadWindowInit): PreloadWindow {
    return this.preloadWindows.openWindow(init)
  }

  windows (): PreloadWindow[] {
    return this.preloadWindows.list()
  }

  async probe (cid: CID, peers: PeerId[], options: ProbeOptions = {}): Promise<PeerId[]> {
    return this.probes.probe(cid, peers, options)
  }

  ledger (peer: PeerId): LedgerWant[] {
    const ledger = this.peers.get(peer)?.ledger
    return [...(ledger?.entries.values() ?? [])].map(entry => ({
      cid: entry.cid.toString(),
      wantType: entry.wantType,
      priority: entry.priority,
      sendDontHave: entry.sendDontHave
    }))
  }

  stats (): BitswapForwarderStats {
    return {
      ...this.counters.snapshot(),
      upstreamPeers: this.peers.count('ledger'),
      trackedWants: this.ledgers.trackedWants,
      waitingWants: this.ledgers.waitingWants,
      inboundFrameBytes: this.network.frameBudget.used,
      pendingCids: this.forward.size,
      coalescedWants: this.forward.tally.get('coalesced'),
      failovers: this.forward.tally.get('failovers'),
      timeouts: this.forward.tally.get('timeouts'),
      downstreams: Object.fromEntries([...this.perDownstream].map(([k, v]) => [k, { ...v }]))
    }
  }

  // ---- route: one decoded message ------------------------------------------

  /**
   * Handles one message. Synchronous unless a block needs an asynchronous
   * hasher, so that everything a message causes (blocks for many peers,
   * wants and cancels downstream) is queued before any queue flushes.
   */
  private receive (peer: PeerId, downstream: boolean, message: DecodedMessage): Promise<void> | undefined {
    const router = downstream ? this.forward : this.reverse
    router.touch(peer)

    if (message.wants.length > 0 || message.full) {
      const state = this.peers.getOrCreate(peer)
      if (downstream) {
        this.preloadWindows.downstreamWants(state, message)
      } else {
        this.ledgers.apply(this.ledgers.ledgerFor(state, 'upstream'), message)
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
      const probed = !downstream && this.probes.answer(peer, key, true)
      if (!downstream && !this.preloadWindows.admit(peer, key, cid, block.data)) {
        continue
      }
      const result = router.receivedBlock(peer, key, block.data)
      if (result === 'unwanted' && probed) {
        continue
      }
      if (result === 'delivered') {
        this.ledgers.observeBlockSize(block.data.byteLength)
        // blocks from upstream peers are counted as window blocks
        if (downstream) {
          this.counters.count('blocksReceived')
          this.counters.count('blockBytesReceived', block.data.byteLength)
          this.downstreamCounters(peer).blocksReceived++
          this.proxy?.pool.reportSuccess(peer)
        }
        this.cache(cid, block.data)
      } else if (result === 'duplicate') {
        this.counters.count('duplicateBlocks')
      } else {
        this.badBlock(peer, downstream, router, block.prefix, `block ${cid} answers nothing that was asked`)
      }
    }

    for (const presence of message.presences) {
      if (!downstream) {
        this.probes.answer(peer, presence.key, presence.type === 'have')
      }
      router.receivedPresence(peer, presence.key, presence.type)
    }
  }

  private cache (cid: CID, data: Uint8Array): void {
    const cache = this.blockCache
    if (cache != null) {
      Promise.resolve(cache.put(cid, data)).catch(err => {
        this.log.error('could not cache %c - %e', cid, err)
      })
    }
  }

  /**
   * A block answered nothing: either corrupt or unsolicited. If the peer was
   * asked for CIDs with the same prefix, those are failed over and the block
   * counts as bad.
   */
  private badBlock (peer: PeerId, downstream: boolean, router: WantRouter, prefix: BlockPrefix, reason: string): void {
    const failedOver = router.badBlock(peer, prefix)
    if (failedOver === 0) {
      this.counters.count('unwantedBlocks')
      this.log.trace('unwanted block from %p - %s', peer, reason)
      return
    }
    this.counters.count('badBlocks')
    this.log('bad block from %p, %d wants failed over - %s', peer, failedOver, reason)
    if (downstream) {
      this.downstreamCounters(peer).badBlocks++
      this.proxy?.pool.reportFailure(peer, new Error(`Bad block: ${reason}`))
    }
  }

  // ---- queue: what the outbound queues report -----------------------------

  private sent (peer: PeerId, sent: SentSummary): void {
    if (this.isDownstream(peer)) {
      this.counters.count('wantsForwarded', sent.wants)
      this.counters.count('cancelsForwarded', sent.cancels)
      this.downstreamCounters(peer).wantsForwarded += sent.wants
    } else {
      this.counters.count('blocksSent', sent.blocks)
      this.counters.count('blockBytesSent', sent.blockBytes)
    }
    if (sent.blockBytes > 0) {
      const state = this.peers.get(peer)
      this.ledgers.released(state?.ledger ?? state?.windowLedger)
    }
  }

  private queueFailed (peer: PeerId, err: Error): void {
    if (this.isDownstream(peer)) {
      this.pool.reportFailure(peer, err)
      this.forward.providerGone(peer.toString())
      return
    }
    this.reverse.providerGone(peer.toString())
    if (err instanceof SendTimeoutError) {
      this.network.cutOff(peer, err)
    }
    this.ledgers.released()
  }

  // ---- events -----------------------------------------------------------

  private onPeerDisconnect (evt: CustomEvent<PeerId>): void {
    const peer = evt.detail
    const state = this.peers.get(peer)
    if (state != null) {
      this.ledgers.drop(state, 'upstream')
      this.ledgers.drop(state, 'downstream')
      state.queue?.abort(new Error('Peer disconnected'))
      this.peers.delete(peer)
    }
    this.forward.providerGone(peer.toString())
    this.reverse.providerGone(peer.toString())
    this.placement?.forget(peer)
  }

  private onDownstreamUp (): void {
    this.forward.providersChanged()
  }

  private onDownstreamDown (evt: CustomEvent<DownstreamInfo>): void {
    if (evt.detail.peerId != null) {
      this.forward.providerGone(evt.detail.peerId)
    }
  }

  private downstreamCounters (peer: PeerId): DownstreamCounters {
    const key = peer.toString()
    let counters = this.perDownstream.get(key)
    if (counters == null) {
      counters = { wantsForwarded: 0, blocksReceived: 0, badBlocks: 0 }
      this.perDownstream.set(key, counters)
    }
    return counters
  }
}
