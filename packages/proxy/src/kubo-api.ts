import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import { DownstreamDiscoveryError, InvalidDownstreamError } from './errors.ts'
import { httpUrl } from './http-url.ts'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Turns a Kubo RPC API address into its base URL with {@link httpUrl}: a URL
 * (`http://127.0.0.1:5001`) or a multiaddr (`/ip4/127.0.0.1/tcp/5001`,
 * optionally ending in `/http` or `/https`). Throws `InvalidDownstreamError`.
 */
export function apiUrl (address: string | URL | Multiaddr): URL {
  try {
    return httpUrl(address)
  } catch (err: any) {
    throw new InvalidDownstreamError(err.message, { cause: err })
  }
}

/**
 * The last `/p2p/<id>` of a multiaddr, if any
 */
export function peerIdOf (address: Multiaddr): string | undefined {
  return address.getComponents().findLast(c => c.name === 'p2p')?.value
}

export interface KuboIdentity {
  peerId: PeerId
  /** Addresses the caller can dial, best first, each ending in `/p2p/<id>` */
  multiaddrs: Multiaddr[]
}

export interface DiscoverOptions extends AbortOptions {
  /** Whether this node has a transport that can dial the address */
  canDial(address: Multiaddr): boolean
}

/**
 * Asks a Kubo RPC API (`POST /api/v0/id`) for the node's peer id and
 * addresses, and keeps those this node can dial: no relayed addresses, none
 * that belong to another peer, none without a transport here. Addresses on the
 * API's own host come first, since that host is known to be reachable.
 */
export async function discoverFromApi (api: URL, options: DiscoverOptions): Promise<KuboIdentity> {
  const url = new URL('/api/v0/id', api)
  let body: any

  try {
    const response = await fetch(url, { method: 'POST', signal: options.signal })
    if (!response.ok) {
      throw new Error(`HTTP ${response.status} ${response.statusText}`)
    }
    body = await response.json()
  } catch (err: any) {
    throw new DownstreamDiscoveryError(`${url.href}: ${err.message}`, { cause: err })
  }

  let peerId: PeerId
  try {
    peerId = peerIdFromString(String(body?.ID))
  } catch {
    throw new DownstreamDiscoveryError(`${url.href}: answer has no valid ID`)
  }

  const id = peerId.toString()
  const candidates: Multiaddr[] = []
  for (const text of Array.isArray(body.Addresses) ? body.Addresses : []) {
    let address: Multiaddr
    try {
      address = multiaddr(String(text))
    } catch {
      continue
    }

    const addressPeer = peerIdOf(address)
    if (addressPeer != null && addressPeer !== id) {
      continue
    }
    if (Circuit.matches(address)) {
      continue
    }
    if (addressPeer == null) {
      address = address.encapsulate(`/p2p/${id}`)
    }
    if (!options.canDial(address)) {
      continue
    }
    if (!candidates.some(c => c.equals(address))) {
      candidates.push(address)
    }
  }

  if (candidates.length === 0) {
    throw new DownstreamDiscoveryError(`${url.href}: none of the ${Array.isArray(body.Addresses) ? body.Addresses.length : 0} addresses of ${id} is dialable from here`)
  }

  const apiHost = api.hostname.replace(/^\[|\]$/g, '')
  const onApiHost = (a: Multiaddr): boolean => a.getComponents().some(c => (c.name === 'ip4' || c.name === 'ip6' || c.name.startsWith('dns')) && c.value === apiHost)
  const multiaddrs = [...candidates.filter(onApiHost), ...candidates.filter(a => !onApiHost(a))]

  return { peerId, multiaddrs }
}
