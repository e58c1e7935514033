import { keyOf } from './codec.ts'
import { PROBE_TIMEOUT } from './constants.ts'
import type { ProbeOptions } from './index.ts'
import type { MessageQueue } from './message-queue.ts'
import type { Counters } from './metrics.ts'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface ProbesInit {
  counters: Counters
  isStarted(): boolean
  /** Whether the peer may be probed (an upstream peer connected now) */
  canAsk(peer: PeerId): boolean
  /** The outbound queue to a peer, created if needed (undefined once stopped) */
  queue(peer: PeerId): MessageQueue | undefined
  /** The outbound queue to a peer if there is one */
  existingQueue(peer: PeerId): MessageQueue | undefined
  /** Whether a preload window now wants the block from upstream peers */
  windowWants(key: string): boolean
}

/**
 * `probe()`: asks upstream peers whether they hold a block and collects
 * their answers
 */
export class Probes {
  private readonly init: ProbesInit
  private readonly waiting = new Map<string, Set<Probe>>()

  constructor (init: ProbesInit) {
    this.init = init
  }

  async probe (cid: CID, peers: PeerId[], options: ProbeOptions = {}): Promise<PeerId[]> {
    const key = keyOf(cid)
    const asked = peers.filter(peer => this.init.canAsk(peer))
    if (!this.init.isStarted() || asked.length === 0) {
      return []
    }

    const probe = new Probe(asked)
    let probes = this.waiting.get(key)
    if (probes == null) {
      probes = new Set()
      this.waiting.set(key, probes)
    }
    probes.add(probe)
    this.init.counters.count('probes')

    for (const peer of asked) {
      this.init.queue(peer)?.want(key, cid, { wantType: 'have', priority: 1, sendDontHave: true })
    }

    const timer = setTimeout(() => { probe.finish() }, options.timeout ?? PROBE_TIMEOUT)
    const onAbort = (): void => { probe.finish() }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await probe.done
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      probes.delete(probe)
      if (probes.size === 0) {
        this.waiting.delete(key)
      }
      // the want-have leaves the peers' ledgers, unless a preload window
      // has since asked them for the same block
      if (!this.init.windowWants(key)) {
        for (const peer of asked) {
          this.init.existingQueue(peer)?.cancel(key, cid)
        }
      }
    }
    options.signal?.throwIfAborted()
    return probe.haves
  }

  /**
   * An upstream peer answered a want-have (a block counts as HAVE). Returns
   * whether any probe was waiting for it.
   */
  answer (peer: PeerId, key: string, have: boolean): boolean {
    const probes = this.waiting.get(key)
    if (probes == null) {
      return false
    }
    let answered = false
    for (const probe of probes) {
      answered = probe.answer(peer, have) || answered
    }
    return answered
  }

  /**
   * Ends every probe with the answers it has
   */
  finishAll (): void {
    for (const probes of this.waiting.values()) {
      for (const probe of probes) {
        probe.finish()
      }
    }
  }
}

/**
 * One `probe()`: the peers asked, and those that said HAVE
 */
class Probe {
  readonly haves: PeerId[] = []
  readonly done: Promise<void>
  private readonly waiting: Set<string>
  private resolve!: () => void

  constructor (asked: PeerId[]) {
    this.waiting = new Set(asked.map(peer => peer.toString()))
    this.done = new Promise(resolve => { this.resolve = resolve })
  }

  answer (peer: PeerId, have: boolean): boolean {
    if (!this.waiting.delete(peer.toString())) {
      return false
    }
    if (have) {
      this.haves.push(peer)
    }
    if (this.waiting.size === 0) {
      this.resolve()
    }
    return true
  }

  finish (): void {
    this.waiting.clear()
    this.resolve()
  }
}
