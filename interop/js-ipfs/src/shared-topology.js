/**
 * One `kitsune node` and `kitsune proxy` shared by the tests of a
 * `describe()` block, and the js-ipfs nodes its tests start, all stopped
 * after the block
 */
import { after, before } from 'node:test'
import { stopAll } from './ipfs.js'
import { startTopology } from './kitsune.js'

/**
 * Call inside `describe()`; read `.topology` inside the tests, and push
 * the js-ipfs nodes a test starts onto `.nodes`
 *
 * @param {Parameters<typeof startTopology>[0]} [options]
 */
export function sharedTopology (options) {
  const shared = {
    /** @type {Awaited<ReturnType<typeof startTopology>>} */
    topology: /** @type {any} */ (undefined),
    /** @type {Array<{ stop(): Promise<void> }>} */
    nodes: []
  }
  before(async () => {
    shared.topology = await startTopology(options)
  })
  after(async () => {
    await stopAll(shared.nodes)
    await shared.topology?.stop()
  })
  return shared
}
