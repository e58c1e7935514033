import PQueue from 'p-queue'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { TooManyRequestsError } from './errors.ts'
import type { ServerResponse } from 'node:http'

/**
 * The admission limits of the preload API, validated (see `PreloadApiInit`)
 */
export interface AdmissionLimits {
  rateLimit: number
  rateLimitInterval: number
  maxConcurrentRequests: number
  maxConcurrentRequestsPerAddress: number
  maxQueuedRequestsPerAddress: number
}

/**
 * Who is served when: the rate limit per client address, the requests
 * served at once overall and per address, and the requests of an address
 * that wait their turn (js-ipfs preloads every node of a `dag.put` DAG at
 * once and never retries, so a burst waits rather than being refused)
 */
export class Admission {
  private readonly limits: AdmissionLimits
  private readonly limiter: RateLimiterMemory
  /** Each client address's requests, served `maxConcurrentRequestsPerAddress` at a time */
  private readonly byAddress = new Map<string, PQueue>()

  constructor (limits: AdmissionLimits) {
    this.limits = limits
    this.limiter = new RateLimiterMemory({ points: limits.rateLimit, duration: limits.rateLimitInterval / 1000 })
  }

  /**
   * Counts a request against its address's rate limit; past it, sets
   * `Retry-After` and throws a 429
   */
  async consumeRateLimit (address: string, res: ServerResponse): Promise<void> {
    try {
      await this.limiter.consume(address)
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))))
        throw new TooManyRequestsError(`rate limit exceeded: at most ${this.limits.rateLimit} requests per ${this.limits.rateLimitInterval} ms from ${address}`)
      }
      throw err
    }
  }

  /**
   * Throws a 429 when `active` requests already fill `maxConcurrentRequests`
   */
  checkCapacity (active: number): void {
    if (active >= this.limits.maxConcurrentRequests) {
      throw new TooManyRequestsError(`${this.limits.maxConcurrentRequests} refs requests are being served, try again later`)
    }
  }

  /**
   * Runs `serve` in the address's turn: at once while the address has a
   * free slot, after the requests before it otherwise. Throws a 429 at once
   * when `maxQueuedRequestsPerAddress` already wait; rejects with the
   * signal's reason if it aborts while the request waits.
   */
  async inTurn (address: string, serve: () => Promise<void>, signal: AbortSignal): Promise<void> {
    const { maxConcurrentRequestsPerAddress: slots, maxQueuedRequestsPerAddress: waiting } = this.limits
    let queue = this.byAddress.get(address)
    if (queue == null) {
      queue = new PQueue({ concurrency: slots })
      this.byAddress.set(address, queue)
    }
    if (queue.pending >= slots && queue.size >= waiting) {
      throw new TooManyRequestsError(`${slots} refs requests from ${address} are being served and ${waiting} wait, try again later`)
    }
    try {
      await queue.add(serve, { signal })
    } finally {
      if (queue.size === 0 && queue.pending === 0) {
        this.byAddress.delete(address)
      }
    }
  }

  /**
   * Requests waiting for their address's turn
   */
  queued (): number {
    let queued = 0
    for (const queue of this.byAddress.values()) {
      queued += queue.size
    }
    return queued
  }
}
