import net from 'node:net'
import { AlreadyStartedError } from '@libp2p/interface'
import { getNetConfig, getThinWaistAddresses, ipPortToMultiaddr } from '@libp2p/utils'
import { TypedEventEmitter } from 'main-event'
import type { PunchTCP } from './punch-tcp.ts'
import type { ComponentLogger, Listener, ListenerEvents, Logger, Metrics, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface PunchTCPListenerInit {
  transport: PunchTCP
  upgrader: Upgrader
  logger: ComponentLogger
  metrics?: Metrics
  reusePort: boolean
  maxConnections: number
  backlog: number
  onListening(host: string, port: number): void
  onClose(port: number): void
}

/**
 * A TCP listener on the punch port (SO_REUSEPORT, so dials can share it)
 */
export class PunchTCPListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly init: PunchTCPListenerInit
  private readonly server: net.Server
  private readonly sockets = new Set<net.Socket>()
  private readonly log: Logger
  private readonly shutdown = new AbortController()
  private listeningAddr?: Multiaddr
  private port?: number

  constructor (init: PunchTCPListenerInit) {
    super()
    this.init = init
    this.log = init.logger.forComponent('kitsune:hole-punch:tcp:listener')
    this.server = net.createServer({ noDelay: true, keepAlive: true }, socket => { this.onSocket(socket) })
    this.server.maxConnections = init.maxConnections
    this.server.on('error', err => { this.safeDispatchEvent('error', { detail: err }) })
    this.server.on('close', () => {
      if (this.port != null) {
        init.onClose(this.port)
      }
      this.safeDispatchEvent('close')
    })
  }

  private onSocket (socket: net.Socket): void {
    if (socket.remoteAddress == null || socket.remotePort == null) {
      socket.destroy()
      return
    }
    const remoteAddr = ipPortToMultiaddr(socket.remoteAddress, socket.remotePort)
    const punch = this.init.transport.claimPunchSocket(socket.remoteAddress.replace(/^::ffff:/, ''), socket.remotePort)
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    // a punched socket takes the DCUtR role as its direction (the muxer's role)
    const maConn = this.init.transport.toConnection(socket, remoteAddr, punch != null, punch?.initiator === true ? 'outbound' : 'inbound')
    if (punch != null) {
      // the other side's SYN reached our listener first: this is the punched
      // connection, upgraded with the role DCUtR gave us
      this.log('punched connection arrived on the listener from %a', remoteAddr)
      this.init.upgrader.upgradeOutbound(maConn, { initiator: punch.initiator, signal: this.init.upgrader.createInboundAbortSignal(this.shutdown.signal) })
        .then(conn => { punch.resolve(conn) })
        .catch(err => {
          maConn.abort(err)
          punch.reject(err)
        })
      return
    }
    this.init.upgrader.upgradeInbound(maConn, { signal: this.shutdown.signal })
      .catch(err => {
        this.log.error('inbound upgrade failed - %e', err)
        maConn.abort(err)
      })
  }

  getAddrs (): Multiaddr[] {
    if (this.listeningAddr == null || this.port == null) {
      return []
    }
    return getThinWaistAddresses(this.listeningAddr, this.port)
  }

  updateAnnounceAddrs (): void {}

  async listen (ma: Multiaddr): Promise<void> {
    if (this.server.listening) {
      throw new AlreadyStartedError('already listening')
    }
    const config = getNetConfig(ma)
    const host = config.host
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ host, port: config.port, reusePort: this.init.reusePort, backlog: this.init.backlog, ipv6Only: config.type === 'ip6' }, () => {
        this.server.removeListener('error', reject)
        resolve()
      })
    })
    const address = this.server.address() as net.AddressInfo
    this.port = address.port
    this.listeningAddr = ma
    this.init.onListening(host, address.port)
    this.log('listening on %s:%d', host, address.port)
    this.safeDispatchEvent('listening')
  }

  async close (): Promise<void> {
    this.shutdown.abort()
    const closed = this.server.listening ? new Promise<void>(resolve => this.server.close(() => { resolve() })) : Promise.resolve()
    for (const s of this.sockets) {
      s.destroy()
    }
    await closed
  }
}
