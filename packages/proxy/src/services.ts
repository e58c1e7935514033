import { serviceCapabilities } from '@libp2p/interface'
import type { Proxy } from './index.ts'

/**
 * The capability the proxy service declares (`serviceCapabilities`). A
 * service built on the proxy lists it in its `serviceDependencies`, so
 * libp2p refuses a configuration without the proxy.
 */
export const PROXY_CAPABILITY = '@kitsune/proxy'

/**
 * The services key the proxy is expected at
 */
export const PROXY_SERVICE = 'proxy'

/**
 * A configured service found on the `components` object by its key (every
 * configured service is a component under its key), if it is there and
 * declares `capability` in its `serviceCapabilities`
 *
 * @example A service that finds the proxy by a key its user may change
 *
 * ```typescript
 * import { findService, PROXY_CAPABILITY } from '@kitsune/proxy'
 * import type { Proxy } from '@kitsune/proxy'
 *
 * export function proxyAt (components: Record<string, unknown>, key = 'proxy'): Proxy | undefined {
 *   return findService<Proxy>(components, key, PROXY_CAPABILITY)
 * }
 * ```
 */
export function findService <T> (components: Record<string, unknown>, key: string, capability: string): T | undefined {
  let service: { [serviceCapabilities]?: unknown } | null | undefined
  try {
    service = components[key] as typeof service
  } catch {
    // libp2p's components throw for a key nothing is configured at
    return undefined
  }
  const capabilities = service?.[serviceCapabilities]
  return Array.isArray(capabilities) && capabilities.includes(capability) ? service as T : undefined
}

/**
 * The proxy service among a node's components, at `key` (default
 * `'proxy'`), or `undefined` when no proxy is configured there
 */
export function findProxy (components: Record<string, unknown>, key: string = PROXY_SERVICE): Proxy | undefined {
  return findService<Proxy>(components, key, PROXY_CAPABILITY)
}
