/**
 * What `kitsune proxy` and `kitsune node` print: JSON lines for machines
 * (`--json`) or short human lines. Both go to stdout; human warnings and
 * errors go to stderr.
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
  /**
   * The preload endpoint's URL (`http://host:port`), or `null` when preload
   * mode is off
   */
  preload: string | null
}

/**
 * The `ready` event of `kitsune node`: the node listens, and so does its API
 */
export interface NodeReadyEvent {
  event: 'ready'
  peerId: string
  multiaddrs: string[]
  /** The HTTP API's URL (`http://host:port`): `/api/v0/refs`, `/api/v0/id` */
  api: string
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
  /** The proxy's preload endpoint, or `null` when preload is off (`--no-bitswap`) */
  preload: string | null
  /** A command that asks it to preload a CID (replace `<cid>`) */
  preloadCommand: string | null
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

export type OutputEvent = ReadyEvent | NodeReadyEvent | EmbeddedEvent | DownstreamEvent | MessageEvent | LifecycleEvent

/**
 * The base URL of a running HTTP API (`http://host:port`, no trailing
 * slash), as printed and as given to the proxy
 */
export function apiBase (api: { url?: URL }, what: string): string {
  if (api.url == null) {
    throw new Error(`${what} has no API URL; is it started?`)
  }
  return api.url.origin
}

/**
 * The start-up lines that say where the identity came from: none for a key
 * given in code
 */
export function identityLines (identity: { source: string, path?: string, created: boolean }, ephemeralNote: string): string[] {
  if (identity.source === 'ephemeral') {
    return [`identity     ephemeral (${ephemeralNote})`]
  }
  if (identity.path != null) {
    return [`identity     ${identity.created ? 'created' : 'loaded'} ${identity.path}`]
  }
  return []
}

/**
 * A command that asks the preload endpoint at `api` to fetch and keep a DAG,
 * as a js-ipfs-era application does after adding content
 */
export function preloadCommand (api: string, cid = '<cid>'): string {
  return `curl -X POST "${api}/api/v0/refs?arg=${cid}&recursive=true"`
}

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
 * Prints an event of a command whose lines are its own (relay, peer,
 * slices): the JSON line in JSON mode, the human text otherwise
 */
export function eventPrinter (output: Output, json: boolean): (event: Record<string, unknown>, human: string) => void {
  return (event, human) => {
    if (json) {
      output.emit(event as any)
    } else {
      output.info(human)
    }
  }
}

/**
 * The line after `ready` of a relay, peer or slices daemon started with
 * `--metrics-listen`: `{"event":"metrics","url":…}` (their `ready` lines
 * are fixed by contract, so the URL, which port 0 makes unknown
 * beforehand, gets a line of its own)
 */
export function printMetricsUrl (output: Output, json: boolean, url?: string): void {
  if (url != null) {
    eventPrinter(output, json)({ event: 'metrics', url }, `metrics      ${url}`)
  }
}

/**
 * The human lines of a `ready` event, of the proxy or of a node
 */
function readyLines (event: ReadyEvent | NodeReadyEvent): string[] {
  const lines = [`peer id      ${event.peerId}`]
  event.multiaddrs.forEach((address, i) => { lines.push(`${i === 0 ? 'listening on' : '            '} ${address}`) })
  if ('downstreams' in event) {
    for (const d of event.downstreams) {
      lines.push(`downstream   ${d.peerId ?? d.source} ${d.status}${d.peerId != null && d.source !== d.peerId ? ` (${d.source})` : ''}`)
    }
  }
  // a node's API, or the proxy's preload endpoint: both answer the same call
  const [label, url] = 'api' in event ? ['api', event.api] : ['preload', event.preload]
  if (url != null) {
    lines.push(`${label.padEnd(12)} ${url}`, `             ${preloadCommand(url)}`)
  }
  if (event.metrics != null) {
    lines.push(`metrics      ${event.metrics}`)
  }
  lines.push('ready')
  return lines
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
          readyLines(event).forEach(out)
          break
        case 'embedded':
          out('')
          out('Embedded mode: two in-process Helia nodes behind the proxy hold a sample file.')
          out(`  proxy   ${event.peer}`)
          out(`  sample  ${event.cid} (${event.size} bytes)`)
          if (event.preload != null) {
            out(`  preload ${event.preload}`)
          }
          out('Fetch it through the proxy, from another terminal in this directory:')
          out(`  ${event.command}`)
          if (event.preloadCommand != null) {
            out('Preload content a client connected to the proxy has added (put its CID')
            out('in place of <cid>); a 200 means a downstream holds the whole DAG:')
            out(`  ${event.preloadCommand}`)
          }
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
