/**
 * Asks a downstream (`kitsune node`) directly, through its Kubo RPC API,
 * whether it holds a whole DAG
 */

/**
 * `POST /api/v0/refs?recursive=true&arg=<cid>` on the downstream's API: the
 * refs it returns and the errors in its body. With nobody else holding the
 * DAG, a quick answer without errors means the downstream holds it all.
 *
 * @param {string} api - `http://host:port`
 * @param {string | { toString(): string }} cid
 * @param {number} [timeout]
 */
export async function downstreamRefs (api, cid, timeout = 15_000) {
  const url = new URL('/api/v0/refs', api)
  url.searchParams.set('arg', cid.toString())
  url.searchParams.set('recursive', 'true')
  const response = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(timeout) })
  const body = await response.text()
  const lines = body.split('\n').filter(line => line.trim() !== '').map(line => JSON.parse(line))
  return {
    status: response.status,
    refs: lines.filter(line => line.Err === '' || line.Err == null).map(line => line.Ref).filter(ref => ref != null && ref !== ''),
    errors: lines.map(line => line.Err ?? line.Message).filter(err => err != null && err !== '')
  }
}
