/**
 * Parsers of the addresses the commands take: libp2p multiaddrs, and where
 * an HTTP server listens. Each throws an `Error` whose message quotes the
 * value; the schema turns it into a usage error naming the flag or key.
 */

import { apiUrl, httpUrl } from '@kitsune/proxy'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Where an HTTP endpoint listens
 */
export interface MetricsAddress {
  host: string
  port: number
}

/**
 * Multi-line library messages as one line
 */
export function oneLine (text: string): string {
  return text.split('\n').map(line => line.trim()).filter(Boolean).join(' ')
}

/**
 * A multiaddr with at least one component
 */
export function toMultiaddr (address: string): Multiaddr {
  try {
    const ma = multiaddr(address)
    if (address.trim() === '' || ma.getComponents().length === 0) {
      throw new Error('empty address')
    }
    return ma
  } catch (err: any) {
    throw new Error(`"${address}" is not a valid multiaddr (${oneLine(err.message)})`)
  }
}

/**
 * A multiaddr, normalised
 */
export function checkMultiaddr (address: string): string {
  return toMultiaddr(address).toString()
}

/**
 * A downstream's multiaddr, which must name its peer id
 */
export function checkDownstream (address: string): string {
  const ma = toMultiaddr(address)
  if (ma.getComponents().at(-1)?.name !== 'p2p') {
    throw new Error(`"${address}" must end in /p2p/<peer id>`)
  }
  return ma.toString()
}

/**
 * A Kubo RPC API address, as `@kitsune/proxy` reads it (kept as given)
 */
export function checkApiAddress (address: string): string {
  try {
    apiUrl(address)
  } catch (err: any) {
    throw new Error(oneLine(err.message))
  }
  return address
}

/**
 * Where an HTTP server listens (`--metrics-listen`, `--preload-listen`,
 * `--api-listen`), parsed by `@kitsune/proxy`'s `httpUrl()`: a TCP multiaddr,
 * optionally ending in `/http`, or an `http://host:port` URL. On top of it,
 * what a listen address needs: plain `http`, an explicit port, no path.
 */
export function listenUrl (address: string, where?: string): URL {
  const prefix = where == null ? '' : `${where} `
  let url: URL | undefined
  try {
    url = httpUrl(address)
  } catch (err: any) {
    // a `cause` means neither a URL nor a multiaddr; without one it parsed
    // but is not HTTP, which the check below reports
    if (err.cause != null) {
      throw new Error(`${prefix}"${address}" is not a multiaddr or URL (${oneLine(err.cause.message)})`)
    }
  }
  if (url?.protocol !== 'http:' || url.port === '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new Error(`${prefix}"${address}" must be a TCP address such as /ip4/127.0.0.1/tcp/<port> or http://127.0.0.1:<port>`)
  }
  return url
}

/**
 * Where an HTTP server listens, as the host and port to bind
 */
export function parseMetricsListen (address: string, where?: string): MetricsAddress {
  const url = listenUrl(address, where)
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) }
}

/**
 * Checks where an HTTP server listens, keeping the address as given
 */
export function checkHttpListen (address: string): string {
  listenUrl(address)
  return address
}

/**
 * Where an HTTP server listens, as the `http://host:port` URL the preload
 * endpoint is given
 */
export function httpListenUrl (address: string): string {
  return listenUrl(address).origin
}
