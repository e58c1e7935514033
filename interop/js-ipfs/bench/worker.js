/**
 * One benchmark round in a fresh process: a js-ipfs 0.18.1 node that either
 * fetches (`cat`) a file or adds one and waits for its own preloader.
 * Prints one JSON line with the figures on stdout.
 *
 *   node bench/worker.js fetch   <bootstrap multiaddr> <cid> <sha256 hex>
 *   node bench/worker.js preload <bootstrap multiaddr> <preload multiaddr> <bytes>
 *
 * It connects to the bootstrap peer with `swarm.connect` before the clock
 * starts, so js-ipfs's 10 s auto-dial tick is not measured.
 */
import { createHash, randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { createIpfs } from '../src/ipfs.js'
import { mark, waitForPreload } from '../src/preload-log.js'

const [mode, bootstrap, ...rest] = process.argv.slice(2)

// js-ipfs leaves a rejected want behind when a cat times out; the round
// fails through the cat's own error
process.on('unhandledRejection', (err) => {
  console.error(`unhandled rejection: ${err}`)
})

const app = await createIpfs({
  bootstrap: [bootstrap],
  preload: mode === 'preload' ? rest[0] : undefined
})

try {
  await app.ipfs.swarm.connect(multiaddr(bootstrap), { timeout: 20_000 })

  if (mode === 'fetch') {
    const [cid, sha256] = rest
    const hash = createHash('sha256')
    let bytes = 0
    const started = performance.now()
    try {
      for await (const chunk of app.ipfs.cat(cid, { timeout: Number(process.env.BENCH_FETCH_TIMEOUT ?? 60_000) })) {
        hash.update(chunk)
        bytes += chunk.length
      }
    } catch (err) {
      throw new Error(`cat failed after ${Math.round(performance.now() - started)} ms with ${bytes} bytes received: ${err.message}`)
    }
    const ms = performance.now() - started
    const digest = hash.digest('hex')
    if (digest !== sha256) {
      throw new Error(`fetched ${bytes} bytes with sha256 ${digest}, expected ${sha256}`)
    }
    console.log(JSON.stringify({ ms, bytes }))
  } else if (mode === 'preload') {
    const size = Number(rest[1])
    const data = randomBytes(size)
    const since = mark()
    const started = performance.now()
    const { cid } = await app.ipfs.add(data)
    const added = performance.now()
    // js-ipfs's own preloader: "successfully preloaded <cid> in <n>ms",
    // n being its POST /api/v0/refs call
    const { ms } = await waitForPreload(cid, { since, timeout: 180_000 })
    const done = performance.now()
    console.log(JSON.stringify({ ms, addMs: added - started, wallMs: done - started, bytes: size }))
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
} finally {
  await app.stop()
}
