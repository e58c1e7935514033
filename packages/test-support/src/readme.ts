/**
 * Helpers for the tests that keep a package README's options tables true
 * against the TSDoc of its `Init` interfaces
 */

/**
 * The options of an interface in a source file, each with the `@default` of
 * its TSDoc (if it has one), in the order they are declared. Only the
 * interface's own members: merge the maps of the interfaces it extends.
 */
export function tsdocOptions (source: string, name: string): Map<string, string | undefined> {
  const start = source.search(new RegExp(`export interface ${name}\\b[^{]*\\{`))
  if (start === -1) {
    throw new Error(`interface ${name} not found`)
  }
  const body = source.slice(source.indexOf('{', start) + 1, source.indexOf('\n}\n', start))
  const options = new Map<string, string | undefined>()
  for (const [, doc, option] of body.matchAll(/(?:\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*)?^ {2}(\w+)\??:/gm)) {
    options.set(option, doc == null ? undefined : /@default\s+(.+)/.exec(doc)?.[1].trim())
  }
  return options
}

/**
 * The tables of a README section (from `heading` to the next heading of the
 * same level), each as its rows: the first column's `name` → the second
 * column's text
 */
export function markdownTables (readme: string, heading: string): Array<Map<string, string>> {
  const start = readme.indexOf(`\n${heading}\n`)
  if (start === -1) {
    throw new Error(`section "${heading}" not found`)
  }
  const level = heading.split(' ')[0]
  const end = readme.indexOf(`\n${level} `, start + heading.length + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  const tables: Array<Map<string, string>> = []
  let current: Map<string, string> | undefined
  for (const line of section.split('\n')) {
    const row = /^\| `(\w+)` \| ([^|]+) \|/.exec(line)
    if (row == null) {
      if (!line.startsWith('|')) {
        current = undefined
      }
      continue
    }
    if (current == null) {
      current = new Map()
      tables.push(current)
    }
    current.set(row[1], row[2].trim())
  }
  return tables
}

const MiB = 1024 * 1024

/**
 * A default as a comparable string: quotes and backticks dropped, `4 MiB` is
 * 4194304, `5 s` is 5000 (ms), `1_000` is 1000
 */
export function normaliseDefault (value: string): string {
  const text = value.replace(/`/g, '').replace(/_/g, '').trim()
  const mib = /^(\d+) MiB$/.exec(text)
  if (mib != null) {
    return String(Number(mib[1]) * MiB)
  }
  const seconds = /^(\d+) s$/.exec(text)
  if (seconds != null) {
    return String(Number(seconds[1]) * 1000)
  }
  return text
}
