/**
 * The NAT lab: an "internet" segment on 198.18.0.0/15 inside network
 * namespaces, public hosts (relays, un-NATed peers) on it, and peers behind
 * their own router namespace with nftables NAT.
 *
 * Nothing here is linked to the machine's own network: the internet segment is
 * a bridge inside a namespace of its own, and every host hangs off it through a
 * veth pair. Everything is removed by `lab.destroy()` (also on SIGINT/SIGTERM
 * and at process exit), and names carry the owning process id so a crashed
 * run's leftovers are recognised and removed by the next run.
 */

import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

/** The NAT kinds a router can have */
export const NAT_KINDS = ['cone', 'cone-rst', 'symmetric', 'port-forwarded', 'none']

/** The lab's "internet" — told to the toolkit as public with --public-cidr */
export const INTERNET_CIDR = '198.18.0.0/15'

const PREFIX = 'ksl'
const live = new Set()

function ip (...args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
}

function inNs (ns, cmd, args, input) {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { input, stdio: [input == null ? 'ignore' : 'pipe', 'pipe', 'pipe'] }).toString()
}

function pidAlive (pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

/**
 * Throws a loud error when this process cannot create network namespaces
 * (not root, no `ip`, no `nft`): the lab's tests must fail rather than pass
 * without having run.
 */
export function assertLabSupported () {
  if (process.getuid?.() !== 0) {
    throw new Error('NAT lab: must run as root (network namespaces and nftables); CI runs as root')
  }
  for (const [cmd, args] of [['ip', ['-V']], ['nft', ['--version']]]) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' })
    } catch {
      throw new Error(`NAT lab: \`${cmd}\` is not available (install iproute2 and nftables)`)
    }
  }
  const probe = `${PREFIX}-${process.pid}-probe${randomBytes(2).toString('hex')}`
  try {
    ip('netns', 'add', probe)
  } catch (err) {
    throw new Error(`NAT lab: cannot create a network namespace: ${err.stderr?.toString().trim() ?? err.message}`)
  } finally {
    try { ip('netns', 'del', probe) } catch {}
  }
}

/**
 * Removes namespaces left behind by lab runs whose process no longer exists
 */
export function removeStaleLabs () {
  let names = []
  try {
    names = ip('netns', 'list').split('\n').map(l => l.split(' ')[0]).filter(Boolean)
  } catch {
    return
  }
  for (const name of names) {
    const m = name.match(new RegExp(`^${PREFIX}-(\\d+)-`))
    if (m == null) continue
    const pid = Number(m[1])
    if (pid !== process.pid && !pidAlive(pid)) {
      killNamespacePids(name)
      try { ip('netns', 'del', name) } catch {}
    }
  }
}

function killNamespacePids (ns) {
  try {
    const pids = ip('netns', 'pids', ns).split('\n').filter(Boolean).map(Number)
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
  } catch {}
}

function destroyAllSync () {
  for (const lab of [...live]) {
    lab.destroySync()
  }
}

let handlersInstalled = false
function installHandlers () {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', destroyAllSync)
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      destroyAllSync()
      process.kill(process.pid, sig)
    })
  }
}

function nftRules (kind, { lanHost, forwardPorts }) {
  const masq = kind === 'symmetric' ? 'masquerade random' : 'masquerade'
  const dnat = kind === 'port-forwarded'
    ? forwardPorts.map(p => `    iifname "wan" tcp dport ${p} dnat to ${lanHost}\n    iifname "wan" udp dport ${p} dnat to ${lanHost}\n`).join('')
    : ''
  // unsolicited traffic to the router itself (no mapping) arrives on input;
  // traffic that matches a mapping is de-NATed and forwarded
  const unsolicited = kind === 'cone-rst'
    ? '    iifname "wan" meta l4proto tcp reject with tcp reset\n    iifname "wan" drop\n'
    : '    iifname "wan" drop\n'
  return `table ip labnat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
${dnat}  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ${masq}
  }
  chain filter_in {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
${unsolicited}  }
  chain filter_fw {
    type filter hook forward priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" ct status dnat accept
    iifname "wan" drop
  }
}
`
}

