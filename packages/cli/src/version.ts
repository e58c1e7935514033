import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let cached: string | undefined

/**
 * The version of `@kitsune/cli`, read from its package.json (found by walking
 * up from this file, which sits in `src/` or `dist/src/`)
 */
export function version (): string {
  if (cached != null) {
    return cached
  }

  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      if (pkg.name === '@kitsune/cli') {
        cached = String(pkg.version)
        return cached
      }
    } catch {
      // not here; try the parent directory
    }
    dir = dirname(dir)
  }

  cached = '0.0.0'
  return cached
}
