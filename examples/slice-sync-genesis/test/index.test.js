import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keccak256 } from 'ethereum-cryptography/keccak.js'
import { hexToBytes } from '@ethereumjs/util'
import { sliceOf } from '@kitsune/slice-sync'
import { main, MAINNET_ROOT, SLICE_NIBBLES } from '../src/index.js'

describe('slice-sync-genesis example', () => {
  it('prints an account the asking peer does not hold, with the genesis balance, verified against the mainnet genesis root', async () => {
    const lines = []
    const { address, account, held, expected } = await main({ log: line => { lines.push(line) } })
    assert.equal(held.includes(sliceOf(keccak256(hexToBytes(address)), SLICE_NIBBLES)), false)
    assert.equal(account.balance, expected)
    assert.equal(account.stateRoot, MAINNET_ROOT)
    assert.ok(account.proof.length > 0)
    assert.ok(lines.some(line => line.includes(address) && line.includes('not held by the asking peer')))
    assert.ok(lines.some(line => line.includes(`balance ${expected} wei`)))
  })
})
