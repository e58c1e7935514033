import { LRUCache } from 'lru-cache'
import { Window } from './preload-window.ts'
import type { DecodedMessage, Want } from './codec.ts'
import type { Ledgers } from './ledgers.ts'
import type { Counters } from './metrics.ts'
import type { Options } from './options.ts'
import type { PeerState, PeerStates } from './peer-state.ts'
import type { PreloadWindow, PreloadWindowInit } from './preload-window.ts'
import type { WantRouter } from './want-router.ts'
import type { Logger, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface PreloadWindowsInit {
  options: Pick<Options, 'windowTimeout' | 'droppedWantsPerDownstream'>
  peers: PeerStates
  ledgers: Ledgers
  counters: Counters
  log: Logger
  /** The router of downstream wants to upstream peers */
  reverse(): WantRouter
}

/**
 * The one-way rule and its exceptions: wants that downstreams send are
 * dropped (and the newest remembered), except those an open preload window
 * covers, which go into the downstream's window ledger and from there to the
 * window's upstream peers. Blocks those peers send back count against the
 * windows' budgets.
 */
export class PreloadWindows {
  private readonly init: PreloadWindowsInit
  private readonly open = new Set<Window>()
  private ids = 0

  constructor (init: PreloadWindowsInit) {
    this.init = init
  }

  get size (): number {
    return this.open.size
  }

  list (): PreloadWindow[] {
    return [...this.open]
  }

  openWindow (init: PreloadWindowInit): PreloadWindow {
    const window = new Window(++this.ids, init, this.init.options.windowTimeout, (closed) => { this.closed(closed) })
    this.open.add(window)
    this.init.log('preload window %d opened for %s, %d upstream peers', window.id, init.root?.toString() ?? 'any CID', window.upstreams.length)
    this.replayDroppedWants(window)
    return window
  }

  closeAll (): void {
    for (const window of [...this.open]) {
      window.close('stopped')
    }
  }

  /**
   * The upstream peers of every open window that covers a downstream's want
   */
  upstreamsFor (downstream: PeerId, cid: CID): PeerId[] {
    const upstreams = new Map<string, PeerId>()
    for (const window of this.open) {
      if (window.covers(downstream, cid)) {
        for (const peer of window.upstreams) {
          upstreams.set(peer.toString(), peer)
        }
      }
    }
    return [...upstreams.values()]
  }

  /**
   * Wants a downstream sends: dropped (one-way), except those an open
   * preload window covers, which go to the window's upstream peers
   */
  downstreamWants (state: PeerState, message: DecodedMessage): void {
    const passed: Want[] = []
    const dropped = this.droppedWantsOf(state, message.full)
    for (const want of message.wants) {
      dropped.delete(want.key)
      if (want.cancel) {
        passed.push(want)
        continue
      }
      let covered = false
      for (const window of this.open) {
        if (window.covers(state.peer, want.cid)) {
          covered = true
          window.wantsPassed++
        }
      }
      if (!covered) {
        this.init.counters.count('downstreamWantsDropped')
        dropped.set(want.key, want)
        continue
      }
      this.init.counters.count('windowWantsPassed')
      passed.push(want)
    }

    if (passed.length === 0 && !message.full) {
      return
    }
    if (passed.every(want => want.cancel) && state.windowLedger == null) {
      return
    }
    const ledgers = this.init.ledgers
    ledgers.apply(ledgers.ledgerFor(state, 'downstream'), { full: message.full, wants: passed })
  }

  /**
   * A block from an upstream peer that a preload window asked for counts
   * against the window's budgets (only while a downstream still waits for
   * it, so copies from several upstream peers count once). Returns false
   * when a budget refuses it: the block is dropped and the window closes.
   */
  admit (peer: PeerId, key: string, cid: CID, data: Uint8Array): boolean {
    if (this.open.size === 0 || !this.init.reverse().has(key)) {
      return true
    }
    let expected = false
    let admitted = false
    for (const window of this.open) {
      if (window.expects(peer, cid)) {
        expected = true
        admitted = window.admit(cid, data) || admitted
      }
    }
    if (!expected) {
      return true
    }
    if (admitted) {
      this.init.counters.count('windowBlocksPassed')
    } else {
      this.init.counters.count('windowBlocksRefused')
    }
    return admitted
  }

  /**
   * The newest dropped wants of a downstream (a full wantlist starts over)
   */
  private droppedWantsOf (state: PeerState, full: boolean): LRUCache<string, Want> {
    if (state.droppedWants == null || full) {
      state.droppedWants = new LRUCache({ max: this.init.options.droppedWantsPerDownstream })
    }
    return state.droppedWants
  }

  /**
   * Passes the dropped downstream wants that a new window covers: they were
   * sent before the window opened, and a downstream does not send them again
   */
  private replayDroppedWants (window: Window): void {
    for (const state of this.init.peers.values()) {
      const dropped = state.droppedWants
      if (dropped == null) {
        continue
      }
      const covered = [...dropped.values()].filter(want => window.covers(state.peer, want.cid))
      if (covered.length === 0) {
        continue
      }
      for (const want of covered) {
        dropped.delete(want.key)
      }
      window.wantsPassed += covered.length
      this.init.counters.count('windowWantsPassed', covered.length)
      this.init.log('preload window %d passes %d earlier wants of %p', window.id, covered.length, state.peer)
      const ledgers = this.init.ledgers
      ledgers.apply(ledgers.ledgerFor(state, 'downstream'), { full: false, wants: covered })
    }
  }

  /**
   * Wants the closed window let through that no other open window covers
   * are cancelled at the upstream peers
   */
  private closed (window: Window): void {
    this.open.delete(window)
    this.init.log('preload window %d closed after passing %d wants', window.id, window.wantsPassed)
    for (const state of [...this.init.peers.values()]) {
      const ledger = state.windowLedger
      if (ledger == null) {
        continue
      }
      for (const entry of [...ledger.entries.values()]) {
        if (![...this.open].some(open => open.covers(ledger.peer, entry.cid))) {
          this.init.ledgers.remove(ledger, entry.key)
        }
      }
      if (ledger.size === 0) {
        state.windowLedger = undefined
      }
    }
  }
}
