import { isIPv4 } from '@chainsafe/is-ip'
import { isPrivateIp } from '@libp2p/utils'
import { CODE_IP4, CODE_IP6 } from '@multiformats/multiaddr'
import { InvalidOptionError } from './errors.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

function ipv4ToInt (ip: string): number {
  return ip.split('.').reduce((acc, part) => (acc * 256) + Number(part), 0)
}

function ipOf (ma: Multiaddr): string | undefined {
  return ma.getComponents().find(c => c.code === CODE_IP4 || c.code === CODE_IP6)?.value
}

interface Cidr { base: number, mask: number, text: string }

/**
 * Parses an IPv4 CIDR such as `198.18.0.0/15`
 */
export function parseCidr (text: string): Cidr {
  const [ip, bitsText] = text.split('/')
  const bits = Number(bitsText ?? '32')
  if (!isIPv4(ip) || !Number.isInteger(bits) || bits < 0 || bits > 32) {
    throw new InvalidOptionError(`${text} is not an IPv4 CIDR (a.b.c.d/n)`)
  }
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  return { base: (ipv4ToInt(ip) & mask) >>> 0, mask, text }
}

/**
 * Decides which addresses count as public. Addresses in a `publicCidrs` range
 * are public even where the usual rules call them private — how a lab or a
 * private network declares its "internet".
 */
export class AddressPolicy {
  private readonly cidrs: Cidr[]

  constructor (publicCidrs: string[] = []) {
    this.cidrs = publicCidrs.map(parseCidr)
  }

  /** Whether an IP address is public under this policy */
  isPublicIp (ip: string): boolean {
    if (isIPv4(ip)) {
      const n = ipv4ToInt(ip)
      if (this.cidrs.some(c => ((n & c.mask) >>> 0) === c.base)) {
        return true
      }
    }
    const priv = isPrivateIp(ip)
    return priv === false
  }

  /** Whether a multiaddr's IP is public under this policy */
  isPublic (ma: Multiaddr): boolean {
    const ip = ipOf(ma)
    return ip != null && this.isPublicIp(ip)
  }

  /** Whether public ranges were declared (`publicCidrs` not empty) */
  get declaresPublicRanges (): boolean {
    return this.cidrs.length > 0
  }

  /**
   * Whether a node may dial `ma`: addresses without an IP (circuit, DNS)
   * always; otherwise addresses this policy calls public and the hosts of
   * `explicit` (what the user configured: bootstrap, announce). Without
   * declared public ranges loopback stays dialable too (a one-machine
   * setup); with them, the loopback and private addresses other peers
   * announce are never dialed — they are the dialer's own machine or LAN,
   * not the other peer.
   */
  allowsDial (ma: Multiaddr, explicit: Multiaddr[] = []): boolean {
    const ip = ipOf(ma)
    if (ip == null) {
      return true
    }
    if (this.isPublicIp(ip) || explicit.some(e => ipOf(e) === ip)) {
      return true
    }
    return !this.declaresPublicRanges && (ip.startsWith('127.') || ip === '::1')
  }

  /**
   * Keeps the addresses {@link allowsDial} allows (for DCUtR candidates and
   * dial lists)
   */
  filterDialable (addrs: Multiaddr[], explicit: Multiaddr[] = []): Multiaddr[] {
    return addrs.filter(a => this.allowsDial(a, explicit))
  }

  /** The network of an IP address (for "prefer relays in different networks") */
  networkOf (ip: string, prefixV4: number): string {
    if (isIPv4(ip)) {
      const mask = prefixV4 === 0 ? 0 : (0xffffffff << (32 - prefixV4)) >>> 0
      return `${((ipv4ToInt(ip) & mask) >>> 0).toString(16)}/${prefixV4}`
    }
    return ip.split(':').slice(0, 3).join(':') + '::/48'
  }
}
