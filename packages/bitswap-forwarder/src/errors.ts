/**
 * A length prefix was not a valid varint, or the bytes were not a Bitswap
 * protobuf message
 */
export class InvalidMessageError extends Error {
  static name = 'InvalidMessageError'
  name = 'InvalidMessageError'
}

/**
 * A message was larger than `maxMessageSize`
 */
export class MessageTooLargeError extends Error {
  static name = 'MessageTooLargeError'
  name = 'MessageTooLargeError'
}

/**
 * A CID could not be decoded, or uses a hash function the forwarder cannot
 * verify blocks with
 */
export class UnsupportedCidError extends Error {
  static name = 'UnsupportedCidError'
  name = 'UnsupportedCidError'
}

/**
 * A peer's wantlist grew beyond `maxWantlistEntriesPerPeer`
 */
export class WantlistTooLargeError extends Error {
  static name = 'WantlistTooLargeError'
  name = 'WantlistTooLargeError'
}

/**
 * A peer opened more concurrent Bitswap streams than it may
 */
export class TooManyStreamsError extends Error {
  static name = 'TooManyStreamsError'
  name = 'TooManyStreamsError'
}

/**
 * A peer was cut off for breaking a limit and is refused for a while
 */
export class PeerCutOffError extends Error {
  static name = 'PeerCutOffError'
  name = 'PeerCutOffError'
}

/**
 * A peer read nothing of a message for `sendTimeout` ms
 */
export class SendTimeoutError extends Error {
  static name = 'SendTimeoutError'
  name = 'SendTimeoutError'
}

/**
 * No open connection to a peer to send a message on
 */
export class NotConnectedError extends Error {
  static name = 'NotConnectedError'
  name = 'NotConnectedError'
}

/**
 * The proxy service the forwarder builds on is not configured
 */
export class MissingProxyError extends Error {
  static name = 'MissingProxyError'
  name = 'MissingProxyError'
}

/**
 * An option has a value the forwarder cannot work with
 */
export class InvalidOptionError extends Error {
  static name = 'InvalidOptionError'
  name = 'InvalidOptionError'
}

/**
 * A block is not in the cache (blockstores signal this by the error's name)
 */
export class NotFoundError extends Error {
  static name = 'NotFoundError'
  name = 'NotFoundError'
}

/**
 * An incomplete inbound message would have taken the bytes buffered for
 * incomplete messages past `maxInboundFrameBytes` or
 * `maxInboundFrameBytesPerPeer`
 */
export class FrameBudgetError extends Error {
  static name = 'FrameBudgetError'
  name = 'FrameBudgetError'
}

/**
 * An inbound message was not complete within `frameTimeout`
 */
export class FrameTimeoutError extends Error {
  static name = 'FrameTimeoutError'
  name = 'FrameTimeoutError'
}
