import { serviceCapabilities } from '@libp2p/interface'
import { PeerMap, PeerSet } from '@libp2p/peer-collections'
import { raceSignal } from 'race-signal'
import { bridgeStreams } from './bridge.ts'
import { DEFAULT_STRATEGY, IDLE_TIMEOUT, MAX_BUFFERED_BYTES, MAX_SETUP_ATTEMPTS, MAX_STREAMS_PER_DOWNSTREAM, MAX_STREAMS_PER_PEER, SETUP_TIMEOUT } from './constants.ts'
import { DefaultDownstreamPool } from './downstream-pool.ts'
import { DownstreamInitiatedStreamError, NoDownstreamError, TooManyStreamsError } from './errors.ts'
import { contentPlacement } from './placement.ts'
import { PROXY_CAPABILITY } from './services.ts'
import { resolveStrategy } from './strategies.ts'
import type { Downstream, DownstreamPool } from './downstream-pool.ts'
import type { Proxy, ProxyComponents, ProxyInit, ProxyStatus, RouteInit } from './index.ts'
import type { ContentPlacement } from './placement.ts'
import type { BalancingStrategy } from './strategies.ts'
import type { Connection, CounterGroup, Histogram, Logger, PeerId, Startable, Stream } from '@libp2p/interface'

/**
 * Errors that say nothing about a downstream's health: it does not speak one
 * protocol, or a local limit was reached
 */
const NOT_HEALTH_FAILURES = new Set(['UnsupportedProtocolError', 'TooManyOutboundProtocolStreamsError'])

interface Route {
  protocols: string[]
  strategy: BalancingStrategy
  maxStreamsPerPeer: number
  maxStreamsPerDownstream: number
  idleTimeout: number
  setupTimeout: number
  maxSetupAttempts: number
  maxBufferedBytes: number
  /** Open bridged streams per upstream peer, across all its connections */
  openPerPeer: PeerMap<number>
}

interface ProxyMetrics {
  streams: CounterGroup
  downstreamStreams: CounterGroup
  bytesUp: CounterGroup
  bytesDown: CounterGroup
  downstreamBytes: CounterGroup
  refused: CounterGroup
  setupSeconds: Histogram
}

export class KitsuneProxy implements Proxy, Startable {
  readonly pool: DownstreamPool
  readonly placement: ContentPlacement
  readonly [Symbol.toStringTag] = '@kitsune/proxy'
  readonly [serviceCapabilities]: string[] = [PROXY_CAPABILITY]

  private readonly defaultPool: DefaultDownstreamPool

  private readonly components: ProxyComponents
  private readonly log: Logger
  private readonly routes: Route[]
  private readonly bridges = new Set<Stream>()
  private readonly metrics?: ProxyMetrics
  private shutdown = new AbortController()
  private started = false

  constructor (components: ProxyComponents, init: ProxyInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('kitsune:proxy')
    this.defaultPool = new DefaultDownstreamPool(components, init)
    this.pool = this.defaultPool
    this.placement = contentPlacement(this.pool, init.placement, init.strategies)
    this.routes = (init.routes ?? []).map(route => this.createRoute(route, init))
    this.metrics = this.registerMetrics()
    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
  }

  private createRoute (route: RouteInit, init: ProxyInit): Route {
    return {
      protocols: [...route.protocols],
      strategy: resolveStrategy(route.strategy ?? DEFAULT_STRATEGY, init.strategies),
      maxStreamsPerPeer: route.maxStreamsPerPeer ?? MAX_STREAMS_PER_PEER,
      maxStreamsPerDownstream: route.maxStreamsPerDownstream ?? MAX_STREAMS_PER_DOWNSTREAM,
      idleTimeout: route.idleTimeout ?? IDLE_TIMEOUT,
      setupTimeout: route.setupTimeout ?? SETUP_TIMEOUT,
      maxSetupAttempts: route.maxSetupAttempts ?? MAX_SETUP_ATTEMPTS,
      maxBufferedBytes: route.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
      openPerPeer: new PeerMap()
    }
  }