/**
 * A running lab
 */
export class Lab {
  constructor () {
    this.id = `${PREFIX}-${process.pid}-${randomBytes(2).toString('hex')}`
    this.namespaces = []
    this.children = new Set()
    this.hosts = new Map()
    this.nextPublic = 1
    this.nextPeer = 1
    this.destroyed = false
  }

  ns (name) {
    return `${this.id}-${name}`
  }

  addNamespace (name) {
    const ns = this.ns(name)
    ip('netns', 'add', ns)
    this.namespaces.push(ns)
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up'])
    return ns
  }

  /** Creates the internet segment (a bridge in a namespace of its own) */
  start () {
    removeStaleLabs()
    installHandlers()
    live.add(this)
    this.inet = this.addNamespace('inet')
    inNs(this.inet, 'ip', ['link', 'add', 'br0', 'type', 'bridge'])
    inNs(this.inet, 'ip', ['link', 'set', 'br0', 'up'])
    return this
  }

  attachToInternet (ns, ifname, addr) {
    const port = `p${this.nextPort = (this.nextPort ?? 0) + 1}`
    ip('link', 'add', ifname, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.inet)
    inNs(this.inet, 'ip', ['link', 'set', port, 'master', 'br0'])
    inNs(this.inet, 'ip', ['link', 'set', port, 'up'])
    inNs(ns, 'ip', ['addr', 'add', `${addr}/15`, 'dev', ifname])
    inNs(ns, 'ip', ['link', 'set', ifname, 'up'])
  }

  /**
   * A host directly on the internet segment (a relay, or a peer with no
   * NAT). Public hosts are spread over different /24s of 198.18.0.0/15 so
   * that "prefer relays in different networks" has something to prefer.
   */
  addPublicHost (name) {
    const n = this.nextPublic++
    const addr = `198.18.${n}.10`
    const ns = this.addNamespace(name)
    this.attachToInternet(ns, 'eth0', addr)
    const host = { name, ns, addr, publicAddr: addr, nat: 'none' }
    this.hosts.set(name, host)
    return host
  }

