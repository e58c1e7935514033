/**
 * The page's limits. Each can be changed per page load with a query
 * parameter of the same name (see `params.js`).
 */

/**
 * How long dialling the proxy, fetching a CID, or preloading may take, in ms
 * (`&timeout=<ms>`)
 *
 * @default 30000
 */
export const TIMEOUT = 30_000

/**
 * The most bytes of fetched content the page reads and shows
 * (`&maxContentBytes=<n>`); a larger file ends in `error: …`
 *
 * @default 1048576
 */
export const MAX_CONTENT_BYTES = 1024 * 1024

/**
 * The most bytes of text `&add=` may carry (UTF-8)
 *
 * @default 65536
 */
export const MAX_ADD_BYTES = 64 * 1024

/**
 * The most NDJSON bytes of the preload answer the page reads before it
 * gives up (a recursive refs answer has one line per block)
 *
 * @default 16777216
 */
export const MAX_PRELOAD_RESPONSE_BYTES = 16 * 1024 * 1024
