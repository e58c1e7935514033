import { serviceCapabilities } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { getNetConfig, pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit, TCP as TCPMatcher } from '@multiformats/multiaddr-matcher'
import { TypedEventEmitter } from 'main-event'
import * as Digest from 'multiformats/hashes/digest'
import { AddressPolicy } from './address-policy.ts'
import {
  AUTONAT_MAX_INBOUND_STREAMS, AUTONAT_PROTOCOL, DEFAULT_AUTONAT_TIMEOUT, DEFAULT_DIAL_BACK_TIMEOUT, DEFAULT_MAX_AUTONAT_ADDRESSES,
  DEFAULT_MAX_AUTONAT_MESSAGE_SIZE, DEFAULT_REACHABILITY_INTERVAL, DEFAULT_REACHABILITY_MAX_SERVERS, DEFAULT_REACHABILITY_QUORUM, PUNCH_TCP_TAG
} from './constants.ts'
import { AutoNATProtocolError, InvalidOptionError } from './errors.ts'
import { Message } from './pb/autonat.ts'
import type { PunchTCP } from './tcp/punch-tcp.ts'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, PeerStore, Startable, Stream } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export type ReachabilityStatus = 'reachable' | 'not-reachable' | 'unknown'

/** One AutoNAT server's answer */
export interface ReachabilityEvidence {
  server: string
  status: 'OK' | 'E_DIAL_ERROR' | 'E_DIAL_REFUSED' | 'E_BAD_REQUEST' | 'E_INTERNAL_ERROR' | 'ERROR'
  /** The address the server dialed back (OK only) */
  addr?: string
  text?: string
}

export interface ReachabilityResult {
  status: ReachabilityStatus
  /** The addresses we asked to be dialed back on */
  addresses: string[]
  evidence: ReachabilityEvidence[]
}

export interface ReachabilityInit {
  /**
   * How many answers of the same kind make a verdict
   *
   * @default 2
   */
  quorum?: number
  /**
   * How many connected AutoNAT servers are asked in one check
   *
   * @default 4
   */
  maxServers?: number
  /**
   * How long one request may take, in ms
   *
   * @default 10000
   */
  timeout?: number
  /**
   * Re-check this often, in ms (0 disables)
   *
   * @default 300000
   */
  interval?: number
  /**
   * Answer other peers' dial-back requests
   *
   * @default false
   */
  server?: boolean
  /**
   * As a server: how long a dial-back may take, in ms
   *
   * @default 3000
   */
  dialBackTimeout?: number
  /**
   * As a server: the most addresses taken from one request
   *
   * @default 16
   */
  maxAddresses?: number
  /**
   * The largest AutoNAT message accepted, in bytes
   *
   * @default 4096
   */
  maxMessageSize?: number
  /**
   * Address ranges that count as public (e.g. a lab's `198.18.0.0/15`)
   *
   * @default []
   */
  publicCidrs?: string[]
}

export interface ReachabilityComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  transportManager: TransportManager
  addressManager: AddressManager
  peerStore: PeerStore
  peerId: PeerId
  logger: ComponentLogger
}

export interface ReachabilityEvents {
  reachability: CustomEvent<ReachabilityResult>
}

/**
 * AutoNAT (v1 wire protocol) with a configurable quorum. Stock AutoNAT wants
 * four dial-backs from servers in different /8 networks and never decides
 * behind a NAT in a lab; this one decides with `quorum` answers of one kind
 * and reports the evidence. Candidate addresses are the punch port's
 * observed addresses plus public listen addresses.
 */