  /**
   * A peer behind its own router. `kind` is one of NAT_KINDS; `forwardPorts`
   * are forwarded (TCP and UDP) for 'port-forwarded'.
   */
  addNatPeer (name, kind, { forwardPorts = [] } = {}) {
    if (!NAT_KINDS.includes(kind)) {
      throw new Error(`unknown NAT kind ${kind}`)
    }
    if (kind === 'none') {
      return this.addPublicHost(name)
    }
    const n = this.nextPeer++
    const wanAddr = `198.19.${n}.1`
    const lanRouter = `10.${n}.0.1`
    const lanHost = `10.${n}.0.2`
    const gw = this.addNamespace(`${name}-gw`)
    const ns = this.addNamespace(name)
    this.attachToInternet(gw, 'wan', wanAddr)
    ip('link', 'add', 'lan', 'netns', gw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    inNs(gw, 'ip', ['addr', 'add', `${lanRouter}/24`, 'dev', 'lan'])
    inNs(gw, 'ip', ['link', 'set', 'lan', 'up'])
    inNs(ns, 'ip', ['addr', 'add', `${lanHost}/24`, 'dev', 'eth0'])
    inNs(ns, 'ip', ['link', 'set', 'eth0', 'up'])
    inNs(ns, 'ip', ['route', 'add', 'default', 'via', lanRouter])
    inNs(gw, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
    inNs(gw, 'nft', ['-f', '-'], nftRules(kind, { lanHost, forwardPorts }))
    const host = { name, ns, gw, addr: lanHost, publicAddr: wanAddr, nat: kind }
    this.hosts.set(name, host)
    return host
  }

  /** Runs a command to completion inside a host's namespace */
  exec (host, cmd, args) {
    return inNs(typeof host === 'string' ? host : host.ns, cmd, args)
  }

  /**
   * Spawns a long-running process inside a host's namespace; stdout is read
   * as JSON lines. Returns a handle with `events` (all parsed lines so far),
   * `waitFor(pred, ms)`, `kill(signal)` and `exited`; with `stdin: true`,
   * `send(obj)` writes one JSON line to the process.
   */
  spawn (host, cmd, args, { env, stdin = false } = {}) {
    const child = spawn('ip', ['netns', 'exec', host.ns, cmd, ...args], {
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env }
    })
    this.children.add(child)
    const events = []
    const waiters = new Set()
    let stderr = ''
    child.stderr.on('data', d => { stderr = (stderr + d.toString()).slice(-65536) })
    createInterface({ input: child.stdout }).on('line', line => {
      let ev
      try { ev = JSON.parse(line) } catch { ev = { event: 'text', line } }
      ev.at = Date.now()
      events.push(ev)
      for (const w of waiters) w()
    })
    const exited = once(child, 'exit').then(([code, signal]) => {
      this.children.delete(child)
      for (const w of waiters) w()
      return { code, signal }
    })
    let exitInfo
    exited.then(e => { exitInfo = e })
    const handle = {
      child,
      events,
      exited,
      send: (obj) => { child.stdin.write(JSON.stringify(obj) + '\n') },
      get stderr () { return stderr },
      /** Resolves with the first event matching `pred`; rejects on timeout or exit */
      waitFor: (pred, ms = 20_000, what = 'event') => new Promise((resolve, reject) => {
        const check = () => {
          const ev = events.find(pred)
          if (ev != null) { done(); resolve(ev); return }
          if (exitInfo != null) { done(); reject(new Error(`${host.name} exited (${JSON.stringify(exitInfo)}) before ${what}; events=${JSON.stringify(events)} stderr=${stderr}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`${host.name}: timed out after ${ms} ms waiting for ${what}; events=${JSON.stringify(events)} stderr=${stderr}`)) }, ms)
        const done = () => { clearTimeout(timer); waiters.delete(check) }
        waiters.add(check)
        check()
      }),
      kill: async (signal = 'SIGTERM') => {
        if (exitInfo == null) {
          child.kill(signal)
          // `ip netns exec` forwards nothing: signal the node process too
          for (const pid of this.pidsIn(host)) {
            try { process.kill(pid, signal) } catch {}
          }
        }
        return exited
      }
    }
    return handle
  }

  pidsIn (host) {
    try {
      return ip('netns', 'pids', host.ns).split('\n').filter(Boolean).map(Number)
    } catch {
      return []
    }
  }

  /** Lists conntrack-free evidence: the TCP sockets of a namespace */
  sockets (host) {
    return this.exec(host, 'ss', ['-tan'])
  }

  destroySync () {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    for (const child of this.children) {
      try { child.kill('SIGKILL') } catch {}
    }
    for (const ns of this.namespaces) {
      killNamespacePids(ns)
    }
    for (const ns of this.namespaces.reverse()) {
      try { ip('netns', 'del', ns) } catch {}
    }
  }

  /** Stops every process (SIGTERM, then SIGKILL) and removes every namespace */
  async destroy ({ graceMs = 3000 } = {}) {
    if (this.destroyed) return
    const pending = [...this.children].map(c => once(c, 'exit'))
    for (const host of this.hosts.values()) {
      for (const pid of this.pidsIn(host)) {
        try { process.kill(pid, 'SIGTERM') } catch {}
      }
    }
    await Promise.race([
      Promise.all(pending),
      new Promise(resolve => setTimeout(resolve, graceMs).unref())
    ])
    this.destroySync()
  }
}

/** Lists the namespaces of this process's labs (for leak checks in tests) */
export function labNamespaces () {
  return ip('netns', 'list').split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(`${PREFIX}-${process.pid}-`))
}

/** Creates and starts a lab; fails loudly where namespaces cannot be made */
export function createLab () {
  assertLabSupported()
  return new Lab().start()
}
