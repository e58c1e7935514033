import { PeerMap } from '@libp2p/peer-collections'
import type { BitswapVersion, Want } from './codec.ts'
import type { MessageQueue } from './message-queue.ts'
import type { PeerLedger } from './peer-ledger.ts'
import type { PeerId, Stream } from '@libp2p/interface'
import type { LRUCache } from 'lru-cache'

/**
 * Everything the forwarder holds for one connected peer, upstream or
 * downstream. A peer that disconnects is forgotten by dropping this one
 * object (after its wants have been cancelled and its queue aborted).
 */
export interface PeerState {
  readonly peer: PeerId
  readonly key: string
  /** Inbound Bitswap streams open now */
  readonly inbound: Set<Stream>
  /** Bytes of incomplete messages buffered from its streams */
  frameBytes: number
  /** The version the peer used first, offered first when we open a stream */
  version?: BitswapVersion
  /** Everything we have to say to the peer */
  queue?: MessageQueue
  /** An upstream peer's wants, routed to downstreams */
  ledger?: PeerLedger
  /** A downstream's wants that passed a preload window, routed to upstream peers */
  windowLedger?: PeerLedger
  /** A downstream's newest wants dropped by the one-way rule, for windows opened later */
  droppedWants?: LRUCache<string, Want>
}

/**
 * The state of every peer the forwarder deals with, one entry per peer
 */
export class PeerStates {
  private readonly peers = new PeerMap<PeerState>()

  get size (): number {
    return this.peers.size
  }

  get (peer: PeerId): PeerState | undefined {
    return this.peers.get(peer)
  }

  getOrCreate (peer: PeerId): PeerState {
    let state = this.peers.get(peer)
    if (state == null) {
      state = { peer, key: peer.toString(), inbound: new Set(), frameBytes: 0 }
      this.peers.set(peer, state)
    }
    return state
  }

  delete (peer: PeerId): void {
    this.peers.delete(peer)
  }

  values (): IterableIterator<PeerState> {
    return this.peers.values()
  }

  clear (): void {
    this.peers.clear()
  }

  /**
   * How many peers have this field set (for metrics and stats)
   */
  count (field: 'queue' | 'ledger'): number {
    let count = 0
    for (const state of this.peers.values()) {
      if (state[field] != null) {
        count++
      }
    }
    return count
  }
}
