import { bytesToHex } from '@ethereumjs/util'
import { multiaddr } from '@multiformats/multiaddr'
import { MAX_ANNOUNCED_ADDRS } from './constants.ts'
import { decodeHeader } from './headers.ts'
import { Announce } from './pb/slice-sync.ts'
import { bitmapToSlices, positionOf, sliceCount, slicesToBitmap } from './slices.ts'
import { ACCEPT, IGNORE, REJECT } from './util.ts'
import type { DeltaValidator } from './deltas.ts'
import type { HeaderInfo } from './headers.ts'
import type { Announced, NodeState } from './node-state.ts'
import type { SliceSyncer, SyncerHooks } from './slice-syncer.ts'
import type { PeerId } from '@libp2p/interface'

/**
 * The gossipsub side: topics (announcements, headers, one delta topic per
 * group of slices), their validators, and this peer's announcements
 */
export class Gossip implements SyncerHooks {
  private readonly state: NodeState
  private readonly syncer: SliceSyncer
  private readonly deltas: DeltaValidator
  private readonly subscribed = new Set<string>()
  private announceTimer?: ReturnType<typeof setInterval>
  private readonly onMessage: (evt: any) => void

  constructor (state: NodeState, syncer: SliceSyncer, deltas: DeltaValidator) {
    this.state = state
    this.syncer = syncer
    this.deltas = deltas
    this.onMessage = (evt) => { this.handleMessage(evt.detail) }
  }

  topic (name: string): string {
    return `${this.state.topicPrefix}/${name}`
  }

  /** The topics whose validators this service sets */
  private topics (): string[] {
    return [this.topic('announce'), this.topic('headers'), ...Array.from({ length: 16 ** this.state.groupNibbles }, (_, g) => this.topic(`delta/${g}`))]
  }

  /** Sets the validators, subscribes and starts announcing (a no-op without pubsub) */
  start (): void {
    const pubsub = this.state.pubsub
    if (pubsub == null) {
      return
    }
    pubsub.addEventListener('message', this.onMessage)
    pubsub.topicValidators.set(this.topic('announce'), (peer, msg) => this.validateAnnounce(peer, msg))
    pubsub.topicValidators.set(this.topic('headers'), (peer, msg) => this.validateHeader(peer, msg))
    for (let g = 0; g < 16 ** this.state.groupNibbles; g++) {
      pubsub.topicValidators.set(this.topic(`delta/${g}`), async (peer, msg) => this.deltas.validate(peer, msg, g))
    }
    this.subscribe(this.topic('announce'))
    this.subscribe(this.topic('headers'))
    this.announceTimer = setInterval(() => {
      this.announce()
      this.expire()
    }, this.state.announceInterval)
  }

  stop (): void {
    clearInterval(this.announceTimer)
    const pubsub = this.state.pubsub
    if (pubsub == null) {
      return
    }
    pubsub.removeEventListener('message', this.onMessage)
    for (const topic of this.subscribed) {
      try {
        pubsub.unsubscribe(topic)
      } catch {
        // pubsub already stopped
      }
    }
    for (const topic of this.topics()) {
      pubsub.topicValidators.delete(topic)
    }
    this.subscribed.clear()
  }

  private subscribe (topic: string): void {
    const pubsub = this.state.pubsub
    if (pubsub == null || this.subscribed.has(topic)) {
      return
    }
    this.subscribed.add(topic)
    pubsub.subscribe(topic)
  }

  async publish (topic: string, data: Uint8Array): Promise<void> {
    try {
      await this.state.pubsub?.publish(topic, data)
    } catch (err: any) {
      this.state.log('publish on %s: %s', topic, err.message)
    }
  }

  /** Subscribes to the delta topics of the wanted slices */
  targetsChanged (): void {
    const state = this.state
    const groups = new Set<number>()
    for (const s of state.full ? [] : state.targets) {
      groups.add(state.groupOf(s))
    }
    for (const g of groups) {
      this.subscribe(this.topic(`delta/${g}`))
    }
    // groups no longer wanted: their deltas are no longer received
    for (let g = 0; g < 16 ** state.groupNibbles; g++) {
      const topic = this.topic(`delta/${g}`)
      if (!groups.has(g) && this.subscribed.has(topic)) {
        this.subscribed.delete(topic)
        try {
          state.pubsub?.unsubscribe(topic)
        } catch {
          // pubsub already stopped
        }
      }
    }
  }

