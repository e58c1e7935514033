import { MAX_PRELOAD_RESPONSE_BYTES } from './constants.js'

/**
 * A preload call that did not end in a 200 with every line clean
 */
export class PreloadError extends Error {
  name = 'PreloadError'
}

/**
 * Asks a preload endpoint to fetch and keep a DAG, as js-ipfs did: `POST
 * <preload>/api/v0/refs?r=true&arg=<cid>` with no body and no headers (a
 * CORS "simple" request), then read the body to its end. Unlike js-ipfs, it
 * also reads the NDJSON lines: Kubo's and Kitsune's endpoints answer 200 at
 * once and report a failure in an `Err` line, so only a clean end means a
 * downstream holds the DAG.
 *
 * @param {URL} preload - the endpoint's base URL
 * @param {import('multiformats/cid').CID} cid
 * @param {{ signal?: AbortSignal, maxResponseBytes?: number }} [options]
 * @returns {Promise<{ refs: number }>}
 */
export async function preloadCid (preload, cid, options = {}) {
  const maxResponseBytes = options.maxResponseBytes ?? MAX_PRELOAD_RESPONSE_BYTES
  const url = new URL(`api/v0/refs?r=true&arg=${encodeURIComponent(cid.toString())}`, preload.href.endsWith('/') ? preload : `${preload.href}/`)
  const response = await fetch(url, { method: 'POST', signal: options.signal })

  if (response.status !== 200 || response.body == null) {
    const text = (await response.text()).trim().slice(0, 200)
    throw new PreloadError(`the preload endpoint answered ${response.status}${text === '' ? '' : `: ${text}`}`)
  }

  // drain, as js-ipfs did, and look at every line
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  let read = 0
  let refs = 0
  const onLine = (line) => {
    if (line.trim() === '') {
      return
    }
    let parsed
    try {
      parsed = JSON.parse(line)
    } catch {
      throw new PreloadError(`the preload endpoint sent a line that is not JSON: ${line.slice(0, 100)}`)
    }
    if (typeof parsed.Err === 'string' && parsed.Err !== '') {
      throw new PreloadError(`the preload endpoint failed: ${parsed.Err}`)
    }
    refs++
  }
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) {
        break
      }
      read += value.byteLength
      if (read > maxResponseBytes) {
        throw new PreloadError(`the preload answer is longer than ${maxResponseBytes} bytes`)
      }
      buffered += decoder.decode(value, { stream: true })
      let newline
      while ((newline = buffered.indexOf('\n')) !== -1) {
        onLine(buffered.slice(0, newline))
        buffered = buffered.slice(newline + 1)
      }
    }
    onLine(buffered + decoder.decode())
  } catch (err) {
    // stop reading: the endpoint sees the connection go
    await reader.cancel().catch(() => {})
    throw err
  } finally {
    reader.releaseLock()
  }
  return { refs }
}
