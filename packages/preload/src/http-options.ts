/**
 * The preload API's HTTP options: validation, the server's timeouts, and the
 * status a request Node cannot read is answered with
 */

import { BODY_TIMEOUT, HEADERS_TIMEOUT, KEEP_ALIVE_TIMEOUT } from './constants.ts'
import { InvalidOptionError } from './errors.ts'
import type { PreloadApiInit } from './index.ts'

export interface HttpTimeouts {
  headersTimeout: number
  bodyTimeout: number
  keepAliveTimeout: number
}

/**
 * The HTTP server's timeouts, validated; the headers are part of the
 * request, so `bodyTimeout` bounds `headersTimeout` too (and Node refuses a
 * `headersTimeout` above its `requestTimeout`)
 */
export function httpTimeouts (init: PreloadApiInit): HttpTimeouts {
  const headersTimeout = positive('headersTimeout', init.headersTimeout ?? HEADERS_TIMEOUT)
  const bodyTimeout = positive('bodyTimeout', init.bodyTimeout ?? BODY_TIMEOUT)
  return {
    headersTimeout: Math.min(headersTimeout, bodyTimeout),
    bodyTimeout,
    keepAliveTimeout: positive('keepAliveTimeout', init.keepAliveTimeout ?? KEEP_ALIVE_TIMEOUT)
  }
}

/**
 * The status Go's `net/http` answers a request it cannot read with, by the
 * code of Node's error; none for errors of the connection itself
 */
export function clientErrorStatus (code?: string): number | undefined {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return 408
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return 431
  }
  if (code?.startsWith('HPE_') === true) {
    return 400
  }
  return undefined
}

export function positive (name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(`${name} must be a positive number, got ${value}`)
  }
  return value
}

export function nonNegative (name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(`${name} must be zero or more, got ${value}`)
  }
  return value
}
