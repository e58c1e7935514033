/**
 * What `kitsune proxy` prints: JSON lines for machines (`--json`) or short
 * human lines. Both go to stdout; human warnings and errors go to stderr.
 */

import type { Writable } from 'node:stream'

/**
 * One downstream in the ready line
 */
export interface ReadyDownstream {
  /** `null` while a downstream given by its API address has not answered */
  peerId: string | null
  status: string
  /** The multiaddr or API address it was configured with */
  source: string
}

/**
 * The `ready` event: the node listens, and every downstream has been tried
 */
export interface ReadyEvent {
  event: 'ready'
  peerId: string
  multiaddrs: string[]
  downstreams: ReadyDownstream[]
  /** The Prometheus URL, or `null` without `--metrics-listen` */
  metrics: string | null
}

/**
 * Printed after `ready` in embedded mode: what a newcomer needs to fetch the
 * sample file through the proxy
 */
export interface EmbeddedEvent {
  event: 'embedded'
  /** CID of the sample file both embedded downstreams hold */
  cid: string
  /** Size of the sample file in bytes */
  size: number
  /** The proxy address to fetch it through */
  peer: string
  /** A command that fetches it through the proxy */
  command: string
}

/**
 * A downstream changed state after `ready`
 */
export interface DownstreamEvent {
  event: 'downstream:up' | 'downstream:down' | 'downstream:draining'
  peerId: string | null
  source: string
  status: string
  /** Why it went down */
  error?: string
}

export interface MessageEvent {
  event: 'warning' | 'error'
  message: string
}

export interface LifecycleEvent {
  event: 'stopping' | 'stopped'
  signal?: string
}

export type OutputEvent = ReadyEvent | EmbeddedEvent | DownstreamEvent | MessageEvent | LifecycleEvent

/**
 * Something that prints proxy events
 */
export interface Output {
  /** A line of context for humans; JSON output drops it */
  info(line: string): void
  warn(message: string): void
  error(message: string): void
  emit(event: OutputEvent): void
}

export interface OutputStreams {
  stdout: Writable
  stderr: Writable
}

const defaultStreams = (): OutputStreams => ({ stdout: process.stdout, stderr: process.stderr })

/**
 * One JSON object per line on stdout
 */
export function jsonOutput (streams: OutputStreams = defaultStreams()): Output {
  const write = (event: OutputEvent): void => {
    streams.stdout.write(JSON.stringify(event) + '\n')
  }

  return {
    info: () => {},
    warn: (message) => { write({ event: 'warning', message }) },
    error: (message) => { write({ event: 'error', message }) },
    emit: write
  }
}

/**
 * Lines for a person at a terminal
 */
export function humanOutput (streams: OutputStreams = defaultStreams()): Output {
  const out = (line: string): void => { streams.stdout.write(line + '\n') }

  return {
    info: out,
    warn: (message) => { streams.stderr.write(`kitsune: warning: ${message}\n`) },
    error: (message) => { streams.stderr.write(`kitsune: error: ${message}\n`) },
    emit: (event) => {
      switch (event.event) {
        case 'ready':
          out(`peer id      ${event.peerId}`)
          event.multiaddrs.forEach((address, i) => { out(`${i === 0 ? 'listening on' : '            '} ${address}`) })
          for (const d of event.downstreams) {
            out(`downstream   ${d.peerId ?? d.source} ${d.status}${d.peerId != null && d.source !== d.peerId ? ` (${d.source})` : ''}`)
          }
          if (event.metrics != null) {
            out(`metrics      ${event.metrics}`)
          }
          out('ready')
          break
        case 'embedded':
          out('')
          out('Embedded mode: two in-process Helia nodes behind the proxy hold a sample file.')
          out(`  proxy   ${event.peer}`)
          out(`  sample  ${event.cid} (${event.size} bytes)`)
          out('Fetch it through the proxy, from another terminal in this directory:')
          out(`  ${event.command}`)
          out('Press Ctrl+C to stop.')
          break
        case 'downstream:up':
        case 'downstream:down':
        case 'downstream:draining':
          out(`downstream   ${event.peerId ?? event.source} ${event.status}${event.error != null ? `: ${event.error}` : ''}`)
          break
        case 'warning':
          streams.stderr.write(`kitsune: warning: ${event.message}\n`)
          break
        case 'error':
          streams.stderr.write(`kitsune: error: ${event.message}\n`)
          break
        case 'stopping':
          out(`stopping${event.signal != null ? ` (${event.signal})` : ''}`)
          break
        case 'stopped':
          out('stopped')
          break
        default:
          out(JSON.stringify(event))
      }
    }
  }
}
