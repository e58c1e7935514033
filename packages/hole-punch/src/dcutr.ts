import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit, TCP as TCPMatcher } from '@multiformats/multiaddr-matcher'
import { TypedEventEmitter } from 'main-event'
import { AddressPolicy } from './address-policy.ts'
import {
  DCUTR_PROTOCOL, DEFAULT_DCUTR_MESSAGE_TIMEOUT, DEFAULT_MAX_CONCURRENT_PUNCHES, DEFAULT_MAX_DCUTR_ADDRESSES,
  DEFAULT_MAX_DCUTR_MESSAGE_SIZE, DEFAULT_PUNCH_ATTEMPTS, DEFAULT_PUNCH_DIAL_TIMEOUT, PUNCH_TCP_TAG
} from './constants.ts'
import { DCUtRProtocolError, NoPunchAddressesError, PunchFailedError } from './errors.ts'
import { HolePunch } from './pb/dcutr.ts'
import type { PunchTCP } from './tcp/punch-tcp.ts'
import type { AbortOptions, ComponentLogger, Connection, Counter, CounterGroup, Logger, Metrics, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface HolePunchInit {
  /**
   * How many times the initiator tries (CONNECT, SYNC, dial) before giving up
   *
   * @default 3
   */
  attempts?: number
  /**
   * How long one punch dial may take, in ms
   *
   * @default 5000
   */
  dialTimeout?: number
  /**
   * How long to wait for the other side's CONNECT or SYNC, in ms
   *
   * @default 10000
   */
  messageTimeout?: number
  /**
   * The largest DCUtR message accepted, in bytes
   *
   * @default 4096
   */
  maxMessageSize?: number
  /**
   * The most addresses taken from the other side's CONNECT
   *
   * @default 16
   */
  maxAddresses?: number
  /**
   * How many hole punches may run at once (more are refused)
   *
   * @default 8
   */
  maxConcurrent?: number
  /**
   * Address ranges that count as public (e.g. a lab's `198.18.0.0/15`);
   * addresses in private ranges outside these are never punched to
   *
   * @default []
   */
  publicCidrs?: string[]
  /**
   * Close the relayed connection once the direct one is up
   *
   * @default true
   */
  closeRelayed?: boolean
  /**
   * Start a punch automatically when a relayed connection arrives (as the
   * DCUtR initiator, "B")
   *
   * @default true
   */
  autoUpgrade?: boolean
}

export interface HolePunchComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  transportManager: TransportManager
  logger: ComponentLogger
  metrics?: Metrics
  peerId: PeerId
}

/** A punch began */
export interface PunchStartDetail { peer: PeerId, role: 'initiator' | 'responder', attempt: number }

/** A direct connection replaced a relayed one */
export interface PunchSuccessDetail {
  peer: PeerId
  connection: Connection
  transport: 'tcp'
  remoteAddr: Multiaddr
  /** ms from the relayed connection opening to the direct one */
  ms: number
  /** The attempt that succeeded (1-based) */
  attempt: number
  role: 'initiator' | 'responder'
}

/** Every attempt failed (or the protocol broke) */
export interface PunchFailedDetail { peer: PeerId, reason: string, attempts: number, role: 'initiator' | 'responder' }

export interface HolePunchEvents {
  'punch:start': CustomEvent<PunchStartDetail>
  'punch:success': CustomEvent<PunchSuccessDetail>
  'punch:failed': CustomEvent<PunchFailedDetail>
}

/**
 * DCUtR that punches: wire-compatible `/libp2p/dcutr`, the initiator measures
 * the RTT over the relay and dials at RTT/2 after SYNC, the responder dials
 * on SYNC; both dial from the punch port of a {@link PunchTCP} transport and
 * the initiator takes the security/multistream initiator role on the punched
 * connection.
 */
