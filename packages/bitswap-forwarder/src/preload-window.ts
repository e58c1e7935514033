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
   * Close the window after this many ms
   *
   * @default 60000
   */
  timeout?: number
  /**
   * Close the window when this signal aborts
   */
  signal?: AbortSignal
}

/**
 * An open preload window
 */
export interface PreloadWindow {
  readonly id: number
  readonly root?: CID
  /** Downstream wants passed to upstream peers through this window */
  readonly wantsPassed: number
  readonly closed: boolean
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
  closed = false
  private readonly downstreams?: PeerSet
  private readonly filter?: (cid: CID) => boolean
  private readonly timer: ReturnType<typeof setTimeout>
  private readonly onClose: (window: Window) => void
  private readonly signal?: AbortSignal
  private readonly onAbort: () => void

  constructor (id: number, init: PreloadWindowInit, timeout: number, onClose: (window: Window) => void) {
    this.id = id
    this.root = init.root
    this.upstreams = [...init.upstreams]
    this.downstreams = init.downstreams == null ? undefined : new PeerSet(init.downstreams)
    this.filter = init.filter
    this.onClose = onClose
    this.onAbort = () => { this.close() }
    this.timer = setTimeout(this.onAbort, init.timeout ?? timeout)
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

  close (): void {
    if (this.closed) {
      return
    }
    this.closed = true
    clearTimeout(this.timer)
    this.signal?.removeEventListener('abort', this.onAbort)
    this.onClose(this)
  }
}
