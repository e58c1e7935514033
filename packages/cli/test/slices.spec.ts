import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getGenesis } from '@ethereumjs/genesis'
import { expect } from 'aegir/chai'
import { renderHelp } from '../src/help.ts'
import { slicesAccountCommand, slicesBridgeCommand, slicesNodeCommand } from '../src/schema/slices.ts'
import { JsonProcess, run } from './fixtures.ts'

const MAINNET_ROOT = '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544'
const mainnet = getGenesis(1) as Record<string, string>

// the real EVM and its JSON-RPC server from @kitsune/slice-sync's tests (.ts,
// run directly; imported by URL so the cli's build does not compile them)
const SLICE_SYNC_TEST = new URL('../../slice-sync/test/', import.meta.url)

function hex (bytes: Uint8Array): string {
  return '0x' + Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')
}

describe('kitsune slices', function () {
  this.timeout(120_000)
  const processes: JsonProcess[] = []

  const cleanups: Array<() => Promise<void> | void> = []

  after(async () => {
    processes.forEach(p => { p.kill() })
    for (const cleanup of cleanups) {
      await cleanup()
    }
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
    // the reason once, not once per peer that passed the question on
    expect(unknown.stderr.match(/no peer answered/g)).to.have.length(1)
    expect(unknown.stderr.match(/not held at this root/g)).to.have.length(1)

    expect(await node.stop('SIGTERM')).to.deep.equal({ code: 0, signal: null })
    expect(node.events.at(-1)).to.deep.equal({ event: 'stopped' })
    expect(await bridge.stop('SIGINT')).to.deep.equal({ code: 0, signal: null })
  })

  it('bridge --rpc follows the heads of a JSON-RPC server backed by a real EVM: a block of real transactions reaches the bridge and a node, at the EVM\'s state root', async () => {
    const { CONTRACT_INIT, EvmChain } = await import(new URL('evm.ts', SLICE_SYNC_TEST).href)
    const { startRpcServer } = await import(new URL('rpc-server.ts', SLICE_SYNC_TEST).href)
    const alloc = EvmChain.fund(Object.fromEntries(Object.entries(mainnet).slice(0, 100)))
    const evm = await EvmChain.create(alloc)
    const rpc = await startRpcServer(evm)
    cleanups.push(() => { rpc.server.close() })
    const dir = await mkdtemp(join(tmpdir(), 'kitsune-slices-'))
    cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const genesisFile = join(dir, 'genesis.json')
    await writeFile(genesisFile, JSON.stringify({ alloc }))
    const genesisRoot = hex(evm.head.header.stateRoot)

    const bridge = new JsonProcess(['slices', 'bridge', '--genesis', genesisFile, '--rpc', rpc.url, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    processes.push(bridge)
    const ready = await bridge.event('ready', 60_000)
    expect(ready.stateRoot).to.equal(genesisRoot)
    expect(ready.accounts).to.equal(101)

    const node = new JsonProcess(['slices', 'node', '--bootstrap', ready.multiaddrs[0], '--trusted-root', genesisRoot, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    processes.push(node)
    const synced = await node.event('synced', 60_000)
    expect(synced.stateRoot).to.equal(genesisRoot)

    // a transfer and a contract creation that writes storage
    const first = await evm.block([{ to: evm.sender, value: 5n }, { data: CONTRACT_INIT }])
    const expected = { event: 'block', number: 1, hash: hex(first.block.hash()), stateRoot: hex(first.block.header.stateRoot) }
    expect(await bridge.event('block', 30_000)).to.deep.equal(expected)
    expect(await node.event('block', 30_000)).to.deep.equal(expected)
    expect(rpc.calls).to.include.members(['debug_getRawHeader', 'debug_traceBlockByNumber', 'eth_getProof'])

    expect(await node.stop('SIGTERM')).to.deep.equal({ code: 0, signal: null })
    expect(await bridge.stop('SIGTERM')).to.deep.equal({ code: 0, signal: null })
  })

  it('usage errors exit 2 with the reason; an unreachable --rpc exits 1 with the reason', async () => {
    const noGenesis = await run(['slices', 'bridge', '--json'])
    expect(noGenesis.code).to.equal(2)
    expect(noGenesis.stderr).to.match(/genesis is required/)
    const badRoot = await run(['slices', 'node', '--bootstrap', '/ip4/127.0.0.1/tcp/1', '--trusted-root', '0x1234'])
    expect(badRoot.code).to.equal(2)
    expect(badRoot.stderr).to.match(/not a 32-byte hex value/)
    const badAddress = await run(['slices', 'account', '0xabc', '--peer', '/ip4/127.0.0.1/tcp/1'])
    expect(badAddress.code).to.equal(2)
    const rpc = await run(['slices', 'bridge', '--genesis', 'mainnet', '--rpc', 'http://127.0.0.1:1', '--listen', '/ip4/127.0.0.1/tcp/0'])
    expect(rpc.code).to.equal(1)
    expect(rpc.stderr).to.match(/cannot start the node/)
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
