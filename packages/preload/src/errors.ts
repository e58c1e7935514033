import { ERR_CLIENT, ERR_RATE_LIMITED } from './constants.ts'

/**
 * An error the HTTP API answers with a status and a Kubo JSON body
 * (`{"Message":…,"Code":…,"Type":"error"}`) before any output is written
 */
export class ApiError extends Error {
  static name = 'ApiError'
  name = 'ApiError'
  /** The HTTP status */
  readonly status: number = 400
  /** The go-ipfs-cmds error code */
  readonly code: number = ERR_CLIENT
}

/**
 * A request's query or arguments are invalid (HTTP 400, go-ipfs-cmds
 * `ErrClient`)
 */
export class InvalidRequestError extends ApiError {
  static name = 'InvalidRequestError'
  name = 'InvalidRequestError'
}

/**
 * A client address made more requests than `rateLimit` allows, or
 * `maxConcurrentRequests` are being served (HTTP 429, go-ipfs-cmds
 * `ErrRateLimited`)
 */
export class TooManyRequestsError extends ApiError {
  static name = 'TooManyRequestsError'
  name = 'TooManyRequestsError'
  readonly status = 429
  readonly code = ERR_RATE_LIMITED
}

/**
 * A request body was larger than `maxBodySize` (HTTP 413)
 */
export class BodyTooLargeError extends ApiError {
  static name = 'BodyTooLargeError'
  name = 'BodyTooLargeError'
  readonly status = 413
}

/**
 * A request target was longer than `maxQuerySize` (HTTP 414)
 */
export class QueryTooLargeError extends ApiError {
  static name = 'QueryTooLargeError'
  name = 'QueryTooLargeError'
  readonly status = 414
}

/**
 * A traversal reached more than `maxDagBlocks` blocks or `maxDagBytes` bytes
 */
export class DagTooLargeError extends Error {
  static name = 'DagTooLargeError'
  name = 'DagTooLargeError'
}

/**
 * A block uses a codec whose links cannot be read: not dag-pb, dag-cbor,
 * dag-json or raw, and not among `codecs`
 */
export class UnknownCodecError extends Error {
  static name = 'UnknownCodecError'
  name = 'UnknownCodecError'
}

/**
 * An option has a value the preload API cannot work with
 */
export class InvalidOptionError extends Error {
  static name = 'InvalidOptionError'
  name = 'InvalidOptionError'
}

/**
 * A service the proxy mode builds on (the proxy, the Bitswap forwarder) is
 * not configured, or the preload service is not started
 */
export class MissingServiceError extends Error {
  static name = 'MissingServiceError'
  name = 'MissingServiceError'
}

/**
 * No healthy downstream with a Kubo RPC API can take a preload
 */
export class NoPreloadDownstreamError extends Error {
  static name = 'NoPreloadDownstreamError'
  name = 'NoPreloadDownstreamError'
}

/**
 * A downstream's `/api/v0/refs` failed or answered an error
 */
export class DownstreamRefsError extends Error {
  static name = 'DownstreamRefsError'
  name = 'DownstreamRefsError'
}
