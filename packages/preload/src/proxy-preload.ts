import { BITSWAP_FORWARDER_CAPABILITY, findBitswapForwarder } from '@kitsune/bitswap-forwarder'
import { contentKey, contentPlacement, findProxy, PROXY_CAPABILITY } from '@kitsune/proxy'
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { parse as parseNdjson } from 'it-ndjson'
import { PreloadApiServer } from './api-server.ts'
import * as C from './constants.ts'
import { DagTooLargeError, DownstreamRefsError, MissingServiceError, NoPreloadDownstreamError } from './errors.ts'
import { HolderSearch } from './holder-search.ts'
import { createLinkDecoder } from './links.ts'
import { UpstreamFinder } from './upstream-finder.ts'
import type { PreloadBackend, RefLine } from './api-server.ts'
import type { PreloadStats, ProxyPreload, ProxyPreloadInit } from './index.ts'
import type { Link, LinkDecoder } from './links.ts'
import type { RefsRequest } from './refs-request.ts'
import type { BitswapForwarder, PreloadWindow } from '@kitsune/bitswap-forwarder'
import type { ContentPlacement, Downstream, Proxy } from '@kitsune/proxy'
import type { ComponentLogger, Libp2pEvents, Logger, Metrics, PeerId, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export interface ProxyPreloadComponents {
  peerId: PeerId
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  metrics?: Metrics
  /** The proxy, at its default key (see `proxyService`) */
  proxy?: Proxy
  /** The Bitswap forwarder, at its default key (see `forwarderService`) */
  bitswapForwarder?: BitswapForwarder
  /** Every configured service is reachable by its key: the proxy and the forwarder among them */
  [service: string]: unknown
}

/**
 * The preload endpoint of a proxy. For each `refs` request it finds the
 * upstream peers that hold the roots, opens a preload window in the Bitswap
 * forwarder so a downstream's wants for the DAG reach them, has a downstream
 * fetch and keep the DAG through its own Kubo RPC `refs`, and streams that
 * downstream's refs back to the caller.
 */
export class ProxyPreloadService implements ProxyPreload, PreloadBackend, Startable {
  readonly [Symbol.toStringTag] = '@kitsune/preload:proxy'
  readonly [serviceCapabilities]: string[] = ['@kitsune/preload']
  readonly [serviceDependencies]: string[] = [PROXY_CAPABILITY, BITSWAP_FORWARDER_CAPABILITY]

  private readonly components: ProxyPreloadComponents
  private readonly init: ProxyPreloadInit
  private readonly log: Logger
  private readonly server: PreloadApiServer
  private readonly decodeLinks: LinkDecoder
  private readonly openWindows = new Set<PreloadWindow>()
  private proxy?: Proxy
  private forwarder?: BitswapForwarder
  private finder?: UpstreamFinder
  private placement?: ContentPlacement

  constructor (components: ProxyPreloadComponents, init: ProxyPreloadInit = {}) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('kitsune:preload:proxy')
    this.decodeLinks = createLinkDecoder({ codecs: init.codecs })
    this.server = new PreloadApiServer(this, init, components)
  }

  get url (): URL | undefined {
    return this.server.url
  }

  async start (): Promise<void> {
    const proxyKey = this.init.proxyService ?? C.PROXY_SERVICE
    const forwarderKey = this.init.forwarderService ?? C.FORWARDER_SERVICE
    const proxy = findProxy(this.components, proxyKey)
    if (proxy == null) {
      throw new MissingServiceError(`No proxy service at components.${proxyKey}; add proxy() from @kitsune/proxy to services`)
    }
    const forwarder = findBitswapForwarder(this.components, forwarderKey)
    if (forwarder == null) {
      throw new MissingServiceError(`No Bitswap forwarder at components.${forwarderKey}; add bitswapForwarder() from @kitsune/bitswap-forwarder to services`)
    }
    this.proxy = proxy
    this.forwarder = forwarder
    this.finder = new UpstreamFinder(this.components, proxy.pool)
    // the proxy's placement, which the forwarder uses too, unless a strategy
    // of its own is given
    this.placement = this.init.strategy == null ? proxy.placement : contentPlacement(proxy.pool, this.init.strategy)
    await this.server.start()
    this.log('preload endpoint at %s', this.server.url?.href)
  }

  async stop (): Promise<void> {
    await this.server.stop()
    for (const window of this.openWindows) {
      window.close()
    }
    this.openWindows.clear()
  }

  stats (): PreloadStats {
    return this.server.stats()
  }

  windows (): number {
    return this.openWindows.size
  }

  async * refs (request: RefsRequest, options: { signal: AbortSignal }): AsyncGenerator<RefLine> {
    const { proxy, placement } = this.started()
    const { signal } = options

    const downstreams = proxy.pool.healthy().filter(d => d.api != null)
    if (downstreams.length === 0) {
      throw new NoPreloadDownstreamError('No healthy downstream with a Kubo RPC API to preload to')
    }

    const search = this.holderSearch(request)
    const holders = await search.connected(signal)
    // placed like the root's blocks, so the DAG lands on the downstream the
    // forwarder asks first for the root
    const ordered = placement.place(request.args[0], { upstream: holders[0], among: downstreams })
    if (ordered.length === 0) {
      throw new NoPreloadDownstreamError(`The ${placement.name} strategy chose no downstream with a Kubo RPC API`)
    }

    // a window that spends its budget ends the request
    const budget = new AbortController()
    const done = new AbortController()
    let window: PreloadWindow | undefined
    const open = (found: PeerId[]): void => {
      if (done.signal.aborted) {
        return
      }
      window = this.openWindow(request, found, ordered, budget, signal)
      this.openWindows.add(window)
    }
    if (holders.length > 0) {
      open(holders)
    } else {
      // the caller may not be connected yet (js-ipfs preloads right after
      // start-up): the downstream starts fetching now, its wants wait in the
      // forwarder, and the window opens once a peer from the caller's host
      // connects and holds the roots
      this.log('no upstream peer from %s holds %s yet; waiting for one while the request runs', request.clientAddress, request.args.join(', '))
      search.arrival(AbortSignal.any([signal, done.signal])).then(open, () => {})
    }

    try {
      yield * this.refsFromDownstreams(request, ordered, AbortSignal.any([signal, budget.signal]))
    } finally {
      done.abort()
      if (window != null) {
        window.close()
        this.openWindows.delete(window)
      }
    }
  }

  private holderSearch (request: RefsRequest): HolderSearch {
    const { forwarder, finder } = this.started()
    return new HolderSearch(request, {
      finder,
      forwarder,
      events: this.components.events,
      log: this.log,
      trustsProxy: host => this.server.trustsProxy(host),
      maxProbedPeers: this.init.maxProbedPeers ?? C.MAX_PROBED_PEERS,
      // the forwarder's probe() has the default (5000 ms)
      probeTimeout: this.init.probeTimeout
    })
  }

  /**
   * A window covering the roots and every link found in the blocks that pass
   * through it, so that only this DAG's blocks are pulled from upstream
   */
  private openWindow (request: RefsRequest, holders: PeerId[], downstreams: Downstream[], budget: AbortController, signal: AbortSignal): PreloadWindow {
    const { forwarder } = this.started()
    const covered = new Set(request.args.map(contentKey))
    const maxBlocks = this.init.maxDagBlocks ?? C.MAX_DAG_BLOCKS
    const maxBytes = this.init.maxDagBytes ?? C.MAX_DAG_BYTES
    return forwarder.openWindow({
      upstreams: holders,
      downstreams: downstreams.map(d => d.peerId),
      root: request.args[0],
      filter: (cid) => covered.has(contentKey(cid)),
      onBlock: (cid, block) => {
        // widen the window before the block reaches the downstream, so its
        // wants for the links pass; the downstream decodes the block too and
        // reports what it cannot read
        const cover = (links: Link[]): void => {
          for (const link of links) {
            covered.add(contentKey(link.cid))
          }
        }
        const failed = (err: Error): void => { this.log('cannot read the links of %c - %e', cid, err) }
        try {
          const links = this.decodeLinks(cid, block)
          if (links instanceof Promise) {
            links.then(cover, failed)
          } else {
            cover(links)
          }
        } catch (err: any) {
          failed(err)
        }
      },
      onClose: (reason) => {
        if (reason === 'budget') {
          budget.abort(new DagTooLargeError(`The DAG is larger than the preload budget (maxDagBlocks ${maxBlocks}, maxDagBytes ${maxBytes})`))
        }
      },
      maxBlocks,
      maxBytes,
      timeout: this.init.requestTimeout ?? C.REQUEST_TIMEOUT,
      signal
    })
  }

  /**
   * Asks the downstreams, in the strategy's order, to fetch the DAG; fails
   * over to the next only while nothing has been streamed yet
   */
  private async * refsFromDownstreams (request: RefsRequest, downstreams: Downstream[], signal: AbortSignal): AsyncGenerator<RefLine> {
    const maxBlocks = this.init.maxDagBlocks ?? C.MAX_DAG_BLOCKS
    let lastError: Error | undefined

    for (const downstream of downstreams) {
      const controller = new AbortController()
      const downstreamSignal = AbortSignal.any([signal, controller.signal])
      let lines = 0
      // without `unique`, Kubo repeats refs: the distinct ones are the blocks
      const distinct = new Set<string>()

      try {
        const body = await this.postRefs(downstream, request, downstreamSignal)
        for await (const line of parseNdjson(chunks(body, downstreamSignal))) {
          const wire = line as Record<string, unknown>
          if (wire.Type === 'error') {
            throw new DownstreamRefsError(String(wire.Message ?? 'the downstream failed'))
          }
          const ref: RefLine = { Ref: String(wire.Ref ?? ''), Err: String(wire.Err ?? '') }
          if (ref.Err !== '') {
            throw new DownstreamRefsError(ref.Err)
          }
          distinct.add(ref.Ref)
          if (distinct.size > maxBlocks) {
            throw new DagTooLargeError(`The DAG has more than maxDagBlocks (${maxBlocks}) blocks`)
          }
          lines++
          yield ref
        }
        signal.throwIfAborted()
        this.log('%s holds %s: %d refs', downstream.peerId, request.args.join(', '), lines)
        return
      } catch (err: any) {
        // once lines have gone to the caller, another downstream cannot take over
        const reason = signal.aborted ? signal.reason : err
        if (lines > 0 || signal.aborted || reason instanceof DagTooLargeError) {
          throw reason
        }
        lastError = reason
        this.log('%s could not preload %s - %e', downstream.peerId, request.args[0], reason)
      } finally {
        controller.abort()
      }
    }

    throw new DownstreamRefsError(`No downstream could preload: ${lastError?.message ?? 'none tried'}`, { cause: lastError })
  }

  /**
   * Sends the caller's refs request on to a downstream's Kubo RPC API and
   * returns the streaming body
   */
  private async postRefs (downstream: Downstream, request: RefsRequest, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    if (downstream.api == null) {
      throw new NoPreloadDownstreamError(`${downstream.peerId} has no Kubo RPC API`)
    }
    const url = new URL('/api/v0/refs', downstream.api)
    for (const root of request.args) {
      url.searchParams.append('arg', root.toString())
    }
    url.searchParams.set('recursive', String(request.recursive))
    url.searchParams.set('unique', String(request.unique))
    url.searchParams.set('edges', String(request.edges))
    url.searchParams.set('max-depth', String(request.maxDepth))
    if (!request.edges) {
      url.searchParams.set('format', request.format)
    }

    // a downstream that trusts the proxy (its `trustedProxies`) rate-limits
    // the callers, not the proxy
    const response = await fetch(url, { method: 'POST', signal, headers: { 'X-Forwarded-For': request.clientAddress } })
    if (!response.ok) {
      const body = await response.text().catch(() => '')
      let message = body
      try {
        message = JSON.parse(body).Message ?? body
      } catch {
        // not Kubo's JSON error: keep the text
      }
      throw new DownstreamRefsError(`${url.origin} answered ${response.status}: ${message.trim()}`)
    }
    if (response.body == null) {
      throw new DownstreamRefsError(`${url.origin} answered with no body`)
    }
    return response.body
  }

  private started (): { proxy: Proxy, forwarder: BitswapForwarder, finder: UpstreamFinder, placement: ContentPlacement } {
    if (this.proxy == null || this.forwarder == null || this.finder == null || this.placement == null) {
      throw new MissingServiceError('The preload service is not started')
    }
    return { proxy: this.proxy, forwarder: this.forwarder, finder: this.finder, placement: this.placement }
  }
}

/**
 * A response body as chunks, ending with the signal's reason when it aborts
 */
async function * chunks (body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = body.getReader()
  const onAbort = (): void => { reader.cancel(signal.reason).catch(() => {}) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    while (true) {
      const { done, value } = await reader.read()
      signal.throwIfAborted()
      if (done) {
        return
      }
      yield value
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    reader.releaseLock()
  }
}

/**
 * Creates the preload endpoint of a proxy: add it to `services` beside
 * `proxy()` and `bitswapForwarder()`
 */
export function proxyPreload (init: ProxyPreloadInit = {}): (components: ProxyPreloadComponents) => ProxyPreload {
  return (components) => new ProxyPreloadService(components, init)
}