export class Reachability extends TypedEventEmitter<ReachabilityEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@kitsune/reachability'
  readonly [serviceCapabilities] = ['@kitsune/reachability']

  private readonly components: ReachabilityComponents
  private readonly init: Required<Omit<ReachabilityInit, 'publicCidrs'>>
  private readonly policy: AddressPolicy
  private readonly log: Logger
  private timer?: ReturnType<typeof setInterval>
  private readonly shutdown = new AbortController()
  private last: ReachabilityResult = { status: 'unknown', addresses: [], evidence: [] }

  constructor (components: ReachabilityComponents, init: ReachabilityInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('kitsune:hole-punch:reachability')
    this.init = {
      quorum: init.quorum ?? DEFAULT_REACHABILITY_QUORUM,
      maxServers: init.maxServers ?? DEFAULT_REACHABILITY_MAX_SERVERS,
      timeout: init.timeout ?? DEFAULT_AUTONAT_TIMEOUT,
      interval: init.interval ?? DEFAULT_REACHABILITY_INTERVAL,
      server: init.server ?? false,
      dialBackTimeout: init.dialBackTimeout ?? DEFAULT_DIAL_BACK_TIMEOUT,
      maxAddresses: init.maxAddresses ?? DEFAULT_MAX_AUTONAT_ADDRESSES,
      maxMessageSize: init.maxMessageSize ?? DEFAULT_MAX_AUTONAT_MESSAGE_SIZE
    }
    if (!Number.isInteger(this.init.quorum) || this.init.quorum < 1) {
      throw new InvalidOptionError('quorum must be an integer >= 1')
    }
    this.policy = new AddressPolicy(init.publicCidrs)
  }

  async start (): Promise<void> {
    if (this.init.server) {
      await this.components.registrar.handle(AUTONAT_PROTOCOL, (stream, connection) => {
        this.serve(stream, connection).catch(err => { this.log.error('autonat server error - %e', err) })
      }, { maxInboundStreams: AUTONAT_MAX_INBOUND_STREAMS, maxOutboundStreams: 1 })
    }
    if (this.init.interval > 0) {
      this.timer = setInterval(() => {
        this.check().catch(err => { this.log.error('reachability check failed - %e', err) })
      }, this.init.interval)
      this.timer.unref?.()
    }
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    clearInterval(this.timer)
    if (this.init.server) {
      await this.components.registrar.unhandle(AUTONAT_PROTOCOL)
    }
  }

  /** The latest verdict */
  get result (): ReachabilityResult {
    return this.last
  }

  private punchTransport (): PunchTCP | undefined {
    return this.components.transportManager.getTransports().find(t => t[Symbol.toStringTag] === PUNCH_TCP_TAG) as unknown as PunchTCP | undefined
  }

  /** The addresses we ask servers to dial back */
  candidates (): Multiaddr[] {
    const out = new Map<string, Multiaddr>()
    for (const a of this.punchTransport()?.observed.getCandidates() ?? []) {
      out.set(a.toString(), a)
    }
    for (const a of this.components.addressManager.getAddresses()) {
      const bare = a.decapsulateCode(421)
      if (TCPMatcher.exactMatch(bare) && !Circuit.matches(a) && this.policy.isPublic(bare)) {
        out.set(bare.toString(), bare)
      }
    }
    return [...out.values()]
  }

  /**
   * Asks up to `maxServers` connected AutoNAT servers to dial us back and
   * decides with `quorum`
   */
  async check (options: AbortOptions = {}): Promise<ReachabilityResult> {
    const addresses = this.candidates()
    const servers: Connection[] = []
    const seen = new Set<string>()
    for (const conn of this.components.connectionManager.getConnections()) {
      if (conn.limits != null || conn.status !== 'open' || seen.has(conn.remotePeer.toString())) {
        continue
      }
      const peer = await this.components.peerStore.get(conn.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(AUTONAT_PROTOCOL) === true) {
        servers.push(conn)
        seen.add(conn.remotePeer.toString())
      }
      if (servers.length >= this.init.maxServers) {
        break
      }
    }
    const evidence: ReachabilityEvidence[] = addresses.length === 0
      ? []
      : await Promise.all(servers.map(async conn => this.ask(conn, addresses, options)))
    const ok = evidence.filter(e => e.status === 'OK').length
    const failed = evidence.filter(e => e.status === 'E_DIAL_ERROR').length
    let status: ReachabilityStatus = 'unknown'
    if (ok >= this.init.quorum) {
      status = 'reachable'
    } else if (failed >= this.init.quorum) {
      status = 'not-reachable'
    }
    this.last = { status, addresses: addresses.map(a => a.toString()), evidence }
    this.log('reachability %s (%d ok, %d dial errors of %d servers)', status, ok, failed, servers.length)
    this.safeDispatchEvent('reachability', { detail: this.last })
    return this.last
  }

  private async ask (conn: Connection, addresses: Multiaddr[], options: AbortOptions): Promise<ReachabilityEvidence> {
    const server = conn.remotePeer.toString()
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.timeout), this.shutdown.signal, ...(options.signal != null ? [options.signal] : [])])
    let stream: Stream | undefined
    try {
      stream = await conn.newStream(AUTONAT_PROTOCOL, { signal })
      const pb = pbStream(stream, { maxDataLength: this.init.maxMessageSize }).pb(Message)
      await pb.write({
        type: Message.MessageType.DIAL,
        dial: { peer: { id: this.components.peerId.toMultihash().bytes, addrs: addresses.map(a => a.bytes) } }
      }, { signal })
      const res = await pb.read({ signal })
      await stream.close({ signal }).catch(() => {})
      if (res.type !== Message.MessageType.DIAL_RESPONSE || res.dialResponse?.status == null) {
        throw new AutoNATProtocolError('expected DIAL_RESPONSE')
      }
      const addr = res.dialResponse.addr != null ? multiaddr(res.dialResponse.addr).toString() : undefined
      return { server, status: res.dialResponse.status, addr, text: res.dialResponse.statusText }
    } catch (err: any) {
      stream?.abort(err)
      return { server, status: 'ERROR', text: err.message }
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.timeout), this.shutdown.signal])
    const pb = pbStream(stream, { maxDataLength: this.init.maxMessageSize }).pb(Message)
    const respond = async (status: Message.ResponseStatus, statusText: string, addr?: Uint8Array): Promise<void> => {
      await pb.write({ type: Message.MessageType.DIAL_RESPONSE, dialResponse: { status, statusText, addr: addr == null ? undefined : new Uint8Array(addr) } }, { signal })
      await stream.close({ signal })
    }
    try {
      let req: Message
      try {
        req = await pb.read({ signal, limits: { dial: { peer: { addrs: this.init.maxAddresses } } } } as any)
      } catch (err: any) {
        throw new AutoNATProtocolError(`unreadable AutoNAT request: ${err.message}`)
      }
      if (req.type !== Message.MessageType.DIAL || req.dial?.peer?.id == null) {
        await respond(Message.ResponseStatus.E_BAD_REQUEST, 'expected DIAL with a peer id')
        return
      }
      let peer: PeerId
      try {
        peer = peerIdFromMultihash(Digest.decode(req.dial.peer.id))
      } catch {
        await respond(Message.ResponseStatus.E_BAD_REQUEST, 'bad peer id')
        return
      }
      if (!peer.equals(connection.remotePeer)) {
        await respond(Message.ResponseStatus.E_BAD_REQUEST, 'peer id does not match the connection')
        return
      }
      if (Circuit.matches(connection.remoteAddr)) {
        await respond(Message.ResponseStatus.E_DIAL_REFUSED, 'no dial-back over relayed connections')
        return
      }
      const remoteHost = getNetConfig(connection.remoteAddr).host
      const targets: Multiaddr[] = []
      for (const bytes of req.dial.peer.addrs.slice(0, this.init.maxAddresses)) {
        try {
          const ma = multiaddr(bytes).decapsulateCode(421)
          if (TCPMatcher.exactMatch(ma) && this.policy.isPublic(ma) && getNetConfig(ma).host === remoteHost) {
            targets.push(ma)
          }
        } catch {
          // not a multiaddr: not dialed
        }
      }
      if (targets.length === 0) {
        await respond(Message.ResponseStatus.E_DIAL_REFUSED, 'no public TCP address on the requester\'s host')
        return
      }
      for (const ma of targets) {
        try {
          const back = await this.components.connectionManager.openConnection(ma.encapsulate(`/p2p/${peer.toString()}`), {
            force: true,
            signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.dialBackTimeout)])
          })
          await back.close().catch(() => {})
          await respond(Message.ResponseStatus.OK, 'dialed back', ma.bytes)
          return
        } catch (err: any) {
          this.log('dial-back to %a failed - %e', ma, err)
        }
      }
      await respond(Message.ResponseStatus.E_DIAL_ERROR, 'dial-back failed')
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
  }
}
