/**
 * A real Chromium for browser tests: the system's `chromium` (Debian's
 * package; `.ci/run` installs it), driven headless by `playwright-core`.
 * Browsers cannot be downloaded here, so the executable is found on the
 * machine, never fetched.
 *
 * The flags keep the browser off the network on its own: no background
 * networking, component updates, sync or QUIC probes. A page may still
 * contact what its own code asks for, which is what the tests check.
 */

import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, LaunchOptions } from 'playwright-core'

/**
 * Where the Chromium executable is looked for when neither the `executablePath`
 * option nor the `CHROMIUM_PATH` environment variable names one: these
 * paths, then `chromium` and `chromium-browser` on the `PATH`
 *
 * @default ['/usr/bin/chromium', '/usr/bin/chromium-browser']
 */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser']

/**
 * The flags every test browser starts with: no sandbox (CI runs as root),
 * no GPU, and nothing that reaches the network behind the test's back
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--metrics-recording-only',
  '--no-default-browser-check'
]

/**
 * How long launching Chromium may take, in ms
 *
 * @default 30000
 */
export const CHROMIUM_LAUNCH_TIMEOUT = 30_000

export interface LaunchChromiumOptions {
  /**
   * The Chromium binary
   *
   * @default process.env.CHROMIUM_PATH, else the first of {@link CHROMIUM_PATHS} or `chromium` on the PATH
   */
  executablePath?: string
  /** Flags added after {@link CHROMIUM_ARGS} */
  args?: string[]
  /**
   * How long the launch may take, in ms
   *
   * @default 30000
   */
  timeout?: number
  /** Other `playwright-core` launch options, applied last */
  launchOptions?: LaunchOptions
}

/**
 * Thrown when no Chromium executable can be found
 */
export class ChromiumNotFoundError extends Error {
  static name = 'ChromiumNotFoundError'
  name = 'ChromiumNotFoundError'
}

function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * The Chromium executable a test browser runs: the given path,
 * `CHROMIUM_PATH`, one of {@link CHROMIUM_PATHS}, or `chromium` /
 * `chromium-browser` on the `PATH`. Throws a {@link ChromiumNotFoundError}
 * that says how to install it.
 */
export function findChromium (executablePath?: string): string {
  const given = executablePath ?? process.env.CHROMIUM_PATH
  if (given != null && given !== '') {
    if (!executable(given)) {
      throw new ChromiumNotFoundError(`Chromium is not executable at ${given}`)
    }
    return given
  }
  const onPath = (process.env.PATH ?? '').split(delimiter)
    .filter(dir => dir !== '')
    .flatMap(dir => [join(dir, 'chromium'), join(dir, 'chromium-browser')])
  const found = [...CHROMIUM_PATHS, ...onPath].find(executable)
  if (found == null) {
    throw new ChromiumNotFoundError('no Chromium found: install Debian\'s package (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH')
  }
  return found
}

/**
 * Launches the system's Chromium headless, with {@link CHROMIUM_ARGS}.
 * Close it with `browser.close()`.
 *
 * @example
 *
 * ```ts
 * import { launchChromium } from '@kitsune/test-support'
 *
 * const browser = await launchChromium()
 * const page = await browser.newPage()
 * await page.goto('http://127.0.0.1:8080/')
 * await browser.close()
 * ```
 */
export async function launchChromium (options: LaunchChromiumOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(options.executablePath),
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    timeout: options.timeout ?? CHROMIUM_LAUNCH_TIMEOUT,
    // a test that dies must not leave a browser behind
    handleSIGINT: true,
    handleSIGTERM: true,
    handleSIGHUP: true,
    ...options.launchOptions
  })
}

export type { Browser, BrowserContext, Page } from 'playwright-core'
