/**
 * A STUN binding responder (RFC 5389 / 8489, the binding method only).
 *
 * Hand-written on purpose: the maintained-looking npm `stun` package (2.x)
 * pulls in `ip@1` (open SSRF advisories), `meow` and `parse-url` for a CLI
 * we do not run; what a relay needs is about sixty lines — read a binding
 * request, answer its source address as XOR-MAPPED-ADDRESS.
 */

import { createSocket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { DEFAULT_MAX_STUN_MESSAGE_SIZE, DEFAULT_STUN_RATE_LIMIT, STUN_ADDRESS_MAX_INBOUND_STREAMS, STUN_ADDRESS_PROTOCOL } from './constants.ts'
import { StunParseError } from './errors.ts'
import type { ComponentLogger, Counter, Logger, Metrics, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { Socket } from 'node:dgram'

export const STUN_MAGIC_COOKIE = 0x2112A442
export const STUN_BINDING_REQUEST = 0x0001
export const STUN_BINDING_SUCCESS = 0x0101
const ATTR_XOR_MAPPED_ADDRESS = 0x0020
const ATTR_SOFTWARE = 0x8022

/** A parsed STUN header */
export interface StunHeader { type: number, length: number, transactionId: Buffer }

/**
 * Parses a STUN message header; throws {@link StunParseError} for anything
 * that is not one
 */
export function parseStunHeader (msg: Buffer, maxSize = DEFAULT_MAX_STUN_MESSAGE_SIZE): StunHeader {
  if (msg.length < 20) {
    throw new StunParseError(`a STUN message has a 20-byte header, got ${msg.length} bytes`)
  }
  if (msg.length > maxSize) {
    throw new StunParseError(`STUN message of ${msg.length} bytes exceeds maxMessageSize ${maxSize}`)
  }
  if ((msg[0] & 0xc0) !== 0) {
    throw new StunParseError('the first two bits of a STUN message are zero')
  }
  const type = msg.readUInt16BE(0)
  const length = msg.readUInt16BE(2)
  if (msg.readUInt32BE(4) !== STUN_MAGIC_COOKIE) {
    throw new StunParseError('no STUN magic cookie')
  }
  if (length % 4 !== 0 || length + 20 !== msg.length) {
    throw new StunParseError(`STUN length ${length} does not match the ${msg.length - 20} bytes after the header`)
  }
  return { type, length, transactionId: msg.subarray(8, 20) }
}

/**
 * Builds a binding success response carrying XOR-MAPPED-ADDRESS
 */
export function bindingResponse (transactionId: Buffer, address: string, port: number): Buffer {
  const v4 = isIPv4(address)
  const addrLen = v4 ? 4 : 16
  const software = Buffer.from('kitsune')
  const softwarePadded = Buffer.alloc(Math.ceil(software.length / 4) * 4)
  software.copy(softwarePadded)
  const attrLen = 4 + addrLen
  const body = Buffer.alloc(4 + attrLen + 4 + softwarePadded.length)
  body.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, 0)
  body.writeUInt16BE(attrLen, 2)
  body.writeUInt8(0, 4)
  body.writeUInt8(v4 ? 0x01 : 0x02, 5)
  body.writeUInt16BE(port ^ (STUN_MAGIC_COOKIE >>> 16), 6)
  const key = Buffer.alloc(16)
  key.writeUInt32BE(STUN_MAGIC_COOKIE, 0)
  transactionId.copy(key, 4)
  const raw = v4 ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address)
  for (let i = 0; i < addrLen; i++) {
    body[8 + i] = raw[i] ^ key[i]
  }
  const off = 4 + attrLen
  body.writeUInt16BE(ATTR_SOFTWARE, off)
  body.writeUInt16BE(software.length, off + 2)
  softwarePadded.copy(body, off + 4)
  const header = Buffer.alloc(20)
  header.writeUInt16BE(STUN_BINDING_SUCCESS, 0)
  header.writeUInt16BE(body.length, 2)
  header.writeUInt32BE(STUN_MAGIC_COOKIE, 4)
  transactionId.copy(header, 8)
  return Buffer.concat([header, body])
}

