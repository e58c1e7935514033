import { CODE_P2P, CODE_TCP } from '@multiformats/multiaddr'
import { TCP as TCPMatcher } from '@multiformats/multiaddr-matcher'
import { DEFAULT_MAX_PUNCH_CANDIDATES } from '../constants.ts'
import type { AddressPolicy } from '../address-policy.ts'
import type { ComponentLogger, Connection, IdentifyResult, Libp2pEvents, Logger, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ObservedAddressesInit {
  policy: AddressPolicy
  isPunchPortConnection(conn: Connection): boolean
  /** In fixed-port mode the candidate port is the punch port */
  fixedPort?: number
  /**
   * The most candidate addresses kept
   *
   * @default 8
   */
  maxCandidates?: number
}

interface Candidate {
  addr: Multiaddr
  observers: Set<string>
  lastSeen: number
}

/**
 * Tracks the addresses other peers observe for connections we dialed from
 * the punch port (identify's `observedAddr`): behind an endpoint-independent
 * NAT that is the public mapping a hole punch will reuse. Stock identify
 * drops observed TCP addresses (js-libp2p#2620); these are the DCUtR
 * candidates, available without waiting for AutoNAT.
 */
export class ObservedAddresses {
  private readonly events: TypedEventTarget<Libp2pEvents>
  private readonly init: ObservedAddressesInit
  private readonly log: Logger
  private readonly candidates = new Map<string, Candidate>()
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => { this.record(evt.detail) }

  constructor (components: { events: TypedEventTarget<Libp2pEvents>, logger: ComponentLogger }, init: ObservedAddressesInit) {
    this.events = components.events
    this.init = init
    this.log = components.logger.forComponent('kitsune:hole-punch:observed-addresses')
  }

  start (): void {
    this.events.addEventListener('peer:identify', this.onIdentify)
  }

  stop (): void {
    this.events.removeEventListener('peer:identify', this.onIdentify)
  }

  /** Records one observation (exposed for callers that run identify themselves) */
  record (result: Pick<IdentifyResult, 'observedAddr' | 'connection' | 'peerId'>): void {
    const observed = result.observedAddr
    if (observed == null || !this.init.isPunchPortConnection(result.connection)) {
      return
    }
    let addr = observed.decapsulateCode(CODE_P2P)
    if (!TCPMatcher.exactMatch(addr) || !this.init.policy.isPublic(addr)) {
      this.log.trace('ignoring observed address %a', observed)
      return
    }
    if (this.init.fixedPort != null) {
      addr = addr.decapsulateCode(CODE_TCP).encapsulate(`/tcp/${this.init.fixedPort}`)
    }
    const key = addr.toString()
    let c = this.candidates.get(key)
    if (c == null) {
      c = { addr, observers: new Set(), lastSeen: 0 }
      this.candidates.set(key, c)
      this.log('new punch candidate %a observed by %p', addr, result.peerId)
    }
    c.observers.add(result.peerId.toString())
    c.lastSeen = Date.now()
    const max = this.init.maxCandidates ?? DEFAULT_MAX_PUNCH_CANDIDATES
    if (this.candidates.size > max) {
      const oldest = [...this.candidates.entries()].sort((a, b) => a[1].lastSeen - b[1].lastSeen)[0]
      this.candidates.delete(oldest[0])
    }
  }

  /** Candidate public addresses, most observers first */
  getCandidates (): Multiaddr[] {
    return [...this.candidates.values()]
      .sort((a, b) => b.observers.size - a.observers.size || b.lastSeen - a.lastSeen)
      .map(c => c.addr)
  }
}