export class HolePunchService extends TypedEventEmitter<HolePunchEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@kitsune/hole-punch'
  readonly [serviceCapabilities] = ['@kitsune/hole-punch']
  readonly [serviceDependencies] = ['@libp2p/identify']

  private readonly components: HolePunchComponents
  private readonly log: Logger
  private readonly init: Required<Omit<HolePunchInit, 'publicCidrs'>>
  private readonly policy: AddressPolicy
  /** punches in progress, both roles (`maxConcurrent` counts them all) */
  private readonly running = new Set<string>()
  private responderSeq = 0
  private readonly responderFailures = new Map<string, number>()
  private topologyId?: string
  private readonly metrics?: { attempts: Counter, successes: CounterGroup<'tcp'>, failures: Counter, lastMs: { update(v: number): void } }
  private readonly shutdown = new AbortController()

  constructor (components: HolePunchComponents, init: HolePunchInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('kitsune:hole-punch:dcutr')
    this.init = {
      attempts: init.attempts ?? DEFAULT_PUNCH_ATTEMPTS,
      dialTimeout: init.dialTimeout ?? DEFAULT_PUNCH_DIAL_TIMEOUT,
      messageTimeout: init.messageTimeout ?? DEFAULT_DCUTR_MESSAGE_TIMEOUT,
      maxMessageSize: init.maxMessageSize ?? DEFAULT_MAX_DCUTR_MESSAGE_SIZE,
      maxAddresses: init.maxAddresses ?? DEFAULT_MAX_DCUTR_ADDRESSES,
      maxConcurrent: init.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_PUNCHES,
      closeRelayed: init.closeRelayed ?? true,
      autoUpgrade: init.autoUpgrade ?? true
    }
    this.policy = new AddressPolicy(init.publicCidrs)
    if (components.metrics != null) {
      this.metrics = {
        attempts: components.metrics.registerCounter('kitsune_hole_punch_attempts_total', { help: 'Hole-punch attempts (each CONNECT/SYNC round)' }),
        successes: components.metrics.registerCounterGroup('kitsune_hole_punch_successes_total', { label: 'transport', help: 'Hole punches that gave a direct connection, by the transport that won' }),
        failures: components.metrics.registerCounter('kitsune_hole_punch_failures_total', { help: 'Hole punches that gave up' }),
        lastMs: components.metrics.registerMetric('kitsune_hole_punch_relayed_to_direct_ms', { help: 'ms from relayed to direct connection, last success' })
      }
    }
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(DCUTR_PROTOCOL, (stream, connection) => {
      this.handleIncoming(stream, connection).catch(err => {
        this.log.error('DCUtR responder error - %e', err)
      })
    }, { runOnLimitedConnection: true, maxInboundStreams: this.init.maxConcurrent, maxOutboundStreams: this.init.maxConcurrent })
    if (this.init.autoUpgrade) {
      this.topologyId = await this.components.registrar.register(DCUTR_PROTOCOL, {
        notifyOnLimitedConnection: true,
        onConnect: (peer, connection) => {
          if (!Circuit.exactMatch(connection.remoteAddr) || connection.direction !== 'inbound') {
            return
          }
          this.upgrade(connection).catch(err => {
            this.log.error('DCUtR initiator error - %e', err)
          })
        }
      })
    }
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    await this.components.registrar.unhandle(DCUTR_PROTOCOL)
    if (this.topologyId != null) {
      this.components.registrar.unregister(this.topologyId)
    }
  }

  private transport (): PunchTCP {
    const t = this.components.transportManager.getTransports().find(t => t[Symbol.toStringTag] === PUNCH_TCP_TAG)
    if (t == null) {
      throw new DCUtRProtocolError('no @kitsune/hole-punch punchTCP transport is configured')
    }
    return t as unknown as PunchTCP
  }

  /** Our candidate addresses for CONNECT */
  candidates (): Multiaddr[] {
    return this.transport().observed.getCandidates()
  }

  private dialable (bytes: Uint8Array[]): Multiaddr[] {
    const out: Multiaddr[] = []
    for (const b of bytes.slice(0, this.init.maxAddresses)) {
      try {
        const ma = multiaddr(b)
        if (TCPMatcher.exactMatch(ma) && this.policy.isPublic(ma)) {
          out.push(ma)
        }
      } catch {
        // not a multiaddr: skipped, as the spec allows
      }
    }
    return out
  }

  private hasDirect (peer: PeerId): Connection | undefined {
    return this.components.connectionManager.getConnections(peer).find(c => c.limits == null && c.status === 'open')
  }

  /**
   * Upgrades a relayed connection as the DCUtR initiator ("B"). Resolves
   * with the direct connection; rejects with {@link PunchFailedError} after
   * every attempt failed.
   */
  async upgrade (relayed: Connection, options: AbortOptions = {}): Promise<Connection> {
    const peer = relayed.remotePeer
    const key = peer.toString()
    if (this.running.has(key)) {
      throw new DCUtRProtocolError(`a hole punch with ${key} is already running`)
    }
    if (this.running.size >= this.init.maxConcurrent) {
      const reason = this.limitReason()
      this.safeDispatchEvent('punch:failed', { detail: { peer, reason, attempts: 0, role: 'initiator' } })
      throw new DCUtRProtocolError(reason)
    }
    this.running.add(key)
    let lastError: Error = new PunchFailedError('no attempt made')
    try {
      for (let attempt = 1; attempt <= this.init.attempts; attempt++) {
        const existing = this.hasDirect(peer)
        if (existing != null) {
          return existing
        }
        this.safeDispatchEvent('punch:start', { detail: { peer, role: 'initiator', attempt } })
        this.metrics?.attempts.increment()
        try {
          const conn = await this.initiatorAttempt(relayed, options)
          this.succeeded(relayed, conn, attempt, 'initiator')
          return conn
        } catch (err: any) {
          lastError = err
          this.log('attempt %d to %p failed - %e', attempt, peer, err)
          const direct = this.hasDirect(peer)
          if (direct != null) {
            return direct
          }
          if (err instanceof DCUtRProtocolError || relayed.status !== 'open' || options.signal?.aborted === true || this.shutdown.signal.aborted) {
            break
          }
        }
      }
      const reason = lastError.message
      this.metrics?.failures.increment()
      this.safeDispatchEvent('punch:failed', { detail: { peer, reason, attempts: this.init.attempts, role: 'initiator' } })
      throw new PunchFailedError(`hole punch with ${key} failed: ${reason}`, { cause: lastError })
    } finally {
      this.running.delete(key)
    }
  }

  private async initiatorAttempt (relayed: Connection, options: AbortOptions): Promise<Connection> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.messageTimeout + this.init.dialTimeout), this.shutdown.signal, ...(options.signal != null ? [options.signal] : [])])
    const stream = await relayed.newStream(DCUTR_PROTOCOL, { signal, runOnLimitedConnection: true })
    try {
      const pb = pbStream(stream, { maxDataLength: this.init.maxMessageSize }).pb(HolePunch)
      const start = Date.now()
      await pb.write({ type: HolePunch.Type.CONNECT, observedAddresses: this.candidates().map(a => a.bytes) }, { signal })
      const connect = await pb.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.messageTimeout)]), limits: { observedAddresses: this.init.maxAddresses } })
      const rtt = Date.now() - start
      if (connect.type !== HolePunch.Type.CONNECT) {
        throw new DCUtRProtocolError(`expected CONNECT, got ${connect.type ?? 'no type'}`)
      }
      const addrs = this.dialable(connect.observedAddresses)
      if (addrs.length === 0) {
        throw new DCUtRProtocolError('the other side sent no public TCP address to punch to')
      }
      await pb.write({ type: HolePunch.Type.SYNC, observedAddresses: [] }, { signal })
      this.log('rtt to %p over relay %d ms, dialing %a in %d ms', relayed.remotePeer, rtt, addrs, rtt / 2)
      return await this.dialAll(addrs, true, rtt / 2, signal)
    } finally {
      await stream.close().catch(() => { stream.abort(new Error('close failed')) })
    }
  }

  private async dialAll (addrs: Multiaddr[], initiator: boolean, delay: number, signal: AbortSignal): Promise<Connection> {
    if (addrs.length === 0) {
      throw new NoPunchAddressesError('no address to punch to')
    }
    const transport = this.transport()
    try {
      return await Promise.any(addrs.map(async a => transport.punch(a, { initiator, delay, timeout: this.init.dialTimeout, signal })))
    } catch (err: any) {
      const errs: any[] = err instanceof AggregateError ? err.errors : [err]
      throw new PunchFailedError(errs.map(e => e?.message ?? String(e)).join('; '))
    }
  }

  private limitReason (): string {
    return `too many concurrent hole punches (maxConcurrent ${this.init.maxConcurrent}, initiator and responder together)`
  }

  private async handleIncoming (stream: Stream, relayed: Connection): Promise<void> {
    const peer = relayed.remotePeer
    if (this.running.size >= this.init.maxConcurrent) {
      const reason = this.limitReason()
      stream.abort(new DCUtRProtocolError(reason))
      this.safeDispatchEvent('punch:failed', { detail: { peer, reason, attempts: 0, role: 'responder' } })
      return
    }
    const slot = `responder:${peer.toString()}:${++this.responderSeq}`
    this.running.add(slot)
    try {
      await this.respond(stream, relayed)
    } finally {
      this.running.delete(slot)
    }
  }

  private async respond (stream: Stream, relayed: Connection): Promise<void> {
    const peer = relayed.remotePeer
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.messageTimeout * 2 + this.init.dialTimeout), this.shutdown.signal])
    let addrs: Multiaddr[]
    try {
      if (!Circuit.exactMatch(relayed.remoteAddr)) {
        throw new DCUtRProtocolError('DCUtR is only run over relayed connections')
      }
      const pb = pbStream(stream, { maxDataLength: this.init.maxMessageSize }).pb(HolePunch)
      const connect = await pb.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.messageTimeout)]), limits: { observedAddresses: this.init.maxAddresses } })
      if (connect.type !== HolePunch.Type.CONNECT) {
        throw new DCUtRProtocolError(`expected CONNECT, got ${connect.type ?? 'no type'}`)
      }
      addrs = this.dialable(connect.observedAddresses)
      await pb.write({ type: HolePunch.Type.CONNECT, observedAddresses: this.candidates().map(a => a.bytes) }, { signal })
      let sync
      try {
        sync = await pb.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.messageTimeout)]) })
      } catch (err: any) {
        throw new DCUtRProtocolError(`no SYNC from ${peer.toString()}: ${err.message}`, { cause: err })
      }
      if (sync.type !== HolePunch.Type.SYNC) {
        throw new DCUtRProtocolError(`expected SYNC, got ${sync.type ?? 'no type'}`)
      }
      await stream.close({ signal }).catch(() => {})
    } catch (err: any) {
      stream.abort(err)
      const reason = err.name === 'DCUtRProtocolError' ? err.message : `DCUtR stream error: ${err.message}`
      this.safeDispatchEvent('punch:failed', { detail: { peer, reason, attempts: 0, role: 'responder' } })
      throw err
    }
    if (addrs.length === 0 || this.hasDirect(peer) != null) {
      return
    }
    this.safeDispatchEvent('punch:start', { detail: { peer, role: 'responder', attempt: 1 } })
    try {
      const conn = await this.dialAll(addrs, false, 0, signal)
      this.succeeded(relayed, conn, 1, 'responder')
    } catch (err: any) {
      if (this.hasDirect(peer) == null) {
        this.log('responder punch to %p failed - %e', peer, err)
        const n = (this.responderFailures.get(peer.toString()) ?? 0) + 1
        this.responderFailures.set(peer.toString(), n)
        if (n >= this.init.attempts) {
          this.responderFailures.delete(peer.toString())
          this.metrics?.failures.increment()
          this.safeDispatchEvent('punch:failed', { detail: { peer, reason: err.message, attempts: n, role: 'responder' } })
        }
      }
    }
  }

  private succeeded (relayed: Connection, conn: Connection, attempt: number, role: 'initiator' | 'responder'): void {
    const ms = Date.now() - relayed.timeline.open
    this.responderFailures.delete(conn.remotePeer.toString())
    this.metrics?.successes.increment({ tcp: true })
    this.metrics?.lastMs.update(ms)
    this.log('direct connection to %p via %a after %d ms (attempt %d)', conn.remotePeer, conn.remoteAddr, ms, attempt)
    this.safeDispatchEvent('punch:success', { detail: { peer: conn.remotePeer, connection: conn, transport: 'tcp', remoteAddr: conn.remoteAddr, ms, attempt, role } })
    if (this.init.closeRelayed && role === 'initiator') {
      relayed.close().catch(() => {})
    }
  }
}
