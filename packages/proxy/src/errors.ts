/**
 * A key file or Kubo config could not be read, parsed or written
 */
export class IdentityError extends Error {
  static name = 'IdentityError'
  readonly path: string

  constructor (path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options)
    this.name = 'IdentityError'
    this.path = path
  }
}

/**
 * A downstream was described in a way the pool cannot use
 */
export class InvalidDownstreamError extends Error {
  static name = 'InvalidDownstreamError'
  name = 'InvalidDownstreamError'
}

/**
 * An address is not the address of an HTTP(S) endpoint
 */
export class InvalidHttpAddressError extends Error {
  static name = 'InvalidHttpAddressError'
  name = 'InvalidHttpAddressError'
}

/**
 * A downstream's Kubo RPC API did not give a usable peer id and address
 */
export class DownstreamDiscoveryError extends Error {
  static name = 'DownstreamDiscoveryError'
  name = 'DownstreamDiscoveryError'
}

/**
 * No healthy downstream could take a stream
 */
export class NoDownstreamError extends Error {
  static name = 'NoDownstreamError'
  name = 'NoDownstreamError'
}

/**
 * An upstream peer opened more streams on a route than it may hold at once
 */
export class TooManyStreamsError extends Error {
  static name = 'TooManyStreamsError'
  name = 'TooManyStreamsError'
}

/**
 * A downstream opened a stream for a routed protocol: traffic is one-way
 */
export class DownstreamInitiatedStreamError extends Error {
  static name = 'DownstreamInitiatedStreamError'
  name = 'DownstreamInitiatedStreamError'
}

/**
 * A route names a strategy nobody registered
 */
export class UnknownStrategyError extends Error {
  static name = 'UnknownStrategyError'
  name = 'UnknownStrategyError'
}

/**
 * A bridged stream moved no bytes for longer than the route's idle timeout
 */
export class IdleTimeoutError extends Error {
  static name = 'IdleTimeoutError'
  name = 'IdleTimeoutError'
}
