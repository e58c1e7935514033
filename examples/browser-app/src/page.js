/**
 * What every page of the example does the same way: the `#status` element,
 * and the start: read the query string, show the form when it names no
 * work, run, and show why a run failed.
 */

/**
 * @param {string} id
 * @returns {any}
 */
export const $ = (id) => document.getElementById(id)

/**
 * @param {string} text - `connecting`, a page's final state, or `error: <reason>`
 */
export function setStatus (text) {
  $('status').textContent = text
}

/**
 * Parses `location.search` and runs the page; a bad query string, an error
 * and a timeout all end in `error: <reason>`
 *
 * @template {{ timeout: number }} P
 * @param {(query: string) => P | undefined} parse - undefined: show the form
 * @param {(params: P) => Promise<void>} run
 */
export function startPage (parse, run) {
  const main = async () => {
    let params
    try {
      params = parse(location.search)
    } catch (err) {
      setStatus(`error: ${err.message}`)
      return
    }
    if (params == null) {
      return
    }
    try {
      await run(params)
    } catch (err) {
      setStatus(`error: ${err.name === 'TimeoutError' ? `timed out after ${params.timeout} ms` : err.message}`)
    }
  }
  main().catch(err => { setStatus(`error: ${err.message}`) })
}