  private registerMetrics (): ProxyMetrics | undefined {
    const metrics = this.components.metrics
    if (metrics == null) {
      return undefined
    }

    metrics.registerMetric('kitsune_proxy_upstream_peers', {
      help: 'Connected upstream peers',
      calculate: () => this.upstreamPeers().size
    })
    metrics.registerMetric('kitsune_proxy_open_bridges', {
      help: 'Bridged streams open now',
      calculate: () => this.bridges.size
    })
    metrics.registerMetricGroup('kitsune_proxy_downstreams', {
      label: 'status',
      help: 'Downstreams by status',
      calculate: () => {
        const counts: Record<string, number> = { up: 0, down: 0, draining: 0, connecting: 0 }
        for (const d of this.pool.list()) {
          counts[d.status]++
        }
        return counts
      }
    })
    // Prometheus wants base units: seconds (libp2p measures the round trip in ms)
    metrics.registerMetricGroup('kitsune_proxy_downstream_rtt_seconds', {
      label: 'downstream',
      help: 'Latest ping round trip to each downstream, in seconds',
      calculate: () => Object.fromEntries(this.pool.list().filter(d => d.peerId != null && d.rtt != null).map(d => [d.peerId, (d.rtt ?? 0) / 1000]))
    })

    return {
      streams: metrics.registerCounterGroup('kitsune_proxy_streams_total', { label: 'protocol', help: 'Streams bridged, by protocol' }),
      downstreamStreams: metrics.registerCounterGroup('kitsune_proxy_downstream_streams_total', { label: 'downstream', help: 'Streams bridged, by downstream' }),
      bytesUp: metrics.registerCounterGroup('kitsune_proxy_upstream_to_downstream_bytes_total', { label: 'protocol', help: 'Bytes moved from upstream peers to downstreams, by protocol' }),
      bytesDown: metrics.registerCounterGroup('kitsune_proxy_downstream_to_upstream_bytes_total', { label: 'protocol', help: 'Bytes moved from downstreams to upstream peers, by protocol' }),
      downstreamBytes: metrics.registerCounterGroup('kitsune_proxy_downstream_bytes_total', { label: 'downstream', help: 'Bytes moved either way, by downstream' }),
      refused: metrics.registerCounterGroup('kitsune_proxy_refused_streams_total', { label: 'reason', help: 'Streams refused or failed before a bridge was up, by reason' }),
      setupSeconds: metrics.registerHistogram('kitsune_proxy_bridge_setup_seconds', {
        help: 'Time from an upstream stream arriving to its downstream stream being open',
        buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
      })
    }
  }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    await this.defaultPool.start()
    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)

    for (const route of this.routes) {
      for (const protocol of route.protocols) {
        await this.components.registrar.handle(protocol, async (stream, connection) => {
          await this.handleStream(route, stream, connection)
        }, {
          maxInboundStreams: route.maxStreamsPerPeer,
          maxOutboundStreams: route.maxStreamsPerDownstream
        })
      }
    }
    this.started = true
    this.log('started with %d routes and %d downstreams', this.routes.length, this.pool.list().length)
  }

  async stop (): Promise<void> {
    for (const route of this.routes) {
      for (const protocol of route.protocols) {
        await this.components.registrar.unhandle(protocol)
      }
    }
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.shutdown.abort()
    for (const stream of this.bridges) {
      stream.abort(new Error('The proxy is stopping'))
    }
    await this.defaultPool.stop()
    this.started = false
  }

  isStarted (): boolean {
    return this.started
  }

  async ready (): Promise<void> {
    await this.pool.ready()
  }

  status (): ProxyStatus {
    return {
      upstreamPeers: this.upstreamPeers().size,
      openBridges: this.bridges.size,
      routes: this.routes.map(route => ({ protocols: route.protocols, strategy: route.strategy.name })),
      downstreams: this.pool.list()
    }
  }

  get protocols (): string[] {
    return this.routes.flatMap(route => route.protocols)
  }

  private upstreamPeers (): PeerSet {
    const peers = new PeerSet()
    for (const connection of this.components.connectionManager.getConnections()) {
      if (!this.pool.isDownstream(connection.remotePeer)) {
        peers.add(connection.remotePeer)
      }
    }
    return peers
  }

  private refuse (stream: Stream, reason: string, err: Error): void {
    this.metrics?.refused.increment({ [reason]: true })
    this.log('refusing %s stream from %s - %s', stream.protocol, reason, err.message)
    stream.abort(err)
  }

  private async handleStream (route: Route, upstream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const protocol = upstream.protocol

    if (this.pool.isDownstream(peer)) {
      this.refuse(upstream, 'downstream-initiated', new DownstreamInitiatedStreamError(`Downstream ${peer.toString()} may not open ${protocol} streams through the proxy`))
      return
    }

    const open = route.openPerPeer.get(peer) ?? 0
    if (open >= route.maxStreamsPerPeer) {
      this.refuse(upstream, 'too-many-streams', new TooManyStreamsError(`${peer.toString()} already has ${open} open ${protocol} streams (maxStreamsPerPeer)`))
      return
    }
    route.openPerPeer.set(peer, open + 1)
    this.bridges.add(upstream)

    try {
      // hold whatever the upstream sends until the downstream side exists
      upstream.pause()
      upstream.maxReadBufferLength = route.maxBufferedBytes

      const stopTimer = this.metrics?.setupSeconds.timer()
      const { downstream, stream, release } = await this.openDownstream(route, peer, protocol)
      stopTimer?.()

      const downstreamId = downstream.peerId.toString()
      this.metrics?.streams.increment({ [protocol]: true })
      this.metrics?.downstreamStreams.increment({ [downstreamId]: true })

      try {
        const result = await bridgeStreams(upstream, stream, {
          idleTimeout: route.idleTimeout,
          maxBufferedBytes: route.maxBufferedBytes,
          onData: this.metrics == null
            ? undefined
            : (direction, bytes) => {
                (direction === 'up' ? this.metrics?.bytesUp : this.metrics?.bytesDown)?.increment({ [protocol]: bytes })
                this.metrics?.downstreamBytes.increment({ [downstreamId]: bytes })
              }
        })
        this.log.trace('bridge %s %p <-> %p closed, %d bytes up, %d down', protocol, peer, downstream.peerId, result.bytesUp, result.bytesDown)
      } finally {
        release()
      }
    } catch (err: any) {
      this.refuse(upstream, err.name === 'NoDownstreamError' ? 'no-downstream' : 'setup-failed', err)
    } finally {
      this.bridges.delete(upstream)
      const remaining = (route.openPerPeer.get(peer) ?? 1) - 1
      if (remaining === 0) {
        route.openPerPeer.delete(peer)
      } else {
        route.openPerPeer.set(peer, remaining)
      }
    }
  }

  /**
   * Opens `protocol` on the downstreams the route's strategy names, in order,
   * until one accepts
   */
  private async openDownstream (route: Route, upstream: PeerId, protocol: string): Promise<{ downstream: Downstream, stream: Stream, release(): void }> {
    const candidates = route.strategy
      .select({ upstream, protocol, key: upstream.toString() }, this.pool.healthy())
      .slice(0, route.maxSetupAttempts)

    if (candidates.length === 0) {
      throw new NoDownstreamError(`No healthy downstream for ${protocol}`)
    }

    const errors: string[] = []
    for (const downstream of candidates) {
      // counted as load while it is being opened, so a burst spreads out
      const release = this.pool.acquire(downstream.peerId)
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(route.setupTimeout), this.shutdown.signal])
        const opening = this.components.connectionManager.openStream(downstream.peerId, protocol, {
          signal,
          maxOutboundStreams: route.maxStreamsPerDownstream
        })
        // libp2p does not race stream middleware against the signal
        opening.then(stream => { if (signal.aborted) { stream.abort(signal.reason) } }, () => {})
        const stream = await raceSignal(opening, signal)
        stream.pause()
        this.pool.reportSuccess(downstream.peerId)
        return { downstream, stream, release }
      } catch (err: any) {
        release()
        this.log('could not open %s on downstream %p - %e', protocol, downstream.peerId, err)
        errors.push(`${downstream.peerId.toString()}: ${err.message}`)
        if (!NOT_HEALTH_FAILURES.has(err.name)) {
          this.pool.reportFailure(downstream.peerId, err)
        }
      }
    }

    throw new NoDownstreamError(`No downstream accepted ${protocol} (${errors.join('; ')})`)
  }

  private onPeerDisconnect (evt: CustomEvent<PeerId>): void {
    for (const route of this.routes) {
      route.strategy.forget?.(evt.detail)
    }
    this.placement.forget(evt.detail)
  }
}
