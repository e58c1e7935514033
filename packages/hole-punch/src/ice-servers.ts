import { serviceCapabilities } from '@libp2p/interface'
import { getNetConfig } from '@libp2p/utils'
import { MAX_STUN_ADDRESS_ANSWER_SIZE, STUN_ADDRESS_PROTOCOL } from './constants.ts'
import type { AbortOptions, ComponentLogger, Logger, PeerStore, Stream } from '@libp2p/interface'
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

/**
 * Reads the relay's one-JSON-object answer. Not `for await (… of stream)`:
 * the relay sends its answer and closes at once, so the data and the remote
 * close can arrive while multistream-select is still finishing, and an
 * iterator started after that never ends (seen in the NAT lab: every WebRTC
 * dial hung here, before signalling). Done as soon as the bytes parse, or
 * when the remote end closes, or when `signal` aborts (the stream is aborted).
 */
async function readAnswer (stream: Stream, signal: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = ''
    const done = (err?: Error): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('remoteCloseWrite', onEnd)
      stream.removeEventListener('close', onEnd)
      signal.removeEventListener('abort', onAbort)
      if (err != null) {
        stream.abort(err)
        reject(err)
        return
      }
      stream.close().catch(() => {})
      resolve(text)
    }
    const complete = (): boolean => {
      try {
        JSON.parse(text)
        return true
      } catch {
        return false
      }
    }
    const onMessage = (evt: { data: { subarray(): Uint8Array } }): void => {
      text += new TextDecoder().decode(evt.data.subarray())
      if (text.length > MAX_STUN_ADDRESS_ANSWER_SIZE) {
        done(new Error('STUN address answer too long'))
      } else if (complete()) {
        done()
      }
    }
    const onEnd = (): void => {
      if (complete()) {
        done()
      } else {
        done(new Error('the relay closed the stream without a STUN address'))
      }
    }
    const onAbort = (): void => { done(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
    if (signal.aborted) {
      onAbort()
      return
    }
    stream.addEventListener('message', onMessage as any)
    stream.addEventListener('remoteCloseWrite', onEnd)
    stream.addEventListener('close', onEnd)
    signal.addEventListener('abort', onAbort, { once: true })
  })
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
        const text = await readAnswer(stream, signal)
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
