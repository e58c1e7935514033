/**
 * The page: reads `?peer=<multiaddr>&preload=<url>` plus `&cid=<cid>`
 * (fetch it through the proxy and show it) or `&add=<text>` (add it, then
 * preload it). Its state goes to `#status`: `connecting`, `fetched`,
 * `preloaded`, or `error: <reason>`; fetched text to `#content`; the added
 * CID to `#added-cid`. Other tooling drives the page through exactly these.
 */

import { unixfs } from '@helia/unixfs'
import { createPageNode } from './node.js'
import { parseParams } from './params.js'
import { preloadCid } from './preload.js'
import { $, setStatus, startPage } from './page.js'


/**
 * @param {import('./params.js').PageParams} params
 */
async function run (params) {
  setStatus('connecting')
  const helia = await createPageNode(params.peerId)
  // for tests and curious users: the running node
  globalThis.helia = helia
  const signal = () => AbortSignal.timeout(params.timeout)

  await helia.libp2p.dial(params.peer, { signal: signal() })
  const fs = unixfs(helia)

  if (params.cid != null) {
    const chunks = []
    let length = 0
    for await (const chunk of fs.cat(params.cid, { signal: signal() })) {
      length += chunk.byteLength
      if (length > params.maxContentBytes) {
        throw new Error(`the content is larger than ${params.maxContentBytes} bytes (maxContentBytes)`)
      }
      chunks.push(chunk)
    }
    const bytes = new Uint8Array(length)
    let offset = 0
    for (const chunk of chunks) {
      bytes.set(chunk, offset)
      offset += chunk.byteLength
    }
    $('content').textContent = new TextDecoder().decode(bytes)
    setStatus('fetched')
    return
  }

  const cid = await fs.addBytes(new TextEncoder().encode(params.add), { signal: signal() })
  $('added-cid').textContent = cid.toString()
  await preloadCid(params.preload, cid, { signal: signal() })
  setStatus('preloaded')
}

function fillForms () {
  const search = new URLSearchParams(location.search)
  for (const form of ['fetch', 'add']) {
    for (const name of ['peer', 'preload']) {
      const input = $(`${form}-${name}`)
      input.value = search.get(name) ?? ''
    }
  }
  $('fetch-cid').value = search.get('cid') ?? ''
  $('add-text').value = search.get('add') ?? ''
}

fillForms()
startPage(parseParams, run)