function ipv6Bytes (address: string): Buffer {
  const [head, tail = ''] = address.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

export interface StunServerInit {
  /** `host:port` to listen on (UDP) */
  listen: string
  /**
   * The largest message read, in bytes
   *
   * @default 548
   */
  maxMessageSize?: number
  /**
   * Answers per second at most; requests above are dropped
   *
   * @default 200
   */
  rateLimit?: number
}

export interface StunServerComponents {
  logger: ComponentLogger
  /** When present, `kitsune_stun_*` counters are registered */
  metrics?: Metrics
  /** When present, the relay advertises its STUN address on `/kitsune/stun/1.0.0` */
  registrar?: Registrar
}

/**
 * What a {@link StunServer} has done since it was created
 */
export interface StunServerStats {
  /** Binding requests answered */
  answered: number
  /** Messages dropped as not STUN (bad header, cookie, length or size) */
  malformed: number
  /** Binding requests dropped by `rateLimit` */
  rateLimited: number
  /** Well-formed STUN messages that are not binding requests, dropped */
  ignored: number
}

/**
 * A STUN binding responder as a libp2p service, so a relay can serve as the
 * ICE server of the peers that use it
 */
export class StunServer implements Startable {
  readonly [Symbol.toStringTag] = '@kitsune/stun-server'
  private readonly init: Required<StunServerInit>
  private readonly log: Logger
  private readonly registrar?: Registrar
  private socket?: Socket
  private windowStart = 0
  private inWindow = 0
  private readonly counts: StunServerStats = { answered: 0, malformed: 0, rateLimited: 0, ignored: 0 }
  private readonly metrics?: Record<keyof StunServerStats, Counter>

  constructor (components: StunServerComponents, init: StunServerInit) {
    this.log = components.logger.forComponent('kitsune:hole-punch:stun')
    this.registrar = components.registrar
    if (components.metrics != null) {
      const m = components.metrics
      this.metrics = {
        answered: m.registerCounter('kitsune_stun_answered_total', { help: 'STUN binding requests answered' }),
        malformed: m.registerCounter('kitsune_stun_malformed_total', { help: 'Messages dropped as not STUN' }),
        rateLimited: m.registerCounter('kitsune_stun_rate_limited_total', { help: 'STUN binding requests dropped by the rate limit' }),
        ignored: m.registerCounter('kitsune_stun_ignored_total', { help: 'STUN messages that are not binding requests, dropped' })
      }
    }
    this.init = {
      listen: init.listen,
      maxMessageSize: init.maxMessageSize ?? DEFAULT_MAX_STUN_MESSAGE_SIZE,
      rateLimit: init.rateLimit ?? DEFAULT_STUN_RATE_LIMIT
    }
  }

  async start (): Promise<void> {
    const i = this.init.listen.lastIndexOf(':')
    const host = this.init.listen.slice(0, i).replace(/^\[|\]$/g, '')
    const port = Number(this.init.listen.slice(i + 1))
    const socket = this.socket = createSocket({ type: isIPv4(host) ? 'udp4' : 'udp6' })
    socket.on('message', (msg, rinfo) => { this.onMessage(msg, rinfo.address, rinfo.port) })
    socket.on('error', err => { this.log.error('stun socket error - %e', err) })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, host, () => {
        socket.removeListener('error', reject)
        resolve()
      })
    })
    await this.registrar?.handle(STUN_ADDRESS_PROTOCOL, async (stream) => {
      const a = socket.address()
      const wildcard = a.address === '0.0.0.0' || a.address === '::'
      stream.send(new TextEncoder().encode(JSON.stringify({ host: wildcard ? null : a.address, port: a.port })))
      await stream.close().catch(() => { stream.abort(new Error('close failed')) })
    }, { maxInboundStreams: STUN_ADDRESS_MAX_INBOUND_STREAMS, maxOutboundStreams: 1 })
  }

  async stop (): Promise<void> {
    await this.registrar?.unhandle(STUN_ADDRESS_PROTOCOL)
    const s = this.socket
    this.socket = undefined
    if (s != null) {
      await new Promise<void>(resolve => { s.close(() => { resolve() }) })
    }
  }

  /** What this responder has answered and dropped, by reason */
  stats (): StunServerStats {
    return { ...this.counts }
  }

  /** Messages dropped as malformed (the same as `stats().malformed`) */
  get malformed (): number {
    return this.counts.malformed
  }

  private count (what: keyof StunServerStats): void {
    this.counts[what]++
    this.metrics?.[what].increment()
  }

  /** The bound `host:port`, once started */
  get address (): string | undefined {
    const a = this.socket?.address()
    return a == null ? undefined : `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
  }

  private onMessage (msg: Buffer, address: string, port: number): void {
    let header: StunHeader
    try {
      header = parseStunHeader(msg, this.init.maxMessageSize)
    } catch (err: any) {
      this.count('malformed')
      this.log('dropping a message from %s:%d - %s', address, port, err.message)
      return
    }
    if (header.type !== STUN_BINDING_REQUEST) {
      this.count('ignored')
      return
    }
    const now = Date.now()
    if (now - this.windowStart >= 1000) {
      this.windowStart = now
      this.inWindow = 0
    }
    if (++this.inWindow > this.init.rateLimit) {
      this.count('rateLimited')
      return
    }
    this.count('answered')
    this.socket?.send(bindingResponse(header.transactionId, address, port), port, address)
  }
}
