import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { IdentityError } from './errors.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export type KeyFileType = 'Ed25519' | 'secp256k1' | 'RSA'

export interface LoadedIdentity {
  privateKey: PrivateKey
  peerId: PeerId
  /** Where the key came from */
  path: string
  /** True when the key file did not exist and was created */
  created: boolean
  /** Things an operator should hear about, such as a key readable by others */
  warnings: string[]
}

export interface LoadKeyFileOptions {
  /**
   * The type of key to create when the file is missing
   *
   * @default 'Ed25519'
   */
  type?: KeyFileType
}

/**
 * Loads a libp2p private key from a file holding its protobuf encoding (the
 * format of `ipfs key export` and of the original Kitsune key file). RSA,
 * Ed25519 and secp256k1 keys are accepted. A missing file is created with a
 * new key, readable by its owner only.
 */
export async function loadOrCreateKeyFile (path: string, options: LoadKeyFileOptions = {}): Promise<LoadedIdentity> {
  let bytes: Uint8Array

  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.code !== 'ENOENT') {
      throw new IdentityError(path, `cannot read key file (${err.code ?? err.message})`, { cause: err })
    }

    const privateKey = await generateKeyPair(options.type ?? 'Ed25519')
    try {
      await writeFile(path, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' })
    } catch (err: any) {
      throw new IdentityError(path, `cannot create key file (${err.code ?? err.message})`, { cause: err })
    }
    await chmod(path, 0o600)

    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), path, created: true, warnings: [] }
  }

  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err: any) {
    throw new IdentityError(path, `not a libp2p protobuf private key (${err.message})`, { cause: err })
  }

  return {
    privateKey,
    peerId: peerIdFromPrivateKey(privateKey),
    path,
    created: false,
    warnings: await permissionWarnings(path)
  }
}

/**
 * Loads the identity of a Kubo (go-ipfs) node from its config file
 * (`Identity.PrivKey`, base64 of the protobuf private key), and checks it
 * against `Identity.PeerID` when that is present.
 */
export async function loadKuboIdentity (path: string): Promise<LoadedIdentity> {
  let config: any

  try {
    config = JSON.parse(await readFile(path, 'utf8'))
  } catch (err: any) {
    throw new IdentityError(path, err.code != null ? `cannot read Kubo config (${err.code})` : `not a JSON Kubo config (${err.message})`, { cause: err })
  }

  const encoded = config?.Identity?.PrivKey
  if (typeof encoded !== 'string' || encoded === '') {
    throw new IdentityError(path, 'Kubo config has no Identity.PrivKey')
  }

  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(uint8ArrayFromString(encoded, 'base64pad'))
  } catch (err: any) {
    throw new IdentityError(path, `Identity.PrivKey is not a base64 protobuf private key (${err.message})`, { cause: err })
  }

  const peerId = peerIdFromPrivateKey(privateKey)
  const declared = config.Identity.PeerID
  if (typeof declared === 'string' && declared !== '' && declared !== peerId.toString()) {
    throw new IdentityError(path, `Identity.PeerID ${declared} does not match the key's peer id ${peerId.toString()}`)
  }

  return { privateKey, peerId, path, created: false, warnings: await permissionWarnings(path) }
}

async function permissionWarnings (path: string): Promise<string[]> {
  const { mode } = await stat(path)
  if ((mode & 0o077) !== 0) {
    return [`${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`]
  }
  return []
}
