import net from 'node:net'
import { AbortError, InvalidParametersError, TimeoutError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { getNetConfig } from '@libp2p/utils'
import { CODE_P2P } from '@multiformats/multiaddr'
import { TCP as TCPMatcher } from '@multiformats/multiaddr-matcher'
import { AddressPolicy } from '../address-policy.ts'
import { DEFAULT_MAX_PUNCH_CANDIDATES, DEFAULT_PUNCH_DIAL_TIMEOUT, DEFAULT_TCP_BACKLOG, DEFAULT_TCP_INACTIVITY_TIMEOUT, DEFAULT_TCP_MAX_CONNECTIONS, PUNCH_TCP_TAG } from '../constants.ts'
import { InvalidOptionError } from '../errors.ts'
import { PunchTCPListener } from './listener.ts'
import { ObservedAddresses } from './observed-addresses.ts'
import { SocketConnection } from './socket-to-conn.ts'
import { boundSocket, detectPunchSupport } from './support.ts'
import type { PunchSupport } from './support.ts'
import type { AbortOptions, ComponentLogger, Connection, CounterGroup, CreateListenerOptions, DialTransportOptions, Libp2pEvents, Listener, Logger, Metrics, Startable, Transport, TypedEventTarget, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * How the transport dials from its punch port
 *
 * - `reuse-port`: the listener and every outgoing socket share the punch
 * port (SO_REUSEPORT listener plus `net.BoundSocket` dials)
 * - `fixed-port`: dial-only fallback — ordinary dials use ephemeral ports,
 * punches dial from the fixed punch port (no listener may hold it) and the
 * candidate port is the punch port (works behind port-preserving NATs)
 * - `auto`: `reuse-port` where this Node.js supports it, else `fixed-port`
 */
export type PunchMode = 'auto' | 'reuse-port' | 'fixed-port'

export interface PunchTCPInit {
  /**
   * The punch mode
   *
   * @default 'auto'
   */
  mode?: PunchMode
  /**
   * The port punches are dialed from in `fixed-port` mode, and the port used
   * when no TCP listen address is configured in `reuse-port` mode (0 picks
   * one)
   *
   * @default 0
   */
  punchPort?: number
  /**
   * Address ranges that count as public (e.g. a lab's `198.18.0.0/15`)
   *
   * @default []
   */
  publicCidrs?: string[]
  /**
   * How long an ordinary dial may take, in ms
   *
   * @default 5000
   */
  dialTimeout?: number
  /**
   * Close sockets idle for this long, in ms
   *
   * @default 120000
   */
  inactivityTimeout?: number
  /**
   * The most sockets the listener accepts at once
   *
   * @default 1024
   */
  maxConnections?: number
  /**
   * The listen backlog
   *
   * @default 511
   */
  backlog?: number
  /**
   * The most candidate addresses (observed by other peers on punch-port
   * connections) kept for DCUtR; the least recently seen goes first
   *
   * @default 8
   */
  maxCandidates?: number
}

export interface PunchTCPComponents {
  logger: ComponentLogger
  metrics?: Metrics
  upgrader: Upgrader
  events: TypedEventTarget<Libp2pEvents>
}

/**
 * Options for one punch dial
 */
export interface PunchDialOptions extends AbortOptions {
  /**
   * Whether we are the initiator of the security handshake and multistream
   * select on the punched connection (the DCUtR initiator is)
   */
  initiator: boolean
  /** How long this punch dial may take, in ms */
  timeout?: number
  /**
   * Wait this long (ms) before sending our SYN; the punch is expected (an
   * arriving SYN is claimed) from the moment `punch` is called
   */
  delay?: number
}

interface Expected {
  initiator: boolean
  resolve(conn: Connection): void
  reject(err: Error): void
}

export { PUNCH_TCP_TAG }

function checkPositiveInteger (name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(`${name} must be an integer >= 1`)
  }
}

/**
 * A TCP transport that listens and dials from one port, so the NAT mapping a
 * relay observes is the one a hole punch uses
 */
export class PunchTCP implements Transport, Startable {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = PUNCH_TCP_TAG
  readonly [serviceCapabilities] = ['@libp2p/transport', '@kitsune/punch-transport']

  readonly support: PunchSupport
  readonly mode: 'reuse-port' | 'fixed-port'
  readonly observed: ObservedAddresses
  readonly policy: AddressPolicy
  private readonly components: PunchTCPComponents
  private readonly log: Logger
  private readonly init: Required<Omit<PunchTCPInit, 'mode' | 'publicCidrs'>>
  private readonly metrics?: { events: CounterGroup, errors: CounterGroup }
  private readonly listeners = new Set<PunchTCPListener>()
  private readonly expected = new Map<string, Expected>()
  private readonly punchConnections = new Set<string>()
  /** fixed-port mode: our ordinary outbound connections, whose observed IP (with the punch port) is a candidate */
  private readonly observedDials = new Set<string>()
  private readonly openSockets = new Set<net.Socket>()
  private boundHost = '0.0.0.0'
  private listenPort?: number

  constructor (components: PunchTCPComponents, init: PunchTCPInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('kitsune:hole-punch:tcp')
    this.support = detectPunchSupport()
    const mode = init.mode ?? 'auto'
    if (mode === 'reuse-port' && !(this.support.boundSocket && this.support.reusePortListen)) {
      throw new InvalidOptionError('mode reuse-port needs net.BoundSocket and reusePort listeners (recent Node.js 24)')
    }
    const autoMode = this.support.boundSocket && this.support.reusePortListen ? 'reuse-port' : 'fixed-port'
    this.mode = mode === 'auto' ? autoMode : mode
    this.init = {
      punchPort: init.punchPort ?? 0,
      dialTimeout: init.dialTimeout ?? DEFAULT_PUNCH_DIAL_TIMEOUT,
      inactivityTimeout: init.inactivityTimeout ?? DEFAULT_TCP_INACTIVITY_TIMEOUT,
      maxConnections: init.maxConnections ?? DEFAULT_TCP_MAX_CONNECTIONS,
      backlog: init.backlog ?? DEFAULT_TCP_BACKLOG,
      maxCandidates: init.maxCandidates ?? DEFAULT_MAX_PUNCH_CANDIDATES
    }
    checkPositiveInteger('maxCandidates', this.init.maxCandidates)
    if (this.mode === 'fixed-port' && (this.init.punchPort <= 0 || this.init.punchPort > 65535)) {
      const why = mode === 'auto' ? 'this Node.js has no net.BoundSocket or reusePort listeners, so mode auto falls back to fixed-port, which' : 'fixed-port mode'
      throw new InvalidOptionError(`${why} needs punchPort (1-65535)`)
    }
    this.policy = new AddressPolicy(init.publicCidrs)
    this.observed = new ObservedAddresses(components, {
      policy: this.policy,
      isPunchPortConnection: conn => this.punchConnections.has(conn.id) || this.observedDials.has(conn.id),
      fixedPort: this.mode === 'fixed-port' ? this.init.punchPort : undefined,
      maxCandidates: this.init.maxCandidates
    })
    if (components.metrics != null) {
      this.metrics = {
        events: components.metrics.registerCounterGroup('kitsune_hole_punch_tcp_dialer_events_total', { label: 'event', help: 'Punch TCP dialer events by type' }),
        errors: components.metrics.registerCounterGroup('kitsune_hole_punch_tcp_dialer_errors_total', { label: 'event', help: 'Punch TCP dialer errors by type' })
      }
    }
  }

  start (): void {
    this.observed.start()
  }

  stop (): void {
    this.observed.stop()
    for (const e of this.expected.values()) {
      e.reject(new AbortError('transport stopped'))
    }
    this.expected.clear()
    for (const s of this.openSockets) {
      s.destroy()
    }
  }

  /** The port dials and punches leave from (undefined until listening in reuse-port mode) */
  get punchPort (): number | undefined {
    return this.mode === 'fixed-port' ? this.init.punchPort : this.listenPort
  }

  /** Whether a connection was dialed from the punch port */
  isPunchPortConnection (connection: Connection): boolean {
    return this.punchConnections.has(connection.id)
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const fromPunchPort = this.mode === 'reuse-port' && this.listenPort != null
    const socket = await this.connect(ma, fromPunchPort, this.init.dialTimeout, options)
    const maConn = this.toConnection(socket, ma, fromPunchPort)
    try {
      const conn = await options.upgrader.upgradeOutbound(maConn, options)
      this.track(conn, fromPunchPort)
      if (this.mode === 'fixed-port') {
        // behind a port-preserving NAT the punch port maps to the same port
        // on the same public IP this connection is observed from
        this.observedDials.add(conn.id)
        conn.addEventListener('close', () => { this.observedDials.delete(conn.id) }, { once: true })
      }
      return conn
    } catch (err: any) {
      this.metrics?.errors.increment({ outbound_upgrade: true })
      maConn.abort(err)
      throw err
    }
  }

  /**
   * Dials `ma` from the punch port as part of a hole punch. The socket may
   * complete as a TCP simultaneous open (both sides outbound) or arrive on
   * our listener (the other side's SYN got through first); either way the
   * connection is upgraded with `options.initiator` as the security and
   * multistream role.
   */
  async punch (ma: Multiaddr, options: PunchDialOptions): Promise<Connection> {
    const { host, port } = getNetConfig(ma) as { host: string, port: number }
    const key = `${host}:${port}`
    const timeout = options.timeout ?? this.init.dialTimeout
    const controller = new AbortController()
    const signal = options.signal == null ? controller.signal : AbortSignal.any([controller.signal, options.signal])
    let settled = false
    let expected: Expected | undefined
    const viaListener = new Promise<Connection>((resolve, reject) => {
      expected = { initiator: options.initiator, resolve, reject }
      this.expected.set(key, expected)
    })
    const viaDial = (async () => {
      if (options.delay != null && options.delay > 0) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, options.delay)
          signal.addEventListener('abort', () => { clearTimeout(t); reject(new AbortError()) }, { once: true })
        })
      }
      const socket = await this.connect(ma, true, timeout, { signal }, true)
      if (settled) {
        socket.destroy()
        throw new AbortError('punched through the listener')
      }
      // our SYN made the connection: the listener half is over (else a
      // failed upgrade would leave the punch waiting for it forever)
      if (this.expected.get(key) === expected) {
        this.expected.delete(key)
      }
      expected?.reject(new AbortError('the dial connected first'))
      // the muxer takes its client/server role from the connection's
      // direction: in a simultaneous open that is the DCUtR role
      const maConn = this.toConnection(socket, ma, true, options.initiator ? 'outbound' : 'inbound')
      try {
        return await this.components.upgrader.upgradeOutbound(maConn, {
          initiator: options.initiator,
          signal: options.signal ?? AbortSignal.timeout(timeout * 2)
        })
      } catch (err: any) {
        maConn.abort(err)
        throw err
      }
    })()
    // when our dial fails the punch is over: stop expecting the other half —
    // unless the 4-tuple is taken (EADDRNOTAVAIL): then the other side's SYN
    // reached our listener first and its accept event is on its way
    const giveUp = (err: Error): void => {
      const e = this.expected.get(key)
      if (e != null) {
        this.expected.delete(key)
        e.reject(err)
      }
    }
    const listenerTimer = setTimeout(() => { giveUp(new TimeoutError(`no punched connection from ${key} within ${timeout} ms`)) }, timeout + (options.delay ?? 0))
    viaDial.catch((err: any) => {
      if (err?.cause?.code !== 'EADDRNOTAVAIL') {
        giveUp(err)
      }
    })
    try {
      const conn = await Promise.any([viaListener, viaDial])
      settled = true
      this.track(conn, true)
      this.metrics?.events.increment({ punch_success: true })
      return conn
    } catch (err: any) {
      this.metrics?.events.increment({ punch_failure: true })
      const first = err instanceof AggregateError ? err.errors.find((e: any) => e?.name !== 'AbortError') ?? err.errors[0] : err
      throw first
    } finally {
      settled = true
      clearTimeout(listenerTimer)
      controller.abort()
      const e = this.expected.get(key)
      this.expected.delete(key)
      e?.reject(new AbortError('punch over'))
    }
  }

  /**
   * Called by the listener for every accepted socket: when it is the
   * incoming half of a punch in progress, returns the role to upgrade with
   */
  claimPunchSocket (host: string, port: number): Expected | undefined {
    const key = `${host}:${port}`
    const e = this.expected.get(key)
    if (e != null) {
      this.expected.delete(key)
    }
    return e
  }

  private track (conn: Connection, fromPunchPort: boolean): void {
    if (!fromPunchPort) {
      return
    }
    this.punchConnections.add(conn.id)
    conn.addEventListener('close', () => { this.punchConnections.delete(conn.id) }, { once: true })
  }

  toConnection (socket: net.Socket, remoteAddr: Multiaddr | undefined, fromPunchPort: boolean, direction: 'inbound' | 'outbound' = 'outbound'): SocketConnection {
    return new SocketConnection({
      socket,
      direction,
      remoteAddr,
      inactivityTimeout: this.init.inactivityTimeout,
      metrics: this.metrics?.events,
      log: this.log.newScope('connection'),
      fromPunchPort
    })
  }

  private async connect (ma: Multiaddr, fromPunchPort: boolean, timeout: number, options: AbortOptions, punch = false): Promise<net.Socket> {
    options.signal?.throwIfAborted()
    const config = getNetConfig(ma)
    if (config.type !== 'ip4' && config.type !== 'ip6') {
      throw new InvalidParametersError(`${ma.toString()} is not a TCP address`)
    }
    const host = config.host
    const port = config.port as number
    let socket: net.Socket
    if (fromPunchPort && this.mode === 'reuse-port') {
      const bindHost = config.type === 'ip6' ? '::' : this.boundHost
      socket = boundSocket(bindHost, this.listenPort ?? 0)
      socket.connect({ host, port })
    } else if (punch && this.mode === 'fixed-port') {
      socket = net.connect({ host, port, localPort: this.init.punchPort })
    } else {
      socket = net.connect({ host, port })
    }
    socket.setNoDelay(true)
    socket.setKeepAlive(true)
    this.openSockets.add(socket)
    socket.once('close', () => { this.openSockets.delete(socket) })

    return new Promise<net.Socket>((resolve, reject) => {
      const start = Date.now()
      const timer = setTimeout(() => {
        this.metrics?.events.increment({ timeout: true })
        done(new TimeoutError(`connection to ${host}:${port} timed out after ${Date.now() - start} ms`))
      }, timeout)
      const onError = (err: Error): void => {
        this.metrics?.events.increment({ error: true })
        done(new Error(`connection error ${host}:${port}: ${err.message}`, { cause: err }))
      }
      const onConnect = (): void => {
        this.metrics?.events.increment({ connect: true })
        done()
      }
      const onAbort = (): void => {
        this.metrics?.events.increment({ abort: true })
        done(new AbortError())
      }
      const done = (err?: Error): void => {
        clearTimeout(timer)
        socket.removeListener('error', onError)
        socket.removeListener('connect', onConnect)
        options.signal?.removeEventListener('abort', onAbort)
        if (err != null) {
          socket.destroy()
          reject(err)
          return
        }
        resolve(socket)
      }
      socket.once('error', onError)
      socket.once('connect', onConnect)
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  createListener (options: CreateListenerOptions): Listener {
    const listener = new PunchTCPListener({
      transport: this,
      upgrader: options.upgrader,
      logger: this.components.logger,
      metrics: this.components.metrics,
      reusePort: this.mode === 'reuse-port',
      maxConnections: this.init.maxConnections,
      backlog: this.init.backlog,
      onListening: (host, port) => {
        if (this.listenPort == null) {
          this.listenPort = port
          this.boundHost = host
        }
      },
      onClose: port => {
        if (this.listenPort === port) {
          this.listenPort = undefined
        }
      }
    })
    this.listeners.add(listener)
    listener.addEventListener('close', () => this.listeners.delete(listener), { once: true })
    return listener
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => TCPMatcher.exactMatch(ma))
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => TCPMatcher.exactMatch(ma) || TCPMatcher.exactMatch(ma.decapsulateCode(CODE_P2P)))
  }
}
