import PQueue from 'p-queue'
import type { RefsRequest } from './refs-request.ts'
import type { UpstreamFinder } from './upstream-finder.ts'
import type { BitswapForwarder } from '@kitsune/bitswap-forwarder'
import type { Connection, IdentifyResult, Libp2pEvents, Logger, PeerId, TypedEventTarget } from '@libp2p/interface'

export interface HolderSearchInit {
  finder: UpstreamFinder
  forwarder: BitswapForwarder
  events: TypedEventTarget<Libp2pEvents>
  log: Logger
  /** Whether a host is a reverse proxy whose `X-Forwarded-For` is believed */
  trustsProxy(host: string): boolean
  /** Upstream peers probed at once */
  maxProbedPeers: number
  /** ms a probed peer has to answer; the forwarder's default when unset */
  probeTimeout?: number
}

/**
 * Finds the upstream peers that hold a preload request's roots: the peers
 * connected from the caller's host, asked with a want-have. js-ipfs preloads
 * right after start-up and right after an add, often before its connection
 * to the proxy is up, so the peers that connect later are asked too, for as
 * long as the request runs.
 */
export class HolderSearch {
  private readonly init: HolderSearchInit
  private readonly request: RefsRequest

  constructor (request: RefsRequest, init: HolderSearchInit) {
    this.request = request
    this.init = init
  }

  /**
   * Holders among the peers connected now
   */
  async connected (signal: AbortSignal): Promise<PeerId[]> {
    const { finder, maxProbedPeers } = this.init
    let candidates = await finder.from(this.request.clientAddress, maxProbedPeers)
    if (candidates.length === 0 && this.request.proxied) {
      // a reverse proxy that passed the HTTP call on (a TLS terminator, say)
      // most likely carries the caller's WebSocket connection too, so its
      // peer is among those connected from a trusted proxy
      candidates = finder.matching(host => this.init.trustsProxy(host), maxProbedPeers)
    }
    const holders = await this.probe(candidates, signal)
    this.init.log('%d of %d peers from %s hold %s', holders.length, candidates.length, this.request.clientAddress, this.roots())
    return holders
  }

  /**
   * Resolves with the first holders among the peers that connect from the
   * caller's host from now on (or whose identify record, which arrives
   * after the connection, lists the caller's address); rejects with the
   * signal's reason when it aborts first
   */
  async arrival (signal: AbortSignal): Promise<PeerId[]> {
    signal.throwIfAborted()
    const queue = new PQueue({ concurrency: this.init.maxProbedPeers })
    const probing = new Set<string>()

    return new Promise<PeerId[]>((resolve, reject) => {
      const finish = (): void => {
        this.init.events.removeEventListener('connection:open', onConnection)
        this.init.events.removeEventListener('peer:identify', onIdentify)
        signal.removeEventListener('abort', onAbort)
        queue.clear()
      }
      const onAbort = (): void => {
        finish()
        reject(signal.reason)
      }
      const consider = (connection: Connection): void => {
        const peer = connection.remotePeer.toString()
        queue.add(async () => {
          if (signal.aborted || !await this.mayBeCaller(connection) || probing.has(peer)) {
            return
          }
          probing.add(peer)
          try {
            const holders = await this.probe([connection.remotePeer], signal)
            if (holders.length > 0 && !signal.aborted) {
              this.init.log('%p connected from %s after the request and holds %s', connection.remotePeer, this.request.clientAddress, this.roots())
              finish()
              resolve(holders)
            }
          } finally {
            probing.delete(peer)
          }
        }).catch(err => { this.init.log('probing %p failed - %e', connection.remotePeer, err) })
      }
      const onConnection = (event: CustomEvent<Connection>): void => { consider(event.detail) }
      const onIdentify = (event: CustomEvent<IdentifyResult>): void => { consider(event.detail.connection) }
      this.init.events.addEventListener('connection:open', onConnection)
      this.init.events.addEventListener('peer:identify', onIdentify)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  private async mayBeCaller (connection: Connection): Promise<boolean> {
    const { finder } = this.init
    if (await finder.isFrom(connection, this.request.clientAddress)) {
      return true
    }
    return this.request.proxied && finder.comesFrom(connection, host => this.init.trustsProxy(host))
  }

  /**
   * The candidates that answer HAVE for a root
   */
  private async probe (candidates: PeerId[], signal: AbortSignal): Promise<PeerId[]> {
    if (candidates.length === 0) {
      return []
    }
    const { forwarder, probeTimeout: timeout } = this.init
    const answers = await Promise.all(this.request.args.map(async root => forwarder.probe(root, candidates, { timeout, signal })))
    const holders = new Map<string, PeerId>()
    for (const peer of answers.flat()) {
      holders.set(peer.toString(), peer)
    }
    return [...holders.values()]
  }

  private roots (): string {
    return this.request.args.join(', ')
  }
}
