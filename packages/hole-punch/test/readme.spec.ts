import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { markdownTables, normaliseDefault, tsdocOptions } from '@kitsune/test-support'
import { expect } from 'aegir/chai'
import type { Libp2p } from '@libp2p/interface'

/**
 * Keeps the README true: its configs are built and started exactly as
 * written (only the fixed ports become loopback port 0), and its options
 * tables list every option of the `Init` interfaces with their TSDoc
 * `@default`
 */

async function read (path: string): Promise<string> {
  return readFile(new URL(`../${path}`, import.meta.url), 'utf8')
}

/** The first ```typescript block of a README section */
function codeBlock (readme: string, heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`)
  expect(start, heading).to.be.greaterThan(-1)
  const open = readme.indexOf('```typescript\n', start)
  const close = readme.indexOf('\n```', open + 14)
  return readme.slice(open + 14, close + 1)
}

/** Runs a README block as a module (Node.js strips the types) and returns one of its bindings */
async function runBlock (code: string, binding: string): Promise<Libp2p<any>> {
  const dir = new URL(`../.readme-check-${process.pid}/`, import.meta.url)
  await mkdir(dir, { recursive: true })
  const file = new URL(`${binding}.ts`, dir)
  const local = code
    .replaceAll('/ip4/0.0.0.0/tcp/4001', '/ip4/127.0.0.1/tcp/0')
    .replaceAll("'0.0.0.0:3478'", "'127.0.0.1:0'")
  await writeFile(file, `${local}\nexport { ${binding} }\n`)
  try {
    const mod = await import(file.href)
    return mod[binding]
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('README', () => {
  it('"A complete peer config" builds and starts as written (kad-dht has its ping dependency)', async () => {
    const readme = await read('README.md')
    const code = codeBlock(readme, '## A complete peer config')
    expect(code).to.include('createLibp2p(')
    const node = await runBlock(code, 'node')
    try {
      expect(node.status).to.equal('started')
      for (const s of ['identify', 'ping', 'dht', 'holePunch', 'reachability', 'relays']) {
        expect(node.services, s).to.have.property(s)
      }
      expect(node.getMultiaddrs().some(a => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))).to.be.true()
    } finally {
      await node.stop()
    }
  })

  it('"A relay" builds and starts as written, with STUN', async () => {
    const readme = await read('README.md')
    const relay = await runBlock(codeBlock(readme, '## A relay'), 'relay')
    try {
      expect(relay.status).to.equal('started')
      for (const s of ['identify', 'ping', 'relay', 'dht', 'autonat', 'stun']) {
        expect(relay.services, s).to.have.property(s)
      }
      expect(relay.services.stun.address).to.match(/^127\.0\.0\.1:\d+$/)
    } finally {
      await relay.stop()
    }
  })

  it('the options tables list every option of the Init interfaces with their TSDoc @default', async () => {
    const readme = await read('README.md')
    const tables = markdownTables(readme, '## Options')
    const interfaces: Array<[string, string, string[]]> = [
      ['src/tcp/punch-tcp.ts', 'PunchTCPInit', []],
      ['src/dcutr.ts', 'HolePunchInit', []],
      ['src/reachability.ts', 'ReachabilityInit', []],
      ['src/relays.ts', 'ClosestRelaysInit', []],
      ['src/stun.ts', 'StunServerInit', []],
      ['src/relay-preset.ts', 'RelayServerPresetInit', []],
      ['src/peer-preset.ts', 'PunchPeerPresetInit', []],
      ['src/ice-servers.ts', 'IceServersInit', []]
    ]
    expect(tables, 'tables under ## Options').to.have.length(interfaces.length)
    for (const [i, [file, name]] of interfaces.entries()) {
      const options = tsdocOptions(await read(file), name)
      const rows = tables[i]
      expect([...rows.keys()].sort(), `README rows of ${name}`).to.deep.equal([...options.keys()].sort())
      for (const [option, fallback] of options) {
        if (fallback != null) {
          expect(normaliseDefault(rows.get(option) ?? ''), `default of ${name}.${option}`).to.equal(normaliseDefault(fallback))
        }
      }
    }
  })
})
