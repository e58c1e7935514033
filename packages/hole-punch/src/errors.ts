/**
 * A DCUtR peer sent a message that breaks the protocol
 */
export class DCUtRProtocolError extends Error {
  static name = 'DCUtRProtocolError'
  name = 'DCUtRProtocolError'
}

/**
 * Every hole-punch attempt failed
 */
export class PunchFailedError extends Error {
  static name = 'PunchFailedError'
  name = 'PunchFailedError'
}

/**
 * No address to punch to (the other side sent none that we can dial)
 */
export class NoPunchAddressesError extends Error {
  static name = 'NoPunchAddressesError'
  name = 'NoPunchAddressesError'
}

/**
 * An AutoNAT peer sent a message that breaks the protocol
 */
export class AutoNATProtocolError extends Error {
  static name = 'AutoNATProtocolError'
  name = 'AutoNATProtocolError'
}

/**
 * A STUN message could not be parsed
 */
export class StunParseError extends Error {
  static name = 'StunParseError'
  name = 'StunParseError'
}

/**
 * An option has a value that cannot be used
 */
export class InvalidOptionError extends Error {
  static name = 'InvalidOptionError'
  name = 'InvalidOptionError'
}

/**
 * No relay could be found or none accepted a reservation
 */
export class NoRelaysError extends Error {
  static name = 'NoRelaysError'
  name = 'NoRelaysError'
}

/**
 * A Node.js-only part of the package (the punch TCP transport, the STUN
 * responder) was used in a browser
 */
export class NodeOnlyError extends Error {
  static name = 'NodeOnlyError'
  name = 'NodeOnlyError'
}
