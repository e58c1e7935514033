import { createMPT, createMerkleProof, verifyMerkleRangeProof } from '@ethereumjs/mpt'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import { expect } from 'aegir/chai'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { buildTrie, genesisAccounts, sliceBounds, sliceOf, StateStore, TrieReader, responsibleSlices, decodeAccount, InvalidProofError } from '../src/index.ts'
import { Response } from '../src/pb/slice-sync.ts'
import { verifyRange } from '../src/protocol.ts'
import { mainnet, MAINNET_ROOT } from './fixtures.ts'

const store = new StateStore()
const { root, accounts } = store.load(genesisAccounts(mainnet))
const reader = store.reader

function rangeResponse (origin: Uint8Array, limit: Uint8Array, maxCount?: number): Response {
  const { entries, complete } = reader.range(root, origin, limit, { maxCount })
  const last = complete ? limit : entries[entries.length - 1].key
  return { status: 0, error: '', entries, proof: [...reader.prove(root, origin), ...reader.prove(root, last)], complete, codes: [], headers: [], storageProof: [], root: new Uint8Array(0) } as any
}

describe('state trie', () => {
  it('the mainnet genesis from @ethereumjs/genesis has 8,893 accounts and root 0xd7f8974f…0544', () => {
    expect(accounts).to.equal(8893)
    expect(bytesToHex(root)).to.equal(MAINNET_ROOT)
  })

  it('builds the same root as @ethereumjs/mpt and its proofs verify with verifyMerkleProof', async () => {
    const entries = reader.range(root, new Uint8Array(32), new Uint8Array(32).fill(0xff)).entries.slice(0, 300)
    const trie = await createMPT({ useKeyHashing: false })
    for (const e of entries) {
      await trie.put(e.key, e.value)
    }
    const nodes = new Map()
    expect(bytesToHex(buildTrie(nodes, entries))).to.equal(bytesToHex(trie.root()))
    const proof = await createMerkleProof(trie, entries[7].key)
    expect(new TrieReader(nodes).prove(trie.root(), entries[7].key).map(bytesToHex)).to.deep.equal(proof.map(bytesToHex))
  })

  it('reads an account by keccak256(address)', () => {
    const address = '0x000d836201318ec6899a67540690382780743280'
    const value = reader.get(root, keccak256(hexToBytes(address)))
    expect(value).to.not.be.null()
    expect(decodeAccount(value as Uint8Array).balance).to.equal(BigInt(mainnet[address] as string))
  })

  it('a slice is the keys with its k-nibble prefix; slices tile the key space', () => {
    const k = 2
    let total = 0
    for (let s = 0; s < 256; s++) {
      const { start, end } = sliceBounds(s, k)
      expect(sliceOf(start, k)).to.equal(s)
      expect(sliceOf(end, k)).to.equal(s)
      total += reader.range(root, start, end).entries.length
    }
    expect(total).to.equal(8893)
    expect(sliceBounds(0xab, 2).start[0]).to.equal(0xab)
    expect(bytesToHex(sliceBounds(0xabc, 3).end.subarray(0, 3))).to.equal('0xabcfff')
  })

  it('responsibility: radius r gives r + 1 slices around the position by XOR distance', () => {
    expect(responsibleSlices(5, 1, 3)).to.deep.equal([5, 4, 7, 6])
    expect(responsibleSlices(5, 1, 100)).to.have.length(16)
    expect(responsibleSlices(0, 2, 0)).to.deep.equal([0])
  })

  it('a whole slice verifies with verifyMerkleRangeProof from its edge proofs, and so does an empty range', async () => {
    const { start, end } = sliceBounds(3, 1)
    const response = rangeResponse(start, end)
    expect(response.complete).to.be.true()
    const { entries } = await verifyRange(root, start, end, response)
    expect(entries.length).to.be.greaterThan(500)
    // a range with no account in it (between two adjacent keys)
    const a = entries[10].key
    const b = entries[11].key
    const inside = new Uint8Array(a)
    inside[31] = (inside[31] + 1) & 0xff
    const upper = new Uint8Array(b)
    upper[31] = (upper[31] - 1) & 0xff
    if (bytesToHex(inside) < bytesToHex(upper)) {
      await verifyRange(root, inside, upper, rangeResponse(inside, upper))
    }
  })

  it('a truncated range (count limit) verifies and continues from its last key', async () => {
    const { start, end } = sliceBounds(9, 1)
    const response = rangeResponse(start, end, 100)
    expect(response.complete).to.be.false()
    expect(response.entries).to.have.length(100)
    await verifyRange(root, start, end, response)
    expect(await verifyMerkleRangeProof(root, start, response.entries[99].key, response.entries.map(e => e.key), response.entries.map(e => e.value), response.proof)).to.be.true()
  })

  it('rejects a range with a wrong balance, a gap, a forged proof, a truncated proof, or keys out of order', async () => {
    const { start, end } = sliceBounds(5, 1)
    const honest = rangeResponse(start, end)

    const wrongBalance = structuredClone(honest)
    const victim = decodeAccount(wrongBalance.entries[3].value)
    const { encodeAccount } = await import('../src/index.ts')
    wrongBalance.entries[3].value = (encodeAccount as any)({ ...victim, balance: victim.balance + 1n })
    await expect(verifyRange(root, start, end, wrongBalance)).to.eventually.be.rejected.with.property('name', 'InvalidProofError')

    const gap = structuredClone(honest)
    gap.entries.splice(20, 1)
    await expect(verifyRange(root, start, end, gap)).to.eventually.be.rejectedWith(InvalidProofError)

    const forged = structuredClone(honest)
    // forge a node that occurs once (the edge paths share their upper nodes)
    const once = forged.proof.findIndex(n => forged.proof.filter(m => bytesToHex(m) === bytesToHex(n)).length === 1)
    forged.proof[once] = new Uint8Array(forged.proof[once]).fill(7, 10, 20)
    await expect(verifyRange(root, start, end, forged)).to.eventually.be.rejectedWith(InvalidProofError)

    const truncated = structuredClone(honest)
    truncated.proof = truncated.proof.slice(0, 1)
    await expect(verifyRange(root, start, end, truncated)).to.eventually.be.rejectedWith(InvalidProofError)

    const unordered = structuredClone(honest)
    unordered.entries.reverse()
    await expect(verifyRange(root, start, end, unordered)).to.eventually.be.rejectedWith(InvalidProofError)

    const claimedComplete = rangeResponse(start, end, 50)
    claimedComplete.complete = true
    await expect(verifyRange(root, start, end, claimedComplete)).to.eventually.be.rejectedWith(InvalidProofError)
  })

  it('a peer that imports verified slices can serve proofs and ranges of exactly those slices', async () => {
    const peer = new StateStore()
    const { start, end } = sliceBounds(0xc, 1)
    const { entries, proof } = await verifyRange(root, start, end, rangeResponse(start, end))
    peer.importRange(entries, proof)
    expect(peer.checkComplete(root, start, end)).to.equal(entries.length)
    const key = entries[42].key
    expect(bytesToHex(peer.reader.get(root, key) as Uint8Array)).to.equal(bytesToHex(entries[42].value))
    expect(peer.reader.prove(root, key).map(bytesToHex)).to.deep.equal(reader.prove(root, key).map(bytesToHex))
    const other = sliceBounds(0xd, 1)
    expect(() => peer.reader.range(root, other.start, other.end)).to.throw().with.property('name', 'MissingNodeError')
  })
})
