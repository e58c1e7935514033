import { IdleTimeoutError } from './errors.ts'
import type { Stream } from '@libp2p/interface'

export interface BridgeOptions {
  /** Reset both sides when no byte moves either way for this many ms */
  idleTimeout: number
  /** The most bytes a paused side may buffer before it is reset */
  maxBufferedBytes: number
  /** Called with the size of every chunk moved, for metrics */
  onData?(direction: 'up' | 'down', bytes: number): void
}

export interface BridgeResult {
  /** Bytes moved from the first stream (upstream) to the second */
  bytesUp: number
  /** Bytes moved from the second stream (downstream) to the first */
  bytesDown: number
  /** Set when either side was reset or timed out */
  error?: Error
}

/**
 * Joins two open streams in both directions and resolves when both are
 * closed.
 *
 * - Back-pressure: when the destination's send buffer is full the source is
 * paused until the destination drains. Yamux grants window credit as data
 * arrives, not as it is read, so pausing (which withholds credit) is the only
 * brake; what is already in flight, at most one receive window, is held, and
 * a side that would hold more than `maxBufferedBytes` is reset instead.
 * - Half-close: when one side has delivered its last byte, the other side's
 * write end is closed.
 * - Reset: when either side is reset, the other is reset too.
 *
 * Written by hand because `pipe()` from `@libp2p/utils` wraps each stream once
 * per direction and buffers without bound when the two sides run at
 * different speeds.
 *
 * Both streams should have been paused when they were opened, so nothing was
 * emitted before the bridge was listening.
 */
export async function bridgeStreams (upstream: Stream, downstream: Stream, options: BridgeOptions): Promise<BridgeResult> {
  const result: BridgeResult = { bytesUp: 0, bytesDown: 0 }
  let lastActivity = Date.now()
  const done = Promise.withResolvers<BridgeResult>()
  let closed = 0

  const fail = (err: Error): void => {
    result.error ??= err
    upstream.abort(err)
    downstream.abort(err)
  }

  const join = (source: Stream, destination: Stream, direction: 'up' | 'down'): void => {
    source.maxReadBufferLength = options.maxBufferedBytes
    let waiting = false
    let resuming = false
    let pauseWhenResumed = false

    const pause = (): void => {
      if (resuming) {
        // `resume()` emits the buffered data and only then tells the muxer to
        // grant window credit again; a pause made while it emits would be
        // undone by that, leaving the stream 'paused' but still receiving
        pauseWhenResumed = true
      } else if (source.readStatus === 'readable') {
        source.pause()
      }
    }

    const resume = (): void => {
      if (source.readStatus !== 'paused') {
        return
      }
      resuming = true
      try {
        source.resume()
      } finally {
        resuming = false
      }
      if (pauseWhenResumed) {
        pauseWhenResumed = false
        pause()
      }
    }

    source.addEventListener('message', (evt) => {
      const data = evt.data
      lastActivity = Date.now()

      if (destination.writeStatus !== 'writable') {
        // the other side stopped accepting writes: it was reset (and so will
        // we be) or it closed its write end after a reset of its own
        return
      }

      let accepted: boolean
      try {
        accepted = destination.send(data)
      } catch (err: any) {
        fail(err)
        return
      }

      if (direction === 'up') {
        result.bytesUp += data.byteLength
      } else {
        result.bytesDown += data.byteLength
      }
      options.onData?.(direction, data.byteLength)

      if (!accepted && !waiting) {
        waiting = true
        pause()
        // not `onDrain()`: in @libp2p/utils 7.4 its promise is never renewed,
        // so after the first drain it resolves at once and the brake is lost
        destination.addEventListener('drain', () => {
          waiting = false
          resume()
        }, { once: true })
      }
    })

    const endWrite = (): void => {
      if (destination.writeStatus === 'writable') {
        destination.close().catch((err: Error) => { fail(err) })
      }
    }

    if (source.readableEnded) {
      endWrite()
    } else {
      source.addEventListener('end', endWrite, { once: true })
    }

    source.addEventListener('close', (evt) => {
      if (evt.error != null) {
        fail(evt.error)
      } else if (source.readBufferLength === 0) {
        endWrite()
      }
      // else: a stream can close with unread data still buffered (it was
      // paused); 'end' fires once that data has been passed on

      closed++
      if (closed === 2) {
        clearInterval(idleTimer)
        done.resolve(result)
      }
    }, { once: true })

    resume()
  }

  const idleTimer = setInterval(() => {
    if (Date.now() - lastActivity > options.idleTimeout) {
      fail(new IdleTimeoutError(`No data for ${options.idleTimeout}ms`))
    }
  }, Math.max(10, Math.min(options.idleTimeout / 4, 5_000)))
  idleTimer.unref?.()

  // the libp2p inactivity timeout counts each side separately; the bridge's
  // own timer counts both together, so a one-way transfer is not cut off
  upstream.inactivityTimeout = 0
  downstream.inactivityTimeout = 0

  join(upstream, downstream, 'up')
  join(downstream, upstream, 'down')

  // a side that closed before we were listening will never emit 'close' again
  for (const stream of [upstream, downstream]) {
    if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') {
      stream.dispatchEvent(new Event('close'))
    }
  }

  return done.promise
}
