/**
 * Operators' tooling, checked by the real tools: `promtool check metrics`
 * on the `/metrics` of `kitsune proxy` and `kitsune node` under load, the
 * Grafana dashboard's queries against a live scrape (and `promtool check
 * rules` for their PromQL), and the systemd units with `systemd-analyze
 * verify`.
 */

import { spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { unixfs } from '@helia/unixfs'
import { createTestHelia, patternBytes } from '@kitsune/test-support'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { Registry } from 'prom-client'
import { DROPPED_METRICS, daemonMetrics, gaugeName } from '../src/prometheus.ts'
import { BIN, JsonProcess, runBinary } from './fixtures.ts'
import type { TestHelia } from '@kitsune/test-support'

const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url))

interface ToolResult { code: number | null, stdout: string, stderr: string }

/**
 * Runs a system tool with `input` on stdin
 */
async function tool (command: string, args: string[], input = ''): Promise<ToolResult> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  child.stdin.end(input)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => { resolve({ code, stdout, stderr }) })
  })
}

function available (command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0
}

/**
 * `promtool check metrics` on a scrape; resolves with its findings (empty
 * when clean)
 */
async function promtoolCheckMetrics (text: string): Promise<{ code: number | null, problems: string }> {
  const result = await tool('promtool', ['check', 'metrics'], text)
  return { code: result.code, problems: `${result.stdout}${result.stderr}`.trim() }
}

/**
 * The scrape with one zero sample added to every family that has none:
 * promtool skips families without samples, and a counter group that has
 * not counted yet must have a clean name too
 */
function withEveryFamilySampled (text: string): string {
  const lines = text.split('\n')
  const out: string[] = []
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i])
    const type = /^# TYPE (\S+) (counter|gauge|untyped)$/.exec(lines[i])
    if (type == null) {
      continue
    }
    const next = lines[i + 1] ?? ''
    if (!next.startsWith(type[1])) {
      out.push(`${type[1]} 0`)
    }
  }
  return out.join('\n')
}

/**
 * Metric families of a scrape: name → type
 */
function families (text: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    found.set(match[1], match[2])
  }
  return found
}

/**
 * The value of one sample line (`name{labels} value`), or undefined
 */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(line => line.startsWith(`${series} `))
  return line == null ? undefined : Number(line.slice(series.length + 1))
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'le', 'inf', 'nan'])

/**
 * The metric names a PromQL expression selects: identifiers that are not
 * functions, aggregation clauses, label matchers, durations or keywords
 */
export function metricNames (expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\$\{?\w+\}?/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const match of stripped.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const rest = stripped.slice((match.index ?? 0) + match[0].length)
    if (/^\s*\(/.test(rest) || PROMQL_WORDS.has(match[0].toLowerCase())) {
      continue
    }
    names.add(match[0])
  }
  return [...names]
}

/**
 * Every PromQL expression of a Grafana dashboard: panel targets (rows
 * included) and query variables
 */
function dashboardQueries (dashboard: any): Array<{ where: string, expr: string }> {
  const queries: Array<{ where: string, expr: string }> = []
  const visit = (panel: any): void => {
    for (const target of panel.targets ?? []) {
      queries.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr })
    }
    for (const child of panel.panels ?? []) {
      visit(child)
    }
  }
  for (const panel of dashboard.panels ?? []) {
    visit(panel)
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type === 'query') {
      const query = typeof variable.query === 'string' ? variable.query : variable.query.query
      // label_values(<metric>, <label>) names a metric
      const labelValues = /^label_values\((\w+),\s*\w+\)$/.exec(query)
      queries.push({ where: `variable ${variable.name}`, expr: labelValues?.[1] ?? query })
    }
  }
  return queries
}

