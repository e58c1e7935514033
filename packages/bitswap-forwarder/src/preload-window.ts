import { PeerSet } from '@libp2p/peer-collections'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * Opens a preload window: an exception to the one-way rule.
 *
 * Normally wants that downstreams send to the proxy are dropped. While a
 * window is open, a downstream's wants that the window covers are passed to
 * the window's upstream peers (as if the proxy wanted the blocks itself), and
 * the blocks and presences those peers send back are verified and routed to
 * the downstreams that want them. This is how a browser that added content
 * and called the proxy's preload endpoint gets its blocks onto a downstream.
 */
export interface PreloadWindowInit {
  /**
   * The upstream peers that may be asked for blocks. Only those connected to
   * the proxy are asked; all of them at once.
   */
  upstreams: PeerId[]
  /**
   * The downstreams whose wants pass. Every downstream when omitted.
   */
  downstreams?: PeerId[]
  /**
   * The DAG being preloaded. Informational (logs and `windows()`): the
   * forwarder does not decode blocks, so it cannot tell which CIDs belong to
   * the DAG; use `filter` to narrow the window.
   */
  root?: CID
  /**
   * Which wanted CIDs pass. Every CID when omitted.
   */
  filter?(cid: CID): boolean
  /**
   * Called with every verified block an upstream peer sends through the
   * window, before it is passed on: the place to learn a DAG's links and
   * widen `filter` as the DAG is discovered
   */
  onBlock?(cid: CID, block: Uint8Array): void
  /**
   * Blocks the window may pass; the block that would exceed it is dropped and
   * the window closes
   *
   * @default Infinity
   */
  maxBlocks?: number
  /**
   * Block bytes the window may pass; the block that would exceed it is
   * dropped and the window closes
   *
   * @default Infinity
   */
  maxBytes?: number
  /**
   * Close the window after this many ms
   *
   * @default 60000
   */
  timeout?: number
  /**
   * Close the window when this signal aborts
   */
  signal?: AbortSignal
  /**
   * Called once when the window closes, with the reason
   */
  onClose?(reason: WindowCloseReason): void
}

/**
 * Why a window closed: `'closed'` (by `close()` or the signal), `'timeout'`,
 * `'budget'` (`maxBlocks` or `maxBytes` reached) or `'stopped'` (the
 * forwarder stopped)
 */
export type WindowCloseReason = 'closed' | 'timeout' | 'budget' | 'stopped'

/**
 * An open preload window
 */
export interface PreloadWindow {
  readonly id: number
  readonly root?: CID
  /** Downstream wants passed to upstream peers through this window */
  readonly wantsPassed: number
  /** Blocks from upstream peers passed on through this window */
  readonly blocksPassed: number
  /** Bytes of those blocks */
  readonly bytesPassed: number
  readonly closed: boolean
  /** Why the window closed */
  readonly closeReason?: WindowCloseReason
  /**
   * Closes the window. Wants it let through that no other open window
   * covers are cancelled at the upstream peers.
   */
  close(): void
}

/**
 * A window as the forwarder keeps it
 */
export class Window implements PreloadWindow {
  readonly id: number
  readonly root?: CID
  readonly upstreams: PeerId[]
  wantsPassed = 0
  blocksPassed = 0
  bytesPassed = 0
  closed = false
  closeReason?: WindowCloseReason
  private readonly notifyClose?: (reason: WindowCloseReason) => void
  private readonly upstreamSet: PeerSet
  private readonly downstreams?: PeerSet
  private readonly filter?: (cid: CID) => boolean
  private readonly onBlock?: (cid: CID, block: Uint8Array) => void
  private readonly maxBlocks: number
  private readonly maxBytes: number
  private readonly onTimeout: () => void
  private readonly timer: ReturnType<typeof setTimeout>
  private readonly onClose: (window: Window) => void
  private readonly signal?: AbortSignal
  private readonly onAbort: () => void

  constructor (id: number, init: PreloadWindowInit, timeout: number, onClose: (window: Window) => void) {
    this.id = id
    this.root = init.root
    this.upstreams = [...init.upstreams]
    this.upstreamSet = new PeerSet(init.upstreams)
    this.downstreams = init.downstreams == null ? undefined : new PeerSet(init.downstreams)
    this.filter = init.filter
    this.onBlock = init.onBlock
    this.notifyClose = init.onClose
    this.maxBlocks = init.maxBlocks ?? Infinity
    this.maxBytes = init.maxBytes ?? Infinity
    this.onClose = onClose
    this.onAbort = () => { this.close() }
    this.onTimeout = () => { this.close('timeout') }
    this.timer = setTimeout(this.onTimeout, init.timeout ?? timeout)
    this.timer.unref?.()
    this.signal = init.signal
    this.signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  covers (downstream: PeerId, cid: CID): boolean {
    if (this.closed) {
      return false
    }
    if (this.downstreams != null && !this.downstreams.has(downstream)) {
      return false
    }
    return this.filter?.(cid) ?? true
  }

  /**
   * Whether a block from an upstream peer is one this window asked for
   */
  expects (upstream: PeerId, cid: CID): boolean {
    return !this.closed && this.upstreamSet.has(upstream) && (this.filter?.(cid) ?? true)
  }

  /**
   * Counts a block against the budgets. Returns false, and closes the
   * window, when the block would exceed one.
   */
  admit (cid: CID, block: Uint8Array): boolean {
    if (this.blocksPassed + 1 > this.maxBlocks || this.bytesPassed + block.byteLength > this.maxBytes) {
      this.close('budget')
      return false
    }
    this.blocksPassed++
    this.bytesPassed += block.byteLength
    this.onBlock?.(cid, block)
    return true
  }

  close (reason: WindowCloseReason = 'closed'): void {
    if (this.closed) {
      return
    }
    this.closed = true
    this.closeReason = reason
    clearTimeout(this.timer)
    this.signal?.removeEventListener('abort', this.onAbort)
    this.onClose(this)
    this.notifyClose?.(reason)
  }
}
