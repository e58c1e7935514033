/**
 * Tiny statistics and formatting helpers shared by the benchmarks.
 */

export const MB = 1e6
export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

/**
 * The p-th percentile (0-100) of `values`, nearest-rank on a sorted copy
 *
 * @param {number[]} values
 * @param {number} p
 */
export function percentile (values, p) {
  if (values.length === 0) {
    return NaN
  }
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/**
 * Middle value; the mean of the two middle values for an even count
 *
 * @param {number[]} values
 */
export function median (values) {
  if (values.length === 0) {
    return NaN
  }
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** @param {number[]} values */
export function mean (values) {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** @param {number[]} values */
export function min (values) {
  return values.length === 0 ? NaN : Math.min(...values)
}

/** @param {number[]} values */
export function max (values) {
  return values.length === 0 ? NaN : Math.max(...values)
}

/**
 * Summary of a latency sample set, in ms
 *
 * @param {number[]} values
 */
export function summarize (values) {
  return {
    samples: values.length,
    min: round(min(values), 3),
    p50: round(percentile(values, 50), 3),
    p90: round(percentile(values, 90), 3),
    p99: round(percentile(values, 99), 3),
    max: round(max(values), 3),
    mean: round(mean(values), 3)
  }
}

/**
 * @param {number} value
 * @param {number} [digits]
 */
export function round (value, digits = 2) {
  if (!Number.isFinite(value)) {
    return value
  }
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/**
 * Fixed-width number for tables
 *
 * @param {number} value
 * @param {number} [digits]
 * @param {number} [width]
 */
export function fmt (value, digits = 2, width = 0) {
  const s = Number.isFinite(value) ? value.toFixed(digits) : String(value)
  return s.padStart(width)
}

/**
 * Renders rows (arrays of strings) as an aligned text table; the first row is
 * the header. Columns after the first are right-aligned.
 *
 * @param {string[][]} rows
 */
export function table (rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => String(r[i] ?? '').length)))
  const line = (r) => r.map((c, i) => i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])).join('  ')
  const out = [line(rows[0]), widths.map(w => '-'.repeat(w)).join('  ')]
  for (const r of rows.slice(1)) {
    out.push(line(r))
  }
  return out.join('\n')
}
