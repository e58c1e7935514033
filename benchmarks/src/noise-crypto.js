/**
 * The proxy decrypts and re-encrypts every byte it bridges. This measures the
 * CPU of one ChaCha20-Poly1305 seal + open of a noise transport message with
 * frontDoorNoiseCrypto (what `kitsune proxy` uses) next to @libp2p/noise's
 * default, in the same process and run, for the message sizes the bridge
 * sees. One process, no network: repeatable where whole-system CPU figures
 * are not.
 */
import { frontDoorNoiseCrypto } from '@kitsune/proxy'
import { defaultCrypto } from '@libp2p/noise/crypto'

const ITERATIONS = 20_000
const json = process.argv.includes('--json')
// noise passes one key array per session for every message, as here
const key = new Uint8Array(32).fill(7)
const ad = new Uint8Array(0)
const nonce = new Uint8Array(12)

function cpuMicrosPerMessage (crypto, message) {
  const sealed = crypto.chaCha20Poly1305Encrypt(message, nonce, ad, key).subarray()
  const start = process.cpuUsage()
  for (let i = 0; i < ITERATIONS; i++) {
    crypto.chaCha20Poly1305Encrypt(message, nonce, ad, key)
    crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key)
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / ITERATIONS
}

const results = []
for (const size of [2048, 16 * 1024, 65_535]) {
  const message = new Uint8Array(size).fill(1)
  // alternate, twice each, and keep the better of the two: the machine is noisy
  const stock = Math.min(cpuMicrosPerMessage(defaultCrypto, message), cpuMicrosPerMessage(defaultCrypto, message))
  const ours = Math.min(cpuMicrosPerMessage(frontDoorNoiseCrypto, message), cpuMicrosPerMessage(frontDoorNoiseCrypto, message))
  results.push({ bytes: size, stockMicros: stock, frontDoorMicros: ours, ratio: ours / stock })
}

if (json) {
  console.log(JSON.stringify({ noiseCrypto: results }))
} else {
  console.log(`\nnoise ChaCha20-Poly1305, CPU per seal + open (${ITERATIONS} of each size)`)
  for (const r of results) {
    console.log(`  ${String(r.bytes).padStart(6)} B  @libp2p/noise default ${r.stockMicros.toFixed(1).padStart(6)} µs   frontDoorNoiseCrypto ${r.frontDoorMicros.toFixed(1).padStart(6)} µs   frontDoor / default = ${r.ratio.toFixed(2)}`)
  }
}
