import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import type { ICryptoInterface } from '@libp2p/noise'
import type { KeyObject } from 'node:crypto'

const CHACHA20_POLY1305 = 'chacha20-poly1305'
const TAG_LENGTH = 16

/**
 * Below this size @libp2p/noise's default uses its WebAssembly cipher, which
 * is faster there; we keep that split
 */
const NODE_CIPHER_THRESHOLD = 1200

/**
 * One imported key per noise session: CipherState passes the same `k` array
 * for every message of a session, so it is the cache key, and the entry goes
 * when the session does
 */
const keys = new WeakMap<Uint8Array, KeyObject>()

function keyObject (k: Uint8Array): KeyObject {
  let key = keys.get(k)
  if (key == null) {
    key = createSecretKey(k)
    keys.set(k, key)
  }
  return key
}

function encrypt (plaintext: Uint8Array | Uint8ArrayList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array | Uint8ArrayList {
  if (plaintext.byteLength < NODE_CIPHER_THRESHOLD) {
    return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
  }

  const cipher = createCipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: TAG_LENGTH })
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  const output = new Uint8ArrayList()
  for (const chunk of plaintext instanceof Uint8Array ? [plaintext] : plaintext) {
    output.append(cipher.update(chunk))
  }
  output.append(cipher.final(), cipher.getAuthTag())
  return output
}

function decrypt (ciphertext: Uint8Array | Uint8ArrayList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst?: Uint8Array): Uint8Array | Uint8ArrayList {
  if (ciphertext.byteLength < NODE_CIPHER_THRESHOLD) {
    return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
  }

  const textLength = ciphertext.byteLength - TAG_LENGTH
  const decipher = createDecipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: TAG_LENGTH })
  decipher.setAAD(ad, { plaintextLength: textLength })
  decipher.setAuthTag(ciphertext.subarray(textLength))
  const text = ciphertext instanceof Uint8Array ? [ciphertext.subarray(0, textLength)] : ciphertext.sublist(0, textLength)
  const output = new Uint8ArrayList()
  for (const chunk of text) {
    output.append(decipher.update(chunk))
  }
  output.append(decipher.final())
  return output
}

/**
 * The noise crypto of a front door: @libp2p/noise's own Node.js
 * implementation, except that each session's ChaCha20-Poly1305 key is
 * imported once instead of once per message. A proxy decrypts and
 * re-encrypts every byte it bridges, and re-importing the key was about a
 * third of its cipher time. Same algorithm, same bytes on the wire; peers
 * need nothing special.
 *
 * @example
 *
 * ```typescript
 * import { noise } from '@libp2p/noise'
 * import { frontDoorNoiseCrypto } from '@kitsune/proxy'
 *
 * const encrypter = noise({ crypto: frontDoorNoiseCrypto })
 * ```
 */
export const frontDoorNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: encrypt,
  chaCha20Poly1305Decrypt: decrypt
}
