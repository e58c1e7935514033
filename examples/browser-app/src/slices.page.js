/**
 * The slice-sync light peer page: joins the peers in its URL over
 * WebSockets, asks for an account at the trusted state root, and shows it
 * once its Merkle proof checks against that root (slice-sync's
 * `getAccount` verifies every answer). State goes to `#status`
 * (`connecting`, `verified`, `absent`, or `error: <reason>`); the account
 * to `#balance` (wei, decimal), `#nonce`, `#state-root` and `#proof-nodes`;
 * the slices involved to `#account-slice` and `#held-slices`.
 */

import { createLightPeer, parseSlicesParams, sliceOfAccount } from './slices.js'
import { $, setStatus, startPage } from './page.js'


/**
 * @param {import('./slices.js').SlicesParams} params
 */
async function run (params) {
  setStatus('connecting')
  $('account-slice').textContent = String(sliceOfAccount(params.account))
  const { node } = await createLightPeer(params)
  // for tests and curious users: the running node
  globalThis.libp2p = node
  $('peer-id').textContent = node.peerId.toString()
  const signal = () => AbortSignal.timeout(params.timeout)

  const dialled = await Promise.allSettled(params.peers.map(async peer => node.dial(peer, { signal: signal() })))
  if (dialled.every(result => result.status === 'rejected')) {
    throw dialled[0].reason
  }
  const account = await node.services.sliceSync.getAccount(params.account, { root: params.root, signal: signal() })
  $('held-slices').textContent = node.services.sliceSync.heldSlices().join(' ')
  if (account == null) {
    // the proof shows that no account lives at this address
    setStatus('absent')
    return
  }
  $('balance').textContent = account.balance.toString()
  $('nonce').textContent = account.nonce.toString()
  $('state-root').textContent = account.stateRoot
  $('proof-nodes').textContent = String(account.proof.length)
  setStatus('verified')
}

function fillForm () {
  const search = new URLSearchParams(location.search)
  $('form-peer').value = search.get('peer') ?? ''
  $('form-account').value = search.get('account') ?? ''
  $('form-root').value = search.get('root') ?? ''
}

fillForm()
startPage(parseSlicesParams, run)
