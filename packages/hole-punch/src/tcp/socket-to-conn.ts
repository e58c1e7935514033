import { TimeoutError } from '@libp2p/interface'
import { AbstractMultiaddrConnection, ipPortToMultiaddr } from '@libp2p/utils'
import type { AbortOptions, CounterGroup, Logger, MessageStreamDirection } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Socket } from 'node:net'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface SocketConnectionInit {
  socket: Socket
  direction: MessageStreamDirection
  remoteAddr?: Multiaddr
  localAddr?: Multiaddr
  inactivityTimeout: number
  metrics?: CounterGroup
  metricPrefix?: string
  log: Logger
  /** Whether the socket was bound to the punch port */
  fromPunchPort: boolean
}

/**
 * A TCP socket as a libp2p MultiaddrConnection
 */
export class SocketConnection extends AbstractMultiaddrConnection {
  readonly socket: Socket
  readonly fromPunchPort: boolean

  constructor (init: SocketConnectionInit) {
    const remoteAddr = init.remoteAddr ?? ipPortToMultiaddr(init.socket.remoteAddress ?? '0.0.0.0', init.socket.remotePort ?? 0)
    super({ ...init, remoteAddr })
    this.socket = init.socket
    this.fromPunchPort = init.fromPunchPort

    this.socket.on('data', buf => { this.onData(buf) })
    this.socket.on('error', err => {
      this.log('tcp error %a - %e', remoteAddr, err)
      this.abort(err)
    })
    this.socket.setTimeout(init.inactivityTimeout)
    this.socket.once('timeout', () => {
      this.abort(new TimeoutError('TCP socket inactive'))
    })
    this.socket.once('end', () => { this.onTransportClosed() })
    this.socket.once('close', hadError => {
      if (hadError) {
        this.abort(new Error('TCP transmission error'))
        return
      }
      this.onTransportClosed()
    })
    this.socket.on('drain', () => { this.safeDispatchEvent('drain') })
  }

  sendData (data: Uint8ArrayList): SendResult {
    let sentBytes = 0
    let canSendMore = true
    for (const buf of data) {
      sentBytes += buf.byteLength
      canSendMore = this.socket.write(buf)
      if (!canSendMore) {
        break
      }
    }
    return { sentBytes, canSendMore }
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    if (this.socket.destroyed) {
      return
    }
    const closed = new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(options?.signal?.reason ?? new Error('aborted')) }
      this.socket.once('close', () => {
        options?.signal?.removeEventListener('abort', onAbort)
        resolve()
      })
      options?.signal?.addEventListener('abort', onAbort, { once: true })
    })
    this.socket.destroySoon()
    await closed
  }

  sendReset (): void {
    if (this.socket.writableEnded || this.socket.destroyed) {
      this.socket.destroy()
      return
    }
    this.socket.resetAndDestroy()
  }

  sendPause (): void {
    this.socket.pause()
  }

  sendResume (): void {
    this.socket.resume()
  }
}
