import pWaitFor from 'p-wait-for'

/**
 * Resolves once `condition` holds: checked at once, then every `interval`
 * ms (10) until `timeout` ms (10 s) have passed, when it rejects naming
 * `what`. For "nothing happened" checks, wait for a later marker (a request
 * or message sent after the one that must have no effect, or a counter that
 * moves when it is dropped) rather than for a fixed time.
 */
export async function waitFor (condition: () => boolean | undefined | Promise<boolean | undefined>, timeout = 10_000, what = 'condition', interval = 10): Promise<void> {
  await pWaitFor(async () => (await condition()) === true, {
    interval,
    timeout: { milliseconds: timeout, message: new Error(`Timed out after ${timeout} ms waiting for ${what}`) }
  })
}
