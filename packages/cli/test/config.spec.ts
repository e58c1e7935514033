import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { CONFIG_KEYS, parseGetArgs, parseMetricsListen, parseProxyArgs, parseRoute } from '../src/config.ts'
import { fetchCommand } from '../src/embedded.ts'
import { UsageError } from '../src/errors.ts'

const PEER = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'

describe('config', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kitsune-config-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('has safe defaults', async () => {
    const parsed = await parseProxyArgs([])
    expect(parsed).to.deep.equal({
      help: false,
      options: {
        key: undefined,
        kuboConfig: undefined,
        listen: [],
        announce: [],
        downstreams: [],
        downstreamApis: [],
        routes: [],
        metricsListen: undefined,
        json: false,
        bitswap: true,
        frontDoor: {},
        pool: {}
      }
    })
  })

  it('parses repeatable flags, negations and routes', async () => {
    const parsed = await parseProxyArgs([
      '--listen', '/ip4/0.0.0.0/tcp/4001', '--listen', '/ip4/0.0.0.0/tcp/4002/ws',
      '--downstream', `/ip4/10.0.0.1/tcp/4001/p2p/${PEER}`,
      '--downstream-api', 'http://10.0.0.2:5001', '--downstream-api', '/ip4/10.0.0.3/tcp/5001',
      '--route', 'dht=hash', '--route', '/my-app/1.0.0',
      '--no-bitswap', '--json'
    ])
    if (parsed.help) {
      throw new Error('no help asked')
    }
    expect(parsed.options.listen).to.have.lengthOf(2)
    expect(parsed.options.downstreamApis).to.deep.equal(['http://10.0.0.2:5001', '/ip4/10.0.0.3/tcp/5001'])
    expect(parsed.options.routes).to.deep.equal([
      { protocols: ['/ipfs/kad/1.0.0'], strategy: 'hash' },
      { protocols: ['/my-app/1.0.0'], strategy: 'sticky' }
    ])
    expect(parsed.options.bitswap).to.be.false()
    expect(parsed.options.json).to.be.true()
  })

  it('merges a config file under the flags', async () => {
    const file = join(dir, 'proxy.json')
    await writeFile(file, JSON.stringify({
      key: 'id.key',
      listen: '/ip4/127.0.0.1/tcp/4001',
      route: [{ protocols: ['/a/1.0.0'], strategy: 'hash', maxStreamsPerPeer: 4 }],
      json: true,
      frontDoor: { maxConnections: 10 },
      pool: { dialTimeout: 500 }
    }))
    const parsed = await parseProxyArgs(['--config', file, '--no-json', '--listen', '/ip4/127.0.0.1/tcp/5001'])
    if (parsed.help) {
      throw new Error('no help asked')
    }
    expect(parsed.options.key).to.equal(join(dir, 'id.key'))
    expect(parsed.options.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/5001'])
    expect(parsed.options.json).to.be.false()
    expect(parsed.options.routes).to.deep.equal([{ protocols: ['/a/1.0.0'], strategy: 'hash', maxStreamsPerPeer: 4 }])
    expect(parsed.options.frontDoor).to.deep.equal({ maxConnections: 10 })
    expect(parsed.options.pool).to.deep.equal({ dialTimeout: 500 })
  })

  it('names the bad value in a one-line usage error', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--downstream', '/ip4/10.0.0.1/tcp/4001'], /must end in \/p2p\/<peer id>/],
      [['--downstream-api', 'ftp://x'], /--downstream-api/],
      [['--route', '/a/1=nope'], /unknown strategy "nope"/],
      [['--route', '/a/1', '--route', '/a/1=hash'], /names \/a\/1 twice/],
      [['--route', '/ipfs/bitswap/1.2.0'], /--no-bitswap/],
      [['--metrics-listen', 'http://127.0.0.1'], /--metrics-listen/],
      [['--kubo-config', 'c', '--key', 'k'], /give one/],
      [['--announce', '/nope'], /--announce "\/nope" is not a valid multiaddr/]
    ]
    await writeFile(join(dir, 'small-buffer.json'), JSON.stringify({ route: [{ protocols: ['/a/1'], maxBufferedBytes: 1024 }] }))
    cases.push([['--config', join(dir, 'small-buffer.json')], /maxBufferedBytes \(1024\) must be at least the stream window \(1048576/])
    for (const [args, message] of cases) {
      const err = await parseProxyArgs(args).then(() => undefined, (err: Error) => err)
      expect(err, args.join(' ')).to.be.an.instanceOf(UsageError)
      expect(err?.message, args.join(' ')).to.match(message).and.not.include('\n')
    }

    // a route may be Bitswap when the forwarder is off
    await expect(parseProxyArgs(['--route', '/ipfs/bitswap/1.2.0', '--no-bitswap'])).to.eventually.have.nested.property('options.routes[0].protocols[0]', '/ipfs/bitswap/1.2.0')
  })

  it('parses --route and --metrics-listen forms', () => {
    expect(parseRoute('/x/1.0.0=least-outstanding')).to.deep.equal({ protocols: ['/x/1.0.0'], strategy: 'least-outstanding' })
    expect(parseRoute({ protocols: ['dht', '/y/1'] })).to.deep.equal({ protocols: ['/ipfs/kad/1.0.0', '/y/1'], strategy: 'sticky' })
    expect(() => parseRoute({ protocols: ['/y/1'], idleTimeout: -1 } as any)).to.throw(UsageError)
    expect(parseMetricsListen('/ip4/127.0.0.1/tcp/9090')).to.deep.equal({ host: '127.0.0.1', port: 9090 })
    expect(parseMetricsListen('/ip6/::1/tcp/9090/http')).to.deep.equal({ host: '::1', port: 9090 })
    expect(parseMetricsListen('http://0.0.0.0:0')).to.deep.equal({ host: '0.0.0.0', port: 0 })
  })

  it('parses kitsune get', () => {
    const parsed = parseGetArgs(['bafkqaaa', '--peer', `/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`, '-o', 'out', '-t', '500'])
    if (parsed.help) {
      throw new Error('no help asked')
    }
    expect(parsed.options.cid.toString()).to.equal('bafkqaaa')
    expect(parsed.options.output).to.equal('out')
    expect(parsed.options.timeout).to.equal(500)
    expect(parseGetArgs(['--help'])).to.deep.equal({ help: true })
  })

  it('accepts the example config file of docs/cli.md', async () => {
    const doc = await readFile(new URL('../../../docs/cli.md', import.meta.url), 'utf8')
    const example = /### Example config file\n\n```json\n([\s\S]*?)```/.exec(doc)?.[1]
    expect(example).to.be.a('string')
    const config = JSON.parse(example ?? '')
    for (const key of Object.keys(config)) {
      expect(CONFIG_KEYS).to.include(key)
    }
    await writeFile(join(dir, 'example.json'), example ?? '')
    const parsed = await parseProxyArgs(['--config', join(dir, 'example.json')])
    expect(parsed).to.have.nested.property('options.routes').with.lengthOf(2)
  })

  it('prints a fetch command that works where it is printed', () => {
    const args = `get bafkqaaa --peer /ip4/127.0.0.1/tcp/1/p2p/${PEER}`
    expect(fetchCommand('bafkqaaa', `/ip4/127.0.0.1/tcp/1/p2p/${PEER}`, { script: '/usr/lib/node_modules/.bin/kitsune', env: {} })).to.equal(`kitsune ${args}`)
    expect(fetchCommand('bafkqaaa', `/ip4/127.0.0.1/tcp/1/p2p/${PEER}`, { script: '/x/node_modules/.bin/kitsune', env: { npm_command: 'exec' } })).to.equal(`npx kitsune ${args}`)
    expect(fetchCommand('bafkqaaa', `/ip4/127.0.0.1/tcp/1/p2p/${PEER}`, {
      cwd: '/repo',
      script: '/repo/packages/cli/dist/src/bin.js',
      execPath: '/opt/node-24/bin/node',
      env: { PATH: '' }
    })).to.equal(`/opt/node-24/bin/node packages/cli/dist/src/bin.js ${args}`)
  })
})