describe('operator tooling', function () {
  this.timeout(60_000)

  describe('metrics under load', () => {
    const processes: JsonProcess[] = []
    const nodes: TestHelia[] = []
    let dir: string
    let proxyReady: any
    /** The last scrape of each daemon */
    const scrapes = { proxy: '', node: '', relay: '', 'slices node': '' }

    before(async function () {
      this.timeout(60_000)
      dir = await mkdtemp(join(tmpdir(), 'kitsune-tooling-'))
      const start = (args: string[]): JsonProcess => {
        const proc = new JsonProcess(args)
        processes.push(proc)
        return proc
      }

      // a downstream with its Kubo-compatible API, and a proxy in preload mode in front of it
      const node = start(['node', '--json', '--listen', '/ip4/127.0.0.1/tcp/0', '--api-listen', '/ip4/127.0.0.1/tcp/0', '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
      const nodeReady = await node.event('ready')
      const proxy = start(['proxy', '--json', '--key', join(dir, 'proxy.key'),
        '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws',
        '--downstream-api', nodeReady.api,
        '--preload-listen', '/ip4/127.0.0.1/tcp/0',
        '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
      proxyReady = await proxy.event('ready')
      const peer = proxyReady.multiaddrs[0]

      // load: a client adds a multi-block file behind the proxy and preloads
      // it onto the node; then fresh `kitsune get` processes fetch it through
      // the proxy, and a bad preload request is refused
      const client = await createTestHelia()
      nodes.push(client)
      await client.libp2p.dial(multiaddr(peer))
      const content = patternBytes(512 * 1024, 7)
      const cid = await unixfs(client).addBytes(content, { chunker: fixedSize({ chunkSize: 64 * 1024 }) })
      const preload = await fetch(`${proxyReady.preload}/api/v0/refs?r=true&arg=${cid}`, { method: 'POST' })
      expect(preload.status).to.equal(200)
      const lines = (await preload.text()).trim().split('\n').map(line => JSON.parse(line))
      expect(lines.every(line => line.Err === '')).to.be.true()
      await client.stop()

      for (let i = 0; i < 2; i++) {
        const got = await runBinary(['get', cid.toString(), '--peer', peer, '--timeout', '15000'])
        expect(got.code, got.stderr).to.equal(0)
        expect(got.stdout.equals(Buffer.from(content))).to.be.true()
      }
      expect((await fetch(`${proxyReady.preload}/api/v0/refs?arg=not-a-cid`, { method: 'POST' })).status).to.equal(400)

      scrapes.proxy = await (await fetch(proxyReady.metrics)).text()
      scrapes.node = await (await fetch(nodeReady.metrics)).text()

      // a relay answers one STUN binding request
      const relay = start(['relay', '--json', '--listen', '/ip4/127.0.0.1/tcp/0', '--stun-listen', '127.0.0.1:0', '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
      const relayReady = await relay.event('ready')
      const relayMetrics = await relay.event('metrics')
      const [stunHost, stunPort] = relayReady.stun.split(':')
      const udp = createSocket('udp4')
      try {
        // a binding request: type 0x0001, length 0, the magic cookie, a transaction id
        const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), Buffer.alloc(12, 7)])
        udp.send(request, Number(stunPort), stunHost)
        await once(udp, 'message', { signal: AbortSignal.timeout(5_000) })
      } finally {
        udp.close()
      }
      scrapes.relay = await (await fetch(relayMetrics.url)).text()

      // a slice-sync node syncs its share of the mainnet genesis from a bridge
      const bridge = start(['slices', 'bridge', '--json', '--genesis', 'mainnet', '--listen', '/ip4/127.0.0.1/tcp/0'])
      const bridgeReady = await bridge.event('ready')
      const sliceNode = start(['slices', 'node', '--json', '--bootstrap', bridgeReady.multiaddrs[0], '--trusted-root', bridgeReady.stateRoot, '--radius', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--metrics-listen', '/ip4/127.0.0.1/tcp/0'])
      const sliceMetrics = await sliceNode.event('metrics')
      await sliceNode.event('synced')
      scrapes['slices node'] = await (await fetch(sliceMetrics.url)).text()
    })

    after(async () => {
      await Promise.all(processes.splice(0).map(async proc => proc.stop()))
      await Promise.allSettled(nodes.splice(0).map(async node => { await node.stop() }))
      await rm(dir, { recursive: true, force: true })
    })

    it('the scrapes carry the load: blocks forwarded, a preload answered, a bad request counted', () => {
      expect(sample(scrapes.proxy, 'kitsune_bitswap_blocks_total{direction="out"}')).to.be.at.least(8)
      expect(sample(scrapes.proxy, 'kitsune_preload_requests_total')).to.equal(1)
      expect(sample(scrapes.proxy, 'kitsune_preload_rejected_total{status="400"}')).to.equal(1)
      expect(sample(scrapes.proxy, 'kitsune_proxy_downstreams{status="up"}')).to.equal(1)
      expect(sample(scrapes.node, 'kitsune_preload_requests_total')).to.equal(1)
      expect(families(scrapes.node).has('process_resident_memory_bytes')).to.be.true()
      expect(sample(scrapes.relay, 'kitsune_stun_answered_total')).to.equal(1)
      expect(sample(scrapes['slices node'], 'kitsune_slice_ranges_fetched_total{type="account"}')).to.be.at.least(1)
      expect(sample(scrapes['slices node'], 'kitsune_slice_accounts_held')).to.be.greaterThan(0)
    })

    it('promtool itself: flags a counter without _total, a gauge with it, no help and a non-base unit', async function () {
      if (!available('promtool')) {
        // .ci/run installs Debian's prometheus package, which ships promtool
        throw new Error('promtool is missing: apt-get install -y prometheus (as .ci/run does)')
      }
      const bad = await promtoolCheckMetrics('# HELP a A\n# TYPE a counter\na 1\n# HELP b_total B\n# TYPE b_total gauge\nb_total 1\n# TYPE c_total counter\nc_total 1\n# HELP d_milliseconds D\n# TYPE d_milliseconds gauge\nd_milliseconds 1\n')
      expect(bad.code).to.not.equal(0)
      expect(bad.problems).to.include('a counter metrics should have "_total" suffix')
      expect(bad.problems).to.include('b_total non-counter metrics should not have "_total" suffix')
      expect(bad.problems).to.include('c_total no help text')
      expect(bad.problems).to.include('d_milliseconds use base unit "seconds" instead of "milliseconds"')
    })

    for (const daemon of ['proxy', 'node', 'relay', 'slices node'] as const) {
      it(`promtool check metrics is clean on kitsune ${daemon}'s /metrics, as scraped and with every family sampled`, async () => {
        const text = scrapes[daemon]
        const scraped = await promtoolCheckMetrics(text)
        expect(scraped.problems, scraped.problems).to.equal('')
        expect(scraped.code).to.equal(0)

        const sampled = await promtoolCheckMetrics(withEveryFamilySampled(text))
        expect(sampled.problems, sampled.problems).to.equal('')
        expect(sampled.code).to.equal(0)

        // the upstream names the daemons correct (see src/prometheus.ts) are gone
        const names = families(text)
        for (const name of DROPPED_METRICS) {
          expect(names.has(name), name).to.be.false()
        }
        for (const [name, type] of names) {
          expect(type === 'counter' || !name.endsWith('_total'), `${name} is a ${type}`).to.be.true()
          expect(name, name).to.not.include('_milliseconds')
        }
      })
    }

    it('the corrected names: gauges lose _total, milliseconds become seconds', () => {
      expect(gaugeName('libp2p_tcp_inbound_connections_total')).to.equal('libp2p_tcp_inbound_connections')
      expect(gaugeName('kitsune_proxy_upstream_peers')).to.equal('kitsune_proxy_upstream_peers')
      // promtool reserves _bucket, _count and _sum for histograms and summaries
      expect(gaugeName('libp2p_kad_dht_routing_table_kad_bucket_total')).to.equal('libp2p_kad_dht_routing_table_kad_buckets')
      const names = families(scrapes.proxy)
      expect(names.get('libp2p_tcp_inbound_connections')).to.equal('gauge')
      expect(names.get('libp2p_connection_monitor_ping_time_seconds')).to.equal('gauge')
    })

    it('daemonMetrics: a gauge named _total is registered without it, one in milliseconds in seconds (variance in seconds squared), and prom-client\'s redundant totals are gone', async () => {
      const registry = new Registry()
      const metrics = daemonMetrics(registry)({ logger: defaultLogger() })
      metrics.registerMetric('kitsune_test_level_total', { help: 'A level named like a counter', calculate: () => 3 })
      const times = metrics.registerMetricGroup('kitsune_test_round_trip_milliseconds', { label: 'key', help: 'Round trips' })
      times.update({ success: 1500, successVariance: 4_000_000 })
      metrics.registerMetric('kitsune_test_wait_milliseconds', { help: 'A wait', calculate: () => 250 })
      const text = await registry.metrics()
      expect(families(text).get('kitsune_test_level')).to.equal('gauge')
      expect(sample(text, 'kitsune_test_level')).to.equal(3)
      expect(sample(text, 'kitsune_test_round_trip_seconds{key="success"}')).to.equal(1.5)
      expect(sample(text, 'kitsune_test_round_trip_seconds{key="successVariance"}')).to.equal(4)
      expect(sample(text, 'kitsune_test_wait_seconds')).to.equal(0.25)
      expect(families(text).get('nodejs_active_handles')).to.equal('gauge')
      for (const name of DROPPED_METRICS) {
        expect(families(text).has(name), name).to.be.false()
      }
      const checked = await promtoolCheckMetrics(text)
      expect(checked.problems, checked.problems).to.equal('')
    })

    it('every query of docs/grafana/kitsune-proxy.json names a metric the proxy exports (live scrape), and promtool parses every query', async () => {
      const dashboard = JSON.parse(await readFile(join(DOCS, 'grafana', 'kitsune-proxy.json'), 'utf8'))
      expect(dashboard.uid).to.equal('kitsune-proxy')
      const queries = dashboardQueries(dashboard)
      expect(queries.length).to.be.at.least(20)

      const exported = families(scrapes.proxy)
      const used = new Set<string>()
      for (const { where, expr } of queries) {
        const names = metricNames(expr)
        expect(names, `${where}: ${expr} names no metric`).to.not.be.empty()
        for (const name of names) {
          // a histogram's series are <name>_bucket, _sum and _count
          const base = name.replace(/_(bucket|sum|count)$/, '')
          const known = exported.has(name) || exported.get(base) === 'histogram'
          expect(known, `${where}: ${name} is not in the proxy's /metrics`).to.be.true()
          used.add(name)
        }
      }
      // the dashboard covers the proxy's own families
      for (const prefix of ['kitsune_proxy_', 'kitsune_bitswap_', 'kitsune_preload_']) {
        expect([...used].some(name => name.startsWith(prefix)), prefix).to.be.true()
      }

      // promtool parses each query as PromQL, with Grafana's variables filled in
      const rules = {
        groups: [{
          name: 'kitsune-proxy-dashboard',
          rules: queries.map(({ expr }, i) => ({
            record: `dashboard:query_${i}`,
            expr: expr.replace(/\$__rate_interval/g, '1m').replace(/\$instance/g, '.*')
          }))
        }]
      }
      const file = join(dir, 'dashboard-rules.yml')
      await writeFile(file, JSON.stringify(rules, null, 2))
      const checked = await tool('promtool', ['check', 'rules', file])
      expect(checked.code, `${checked.stdout}${checked.stderr}`).to.equal(0)
      expect(checked.stdout).to.include(`SUCCESS: ${queries.length} rules found`)
    })
  })

  describe('systemd units', () => {
    const tmp = { dir: '' }

    beforeEach(async () => {
      tmp.dir = await mkdtemp(join(tmpdir(), 'kitsune-systemd-'))
    })

    afterEach(async () => {
      await rm(tmp.dir, { recursive: true, force: true })
    })

    /**
     * An executable `kitsune` in the temporary directory that runs this
     * repository's built bin, standing in for /usr/local/bin/kitsune:
     * `systemd-analyze verify` refuses a unit whose ExecStart is missing or
     * not executable (and a fresh build's bin.js is not executable)
     */
    async function kitsuneExecutable (): Promise<string> {
      const path = join(tmp.dir, 'kitsune')
      await writeFile(path, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 })
      return path
    }

    /**
     * The unit with its ExecStart pointed at `kitsuneExecutable()`
     */
    async function unitForVerify (name: string): Promise<{ path: string, execStart: string[] }> {
      const text = await readFile(join(DOCS, 'systemd', name), 'utf8')
      const execStart = /^ExecStart=(.+)$/m.exec(text)?.[1].split(/\s+/) ?? []
      expect(execStart[0]).to.equal('/usr/local/bin/kitsune')
      const path = join(tmp.dir, name)
      await writeFile(path, text.replace(/^ExecStart=\/usr\/local\/bin\/kitsune /m, `ExecStart=${await kitsuneExecutable()} `))
      return { path, execStart }
    }

    for (const [unit, command] of [['kitsune-proxy.service', 'proxy'], ['kitsune-node.service', 'node']]) {
      it(`docs/systemd/${unit}: systemd-analyze verify (where installed) reports nothing for it and a bad unit's error, and every flag of its ExecStart is one \`kitsune ${command}\` takes`, async function () {
        const { path, execStart } = await unitForVerify(unit)
        expect(execStart[1]).to.equal(command)

        const help = await runBinary([command, '--help'])
        expect(help.code).to.equal(0)
        const flags = execStart.filter(arg => arg.startsWith('--'))
        expect(flags).to.include('--json')
        for (const flag of flags) {
          expect(help.stdout.toString('utf8'), flag).to.include(flag)
        }

        if (!available('systemd-analyze')) {
          // no systemd on this machine: the flags were checked above
          return
        }
        // the check has teeth: a bad value in a unit is reported
        const bad = join(tmp.dir, 'bad.service')
        await writeFile(bad, `[Service]\nExecStart=${await kitsuneExecutable()} ${command}\nRestart=sometimes\n`)
        expect((await tool('systemd-analyze', ['verify', bad])).stderr).to.include('Failed to parse service restart specifier')

        const result = await tool('systemd-analyze', ['verify', path])
        expect(`${result.stdout}${result.stderr}`.trim(), `${result.stdout}${result.stderr}`).to.equal('')
        expect(result.code).to.equal(0)
      })
    }
  })
})