  /**
   * Drops stale announcements (or a disconnected peer's); when one went,
   * the slices this peer takes on are worked out again
   */
  expire (gone?: PeerId): void {
    if (this.state.expirePeers(Date.now(), gone)) {
      this.syncer.recomputeTargets()
      this.syncer.scheduleSync()
    }
  }

  synced (): void {
    this.announce()
  }

  announce (): void {
    const state = this.state
    // a light peer (maxSlices 0) is not announced: nobody counts it as a holder
    if (!state.running || state.root == null || state.maxSlices === 0 || state.pubsub == null) {
      return
    }
    void this.publish(this.topic('announce'), Announce.encode({
      slices: slicesToBitmap(state.heldSlices(), state.sliceNibbles),
      root: state.root,
      full: state.full,
      sliceNibbles: state.sliceNibbles,
      addrs: (state.components.addressManager?.getAddresses() ?? []).slice(0, MAX_ANNOUNCED_ADDRS).map(a => a.bytes)
    } as Announce))
  }

  private handleMessage (message: any): void {
    const state = this.state
    if (message?.topic !== this.topic('announce') || message.type !== 'signed') {
      return
    }
    let announce: Announce
    try {
      announce = Announce.decode(message.data)
    } catch {
      return
    }
    const peer: PeerId = message.from
    if (state.isBad(peer) || peer.equals(state.components.peerId)) {
      return
    }
    const peerState = state.peer(peer)
    const known = peerState.announced
    const info: Announced = {
      slices: new Set(bitmapToSlices(announce.slices, state.sliceNibbles)),
      root: bytesToHex(announce.root),
      full: announce.full,
      position: positionOf(peer.toMultihash().bytes, state.sliceNibbles)
    }
    peerState.announced = info
    peerState.lastSeen = Date.now()
    if (!info.full) {
      // take on under-held slices once other peers' announcements had time
      // to arrive
      this.syncer.peerAnnounced()
    }
    if (known == null && announce.addrs.length > 0 && state.components.peerStore != null) {
      try {
        const multiaddrs = announce.addrs.slice(0, MAX_ANNOUNCED_ADDRS).map(a => multiaddr(a))
        void state.components.peerStore.merge(peer, { multiaddrs }).catch(() => {})
      } catch {
        // an unusable address: the peer is still known by id
      }
    }
    if (known == null || known.full !== info.full) {
      this.syncer.recomputeTargets()
    }
    if (known == null || known.root !== info.root || known.slices.size !== info.slices.size || this.syncer.storagePending) {
      this.syncer.scheduleSync()
    }
  }

  private validateAnnounce (peer: PeerId, message: any): any {
    const state = this.state
    try {
      const announce = Announce.decode(message.data)
      if (announce.sliceNibbles !== state.sliceNibbles || announce.root.length !== 32 ||
        announce.slices.length !== Math.ceil(sliceCount(state.sliceNibbles) / 8)) {
        return REJECT
      }
      return state.isBad(peer) ? IGNORE : ACCEPT
    } catch {
      return REJECT
    }
  }

  private validateHeader (peer: PeerId, message: any): any {
    const state = this.state
    let header: HeaderInfo
    try {
      header = decodeHeader(message.data)
    } catch {
      state.penalise(peer, 'malformed header', 'header')
      return REJECT
    }
    try {
      const verdict = state.chain.offer(header)
      if (verdict === 'accepted') {
        // a peer that holds no slice follows the head's state root
        if (!state.full && state.chain.head === header && state.targets.size === 0) {
          state.root = header.stateRoot
        }
        return ACCEPT
      }
      return IGNORE
    } catch (err: any) {
      state.penalise(peer, err.message, 'header')
      return REJECT
    }
  }
}
