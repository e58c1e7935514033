import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { CONFIG_KEYS, NODE_CONFIG_KEYS, parseGetArgs, parseMetricsListen, parseNodeArgs, parseProxyArgs, parseRoute } from '../src/config.ts'
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

  it('takes the options given and keeps the defaults of the rest', async () => {
    const options = async <T> (parsing: Promise<{ help: true } | { help: false, options: T }>): Promise<T> => {
      const parsed = await parsing
      if (parsed.help) {
        throw new Error('no help asked')
      }
      return parsed.options
    }

    const proxyDefaults = await options(parseProxyArgs([]))
    expect(proxyDefaults, 'no preload or metrics listener unless asked').to.include({ preloadListen: undefined, metricsListen: undefined })
    expect(await options(parseProxyArgs(['--announce', '/ip4/10.0.0.1/tcp/4001', '--json', '--no-bitswap'])))
      .to.deep.equal({ ...proxyDefaults, announce: ['/ip4/10.0.0.1/tcp/4001'], json: true, bitswap: false })

    const nodeDefaults = await options(parseNodeArgs([]))
    expect(parseMetricsListen(nodeDefaults.apiListen).host, 'the API listens on loopback unless told').to.equal('127.0.0.1')
    expect(await options(parseNodeArgs(['--api-listen', '/ip4/127.0.0.1/tcp/0', '--dht'])))
      .to.deep.equal({ ...nodeDefaults, apiListen: 'http://127.0.0.1:0', dht: true })
  })

  it('parses preload mode: --preload-listen and the "preload" object', async () => {
    const file = join(dir, 'preload.json')
    await writeFile(file, JSON.stringify({
      downstreamApi: 'http://10.0.0.2:5001',
      preloadListen: '/ip4/0.0.0.0/tcp/5001',
      preload: { cors: ['https://app.example'], trustedProxies: ['10.0.0.9'], rateLimit: 10, maxConcurrentRequestsPerAddress: 2, maxDagBytes: 1024, strategy: 'least-outstanding', probeTimeout: 2000 }
    }))
    const parsed = await parseProxyArgs(['--config', file])
    expect(parsed).to.have.nested.property('options.preloadListen', 'http://0.0.0.0:5001')
    expect(parsed).to.have.deep.nested.property('options.preload', { cors: ['https://app.example'], trustedProxies: ['10.0.0.9'], rateLimit: 10, maxConcurrentRequestsPerAddress: 2, maxDagBytes: 1024, strategy: 'least-outstanding', probeTimeout: 2000 })

    // the flag wins, and takes a URL or an IPv6 multiaddr too
    expect(await parseProxyArgs(['--config', file, '--preload-listen', 'http://127.0.0.1:0'])).to.have.nested.property('options.preloadListen', 'http://127.0.0.1:0')
    expect(await parseProxyArgs(['--preload-listen', '/ip6/::1/tcp/5001'])).to.have.nested.property('options.preloadListen', 'http://[::1]:5001')
  })

  it('parses kitsune node, flags winning over the config file', async () => {
    const file = join(dir, 'node.json')
    await writeFile(file, JSON.stringify({
      listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'],
      apiListen: 'http://10.0.0.1:5001',
      blockstore: 'blocks',
      key: 'node.key',
      json: true,
      dht: true,
      preload: { pin: true, maxArgs: 4, cors: false }
    }))
    const parsed = await parseNodeArgs(['--config', file, '--api-listen', '/ip4/127.0.0.1/tcp/5002', '--no-json'])
    expect(parsed).to.deep.equal({
      help: false,
      options: {
        listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'],
        apiListen: 'http://127.0.0.1:5002',
        // relative to the file
        blockstore: join(dir, 'blocks'),
        key: join(dir, 'node.key'),
        metricsListen: undefined,
        json: false,
        dht: true,
        preload: { pin: true, maxArgs: 4, cors: false }
      }
    })
    expect(await parseNodeArgs(['-h'])).to.deep.equal({ help: true })
  })

  it('names the bad preload or node value in a one-line usage error', async () => {
    const cases: Array<[object, RegExp, 'proxy' | 'node']> = [
      [{ preload: { rateLimit: 0 } }, /"preload" in .*\.rateLimit must be a positive integer/, 'proxy'],
      [{ preload: { cors: 'https://x' } }, /cors must be "\*", false, or a list of origins/, 'proxy'],
      [{ preload: { trustedProxies: '10.0.0.1' } }, /trustedProxies must be a list/, 'proxy'],
      [{ preload: { strategy: 'fastest' } }, /unknown strategy "fastest"/, 'proxy'],
      [{ preload: { pin: true } }, /unknown key "pin"/, 'proxy'],
      [{ preload: [] }, /"preload" in .* must be an object/, 'proxy'],
      [{ bitswap: false, preloadListen: 'http://127.0.0.1:5001' }, /"preloadListen" in .* needs the Bitswap forwarder, which "bitswap" in .* turns off/, 'proxy'],
      [{ preload: { pin: 'yes' } }, /pin must be true or false/, 'node'],
      [{ preload: { probeTimeout: 5 } }, /unknown key "probeTimeout"/, 'node'],
      [{ apiListen: '/ip4/127.0.0.1/udp/5001' }, /"apiListen" in .* must be a TCP address/, 'node'],
      [{ kuboConfig: 'config' }, /unknown key "kuboConfig"/, 'node']
    ]
    for (const [config, message, command] of cases) {
      const file = join(dir, 'bad.json')
      await writeFile(file, JSON.stringify(config))
      const err = await (command === 'node' ? parseNodeArgs(['--config', file]) : parseProxyArgs(['--config', file])).then(() => undefined, (err: Error) => err)
      expect(err, JSON.stringify(config)).to.be.an.instanceOf(UsageError).with.property('command', command)
      expect(err?.message, JSON.stringify(config)).to.match(message).and.not.include('\n')
    }
    const flag = await parseProxyArgs(['--no-bitswap', '--preload-listen', '/ip4/127.0.0.1/tcp/0']).then(() => undefined, (err: Error) => err)
    expect(flag?.message).to.equal('--preload-listen needs the Bitswap forwarder, which --no-bitswap turns off')
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
      { protocols: ['/ipfs/kad/1.0.0', '/ipfs/lan/kad/1.0.0'], strategy: 'hash' },
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
    expect(parseRoute({ protocols: ['dht', '/y/1'] })).to.deep.equal({ protocols: ['/ipfs/kad/1.0.0', '/ipfs/lan/kad/1.0.0', '/y/1'], strategy: 'sticky' })
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
    expect(parsed).to.have.nested.property('options.preloadListen').that.is.a('string')

    const nodeExample = /### Example `kitsune node` config file\n\n```json\n([\s\S]*?)```/.exec(doc)?.[1]
    expect(nodeExample).to.be.a('string')
    for (const key of Object.keys(JSON.parse(nodeExample ?? ''))) {
      expect(NODE_CONFIG_KEYS).to.include(key)
    }
    await writeFile(join(dir, 'node-example.json'), nodeExample ?? '')
    expect(await parseNodeArgs(['--config', join(dir, 'node-example.json')])).to.have.nested.property('options.blockstore').that.is.a('string')
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
