import { readFile } from 'node:fs/promises'
import { getGenesis } from '@ethereumjs/genesis'
import { expect } from 'aegir/chai'
import { renderHelp } from '../src/help.ts'
import { slicesAccountCommand, slicesBridgeCommand, slicesNodeCommand } from '../src/schema/slices.ts'
import { JsonProcess, run } from './fixtures.ts'

const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'
const mainnet = getGenesis(1) as Record<string, string>

describe('kitsune slices', function () {
  this.timeout(120_000)
  const processes: JsonProcess[] = []

  after(() => {
    processes.forEach(p => { p.kill() })
  })

  it('bridge, node and account: ready lines, a synced node, an account printed after its proof verified, and a clean stop on SIGTERM', async () => {
    const bridge = new JsonProcess(['slices', 'bridge', '--genesis', 'mainnet', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    processes.push(bridge)
    const ready = await bridge.event('ready', 60_000)
    expect(Object.keys(ready)).to.deep.equal(['event', 'peerId', 'multiaddrs', 'stateRoot', 'accounts'])
    expect(ready.stateRoot).to.equal(MAINNET_ROOT)
    expect(ready.accounts).to.equal(8893)
    expect(bridge.events[0]).to.equal(ready)

    const node = new JsonProcess(['slices', 'node', '--bootstrap', ready.multiaddrs[0], '--trusted-root', MAINNET_ROOT, '--radius', '1', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    processes.push(node)
    const nodeReady = await node.event('ready', 30_000)
    expect(Object.keys(nodeReady)).to.deep.equal(['event', 'peerId', 'multiaddrs', 'stateRoot'])
    const synced = await node.event('synced', 60_000)
    expect(Object.keys(synced)).to.deep.equal(['event', 'slices', 'accounts', 'stateRoot'])
    expect(synced.slices.length).to.be.at.least(2)
    expect(synced.accounts).to.be.greaterThan(0)
    expect(synced.stateRoot).to.equal(MAINNET_ROOT)

    // ask the node (not the bridge) for an account, with and without --root
    const address = Object.keys(mainnet)[1234]
    for (const extra of [[], ['--root', MAINNET_ROOT]]) {
      const result = await run(['slices', 'account', address, '--peer', nodeReady.multiaddrs[0], ...extra, '--json'], { timeout: 60_000 })
      expect(result.code, result.stderr).to.equal(0)
      const line = JSON.parse(result.stdout)
      expect(Object.keys(line)).to.deep.equal(['address', 'nonce', 'balance', 'storageRoot', 'codeHash', 'stateRoot'])
      expect(line.address).to.equal(address)
      expect(line.balance).to.equal(BigInt(mainnet[address]).toString())
      expect(line.nonce).to.equal(0)
      expect(line.stateRoot).to.equal(MAINNET_ROOT)
      expect(line.codeHash).to.equal('0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
    }

    // a root nobody holds: exit 1 with the reason
    const unknown = await run(['slices', 'account', address, '--peer', nodeReady.multiaddrs[0], '--root', `0x${'11'.repeat(32)}`, '--json'], { timeout: 60_000 })
    expect(unknown.code).to.equal(1)
    expect(unknown.stderr).to.match(/no peer answered/)

    expect(await node.stop('SIGTERM')).to.deep.equal({ code: 0, signal: null })
    expect(node.events.at(-1)).to.deep.equal({ event: 'stopped' })
    expect(await bridge.stop('SIGINT')).to.deep.equal({ code: 0, signal: null })
  })

  it('usage errors exit 2 with the reason; --rpc is refused as not implemented', async () => {
    const noGenesis = await run(['slices', 'bridge', '--json'])
    expect(noGenesis.code).to.equal(2)
    expect(noGenesis.stderr).to.match(/genesis is required/)
    const badRoot = await run(['slices', 'node', '--bootstrap', '/ip4/127.0.0.1/tcp/1', '--trusted-root', '0x1234'])
    expect(badRoot.code).to.equal(2)
    expect(badRoot.stderr).to.match(/not a 32-byte hex value/)
    const badAddress = await run(['slices', 'account', '0xabc', '--peer', '/ip4/127.0.0.1/tcp/1'])
    expect(badAddress.code).to.equal(2)
    const rpc = await run(['slices', 'bridge', '--genesis', 'mainnet', '--rpc', 'http://127.0.0.1:8545'])
    expect(rpc.code).to.equal(1)
    expect(rpc.stderr).to.match(/not implemented/)
  })

  it('--help describes every option of the three commands, and docs/cli.md has a table for each', async () => {
    const docs = await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8')
    for (const spec of [slicesBridgeCommand, slicesNodeCommand, slicesAccountCommand]) {
      const help = renderHelp(spec)
      const section = docs.split(`## \`kitsune ${spec.name}\``)[1]?.split('\n## ')[0]
      expect(section, `docs/cli.md has a section for kitsune ${spec.name}`).to.be.a('string')
      for (const name of Object.keys(spec.options.shape)) {
        const flag = name === 'address' ? '<0xaddress>' : `--${name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}`
        expect(help, `${spec.name} --help`).to.include(flag)
        expect(section, `docs/cli.md: kitsune ${spec.name} ${flag}`).to.include(`\`${flag}`)
      }
    }
  })
})
