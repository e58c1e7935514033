/**
 * A trie node needed to answer was not in the node store: the slice is not
 * held (completely) at that root
 */
export class MissingNodeError extends Error {
  static name = 'MissingNodeError'
  name = 'MissingNodeError'
}

/**
 * Data from a peer did not verify against the state root it claimed
 */
export class InvalidProofError extends Error {
  static name = 'InvalidProofError'
  name = 'InvalidProofError'
}

/**
 * Bytes on a stream were not a valid protocol message, or broke a field limit
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
 * The peer answered with an error status
 */
export class RemoteError extends Error {
  static name = 'RemoteError'
  name = 'RemoteError'
}

/**
 * No peer that holds the data could be reached, or every one failed
 */
export class NoProviderError extends Error {
  static name = 'NoProviderError'
  name = 'NoProviderError'
}

/**
 * A state root is neither the trusted root nor one of a known header
 */
export class UnknownRootError extends Error {
  static name = 'UnknownRootError'
  name = 'UnknownRootError'
}

/**
 * An option had a value outside its allowed range
 */
export class InvalidOptionError extends Error {
  static name = 'InvalidOptionError'
  name = 'InvalidOptionError'
}
