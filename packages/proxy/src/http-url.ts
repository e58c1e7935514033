import { multiaddr } from '@multiformats/multiaddr'
import { multiaddrToUri } from '@multiformats/multiaddr-to-uri'
import { InvalidHttpAddressError } from './errors.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Turns the address of an HTTP endpoint (a Kubo RPC API, a listen address)
 * into its base URL. Accepts an `http://` or `https://` URL, or a TCP
 * multiaddr (`/ip4/127.0.0.1/tcp/5001`, `/dns4/kubo.example/tcp/443/https`),
 * which is `http` unless it ends in `/https` or `/tls/http`; a trailing
 * `/p2p/<id>` is ignored. The one parser every Kitsune package uses, on top
 * of `@multiformats/multiaddr-to-uri`. Throws `InvalidHttpAddressError`,
 * whose `cause` is the parser's error when the address is neither a URL nor
 * a multiaddr (and absent when it parses but is not HTTP).
 *
 * @example
 *
 * ```typescript
 * import { httpUrl } from '@kitsune/proxy'
 *
 * httpUrl('/ip4/127.0.0.1/tcp/5001').href // 'http://127.0.0.1:5001/'
 * ```
 */
export function httpUrl (address: string | URL | Multiaddr): URL {
  const text = address.toString()
  let url: URL
  try {
    if (/^[a-z][a-z0-9+.-]*:/i.test(text)) {
      url = new URL(text)
    } else {
      let ma = multiaddr(text)
      if (ma.getComponents().at(-1)?.name === 'p2p') {
        ma = ma.decapsulateCode(ma.getComponents().at(-1)!.code)
      }
      url = new URL(multiaddrToUri(ma))
    }
  } catch (err: any) {
    throw new InvalidHttpAddressError(`Invalid HTTP address "${text}": ${err.message}`, { cause: err })
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new InvalidHttpAddressError(`"${text}" is not an HTTP address: it needs a host and a TCP port (e.g. /ip4/127.0.0.1/tcp/5001 or http://127.0.0.1:5001)`)
  }
  return url
}
