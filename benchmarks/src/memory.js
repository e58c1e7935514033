/**
 * Memory figures of a role process, for the Bitswap benchmark: a snapshot
 * (optionally after a full GC, when the role runs with --expose-gc), and a
 * watcher that samples every few ms and keeps the peaks, so that a short
 * spike between two IPC round trips is not missed. The kernel's high-water
 * mark (`maxRss`, as in rpc.js's `mark`) is reported alongside: it cannot
 * miss a peak, but it covers the whole life of the process.
 *
 * Spread `memoryHandlers()` into a role's handlers.
 */

function snapshot () {
  const m = process.memoryUsage()
  return {
    at: performance.timeOrigin + performance.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    maxRss: process.resourceUsage().maxRSS * 1024
  }
}

export function memoryHandlers () {
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer
  let peak
  let samples = 0

  const sample = () => {
    const m = process.memoryUsage()
    samples++
    peak.rss = Math.max(peak.rss, m.rss)
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed)
    peak.external = Math.max(peak.external, m.external)
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers)
  }

  return {
    /**
     * Memory now; with `gc: true`, after two full collections (if the
     * process was started with --expose-gc)
     */
    memory: async ({ gc = false } = {}) => {
      if (gc && typeof globalThis.gc === 'function') {
        globalThis.gc()
        await new Promise(resolve => setTimeout(resolve, 50))
        globalThis.gc()
      }
      return { ...snapshot(), gcExposed: typeof globalThis.gc === 'function' }
    },
    'memory-watch-start': ({ intervalMs = 20 } = {}) => {
      clearInterval(timer)
      samples = 0
      peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
      sample()
      timer = setInterval(sample, intervalMs)
      timer.unref()
    },
    'memory-watch-stop': () => {
      clearInterval(timer)
      timer = undefined
      sample()
      return { ...peak, samples, maxRss: process.resourceUsage().maxRSS * 1024 }
    }
  }
}
