import { chmod, mkdtemp, readFile, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestNode } from '@kitsune/test-support'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'aegir/chai'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { IdentityError, loadKuboIdentity, loadOrCreateKeyFile } from '../src/index.ts'

describe('identity takeover', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kitsune-identity-'))
  })

  it('creates a missing key file as Ed25519, mode 0600, and loads the same identity again', async () => {
    const path = join(dir, 'node.key')
    const created = await loadOrCreateKeyFile(path)

    expect(created.created).to.be.true()
    expect(created.privateKey.type).to.equal('Ed25519')
    expect((await stat(path)).mode & 0o777).to.equal(0o600)
    expect(created.warnings).to.be.empty()

    const loaded = await loadOrCreateKeyFile(path)
    expect(loaded.created).to.be.false()
    expect(loaded.peerId.toString()).to.equal(created.peerId.toString())
  })

  it('runs a node under an RSA key from a key file, as the old preload nodes used', async () => {
    const rsa = await generateKeyPair('RSA', 2048)
    const path = join(dir, 'rsa.key')
    await writeFile(path, privateKeyToProtobuf(rsa), { mode: 0o600 })

    const identity = await loadOrCreateKeyFile(path)
    expect(identity.privateKey.type).to.equal('RSA')
    expect(identity.peerId.toString()).to.equal(peerIdFromPrivateKey(rsa).toString())
    expect(identity.peerId.toString()).to.match(/^Qm/)

    const node = await createTestNode({ privateKey: identity.privateKey })
    try {
      expect(node.peerId.toString()).to.equal(peerIdFromPrivateKey(rsa).toString())
    } finally {
      await node.stop()
    }
  })

  it('loads secp256k1 keys', async () => {
    const key = await generateKeyPair('secp256k1')
    const path = join(dir, 'secp.key')
    await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600 })

    const identity = await loadOrCreateKeyFile(path)
    expect(identity.privateKey.type).to.equal('secp256k1')
    expect(identity.peerId.toString()).to.equal(peerIdFromPrivateKey(key).toString())
  })

  it('takes the identity from a Kubo config file', async () => {
    const rsa = await generateKeyPair('RSA', 2048)
    const peerId = peerIdFromPrivateKey(rsa).toString()
    const path = join(dir, 'config')
    await writeFile(path, JSON.stringify({
      Identity: { PeerID: peerId, PrivKey: uint8ArrayToString(privateKeyToProtobuf(rsa), 'base64pad') },
      Addresses: { Swarm: ['/ip4/0.0.0.0/tcp/4001'] }
    }), { mode: 0o600 })

    const identity = await loadKuboIdentity(path)
    expect(identity.peerId.toString()).to.equal(peerId)

    const node = await createTestNode({ privateKey: identity.privateKey })
    try {
      expect(node.peerId.toString()).to.equal(peerId)
    } finally {
      await node.stop()
    }
  })

  it('refuses a Kubo config whose PeerID does not match its key', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const path = join(dir, 'config')
    await writeFile(path, JSON.stringify({
      Identity: { PeerID: peerIdFromPrivateKey(other).toString(), PrivKey: uint8ArrayToString(privateKeyToProtobuf(key), 'base64pad') }
    }))

    await expect(loadKuboIdentity(path)).to.eventually.be.rejected.with.property('name', 'IdentityError')
  })

  it('names the path and the reason for a Kubo config without a key or not JSON', async () => {
    const noKey = join(dir, 'no-key')
    await writeFile(noKey, JSON.stringify({ Identity: {} }))
    const err = await loadKuboIdentity(noKey).catch(err => err)
    expect(err).to.be.instanceOf(IdentityError)
    expect(err.message).to.include(noKey).and.include('Identity.PrivKey')

    const notJson = join(dir, 'not-json')
    await writeFile(notJson, 'Identity = nope')
    const err2 = await loadKuboIdentity(notJson).catch(err => err)
    expect(err2.message).to.include(notJson).and.include('not a JSON')
  })

  it('warns when a key file is readable by others', async () => {
    const path = join(dir, 'open.key')
    await loadOrCreateKeyFile(path)
    await chmod(path, 0o644)

    const identity = await loadOrCreateKeyFile(path)
    expect(identity.warnings).to.have.lengthOf(1)
    expect(identity.warnings[0]).to.include(path).and.include('644')
  })

  it('fails with the path and the reason for a file that is not a key', async () => {
    const path = join(dir, 'garbage.key')
    await writeFile(path, 'this is not a protobuf key')
    const err = await loadOrCreateKeyFile(path).catch(err => err)
    expect(err).to.be.instanceOf(IdentityError)
    expect(err.path).to.equal(path)
    expect(err.message).to.include('not a libp2p protobuf private key')
    // the bad file is left alone, never overwritten with a new key
    expect(await readFile(path, 'utf8')).to.equal('this is not a protobuf key')
  })

  it('fails with the path and the reason for an unreadable key file', async () => {
    const path = join(dir, 'a-directory.key')
    await mkdir(path)
    const err = await loadOrCreateKeyFile(path).catch(err => err)
    expect(err).to.be.instanceOf(IdentityError)
    expect(err.message).to.include(path).and.include('EISDIR')
  })
})
