import { serviceCapabilities } from '@libp2p/interface'
import { getNetConfig } from '@libp2p/utils'
import { STUN_ADDRESS_PROTOCOL } from './constants.ts'
import type { AbortOptions, ComponentLogger, Logger, PeerStore } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

export interface IceServersComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
  logger: ComponentLogger
}

export interface IceServersInit {
  /**
   * How long asking one relay for its STUN address may take, in ms
   *
   * @default 3000
   */
  timeout?: number
  /**
   * The most relays used as ICE servers
   *
   * @default 4
   */
  maxServers?: number
}

/** One ICE server entry, as RTCConfiguration wants it */
export interface IceServer { urls: string[] }

/**
 * ICE servers from the relays we are connected to: each relay that runs
 * {@link StunServer} answers `/kitsune/stun/1.0.0` with its STUN address.
 * Give `getIceServers()` to `@libp2p/webrtc`'s `rtcConfiguration` so WebRTC
 * never falls back to its default public STUN servers.
 */
export class IceServersFromRelays {
  readonly [Symbol.toStringTag] = '@kitsune/ice-servers'
  readonly [serviceCapabilities] = ['@kitsune/ice-servers']
  private readonly components: IceServersComponents
  private readonly log: Logger
  private readonly timeout: number
  private readonly maxServers: number

  constructor (components: IceServersComponents, init: IceServersInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('kitsune:hole-punch:ice-servers')
    this.timeout = init.timeout ?? 3_000
    this.maxServers = init.maxServers ?? 4
  }

  /** `stun:host:port` of up to `maxServers` connected relays (possibly none, never public defaults) */
  async getIceServers (options: AbortOptions = {}): Promise<IceServer[]> {
    const out = new Map<string, IceServer>()
    const conns = this.components.connectionManager.getConnections().filter(c => c.limits == null && c.status === 'open')
    await Promise.all(conns.map(async conn => {
      const peer = await this.components.peerStore.get(conn.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(STUN_ADDRESS_PROTOCOL) !== true || out.size >= this.maxServers) {
        return
      }
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), ...(options.signal != null ? [options.signal] : [])])
        const stream = await conn.newStream(STUN_ADDRESS_PROTOCOL, { signal })
        let text = ''
        for await (const chunk of stream) {
          text += new TextDecoder().decode(chunk.subarray())
          if (text.length > 256) {
            throw new Error('STUN address answer too long')
          }
        }
        const { host, port } = JSON.parse(text) as { host: string | null, port: number }
        const ip = host ?? getNetConfig(conn.remoteAddr).host
        if (Number.isInteger(port) && port > 0 && port < 65536 && typeof ip === 'string') {
          const url = `stun:${ip.includes(':') ? `[${ip}]` : ip}:${port}`
          out.set(url, { urls: [url] })
        }
      } catch (err: any) {
        this.log('no STUN address from %p - %e', conn.remotePeer, err)
      }
    }))
    return [...out.values()].slice(0, this.maxServers)
  }
}
