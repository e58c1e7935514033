import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createLab, labNamespaces } from '../src/lab.js'
import { NODE } from '../src/scenario.js'

const PROBE = `
import net from 'node:net'
const [host, port] = process.argv.slice(1)
const s = net.connect({ host, port: Number(port) })
const t = setTimeout(() => { console.log(JSON.stringify({ event: 'result', result: 'timeout' })); process.exit(0) }, 1500)
s.on('connect', () => { clearTimeout(t); console.log(JSON.stringify({ event: 'result', result: 'connected' })); process.exit(0) })
s.on('error', e => { clearTimeout(t); console.log(JSON.stringify({ event: 'result', result: e.code })); process.exit(0) })
`
const LISTEN = `
import net from 'node:net'
const srv = net.createServer(s => { console.log(JSON.stringify({ event: 'accepted', remote: s.remoteAddress + ':' + s.remotePort })); s.destroy() })
srv.listen(Number(process.argv[1]), () => console.log(JSON.stringify({ event: 'listening' })))
`

describe('NAT lab', () => {
  let lab
  before(() => { lab = createLab() })
  after(async () => { await lab?.destroy() })

  it('builds an internet on 198.18.0.0/15 with routers of every NAT kind, none linked to the host', async () => {
    const server = lab.addPublicHost('srv')
    const cone = lab.addNatPeer('cone', 'cone')
    const rst = lab.addNatPeer('rst', 'cone-rst')
    const sym = lab.addNatPeer('sym', 'symmetric')
    const fwd = lab.addNatPeer('fwd', 'port-forwarded', { forwardPorts: [4001] })
    assert.match(server.addr, /^198\.18\./)
    // no namespace has a route to anything but the lab
    for (const h of [server, cone]) {
      const routes = lab.exec(h, 'ip', ['route'])
      assert.doesNotMatch(routes, /172\.|192\.168\./)
    }
    const srvProc = lab.spawn(server, NODE, ['--input-type=module', '-e', LISTEN, '4001'])
    await srvProc.waitFor(e => e.event === 'listening')
    // outbound through each NAT works and is seen from the router's address
    for (const h of [cone, rst, sym, fwd]) {
      const p = lab.spawn(h, NODE, ['--input-type=module', '-e', PROBE, server.addr, '4001'])
      const r = await p.waitFor(e => e.event === 'result')
      assert.equal(r.result, 'connected', `${h.nat} outbound`)
    }
    const seen = srvProc.events.filter(e => e.event === 'accepted').map(e => e.remote.replace(/^::ffff:/, '').split(':')[0])
    assert.deepEqual(seen, [cone.publicAddr, rst.publicAddr, sym.publicAddr, fwd.publicAddr])
    // unsolicited inbound: cone drops, cone-rst resets, port-forward reaches the peer
    const fwdListen = lab.spawn(fwd, NODE, ['--input-type=module', '-e', LISTEN, '4001'])
    await fwdListen.waitFor(e => e.event === 'listening')
    const probe = async (target) => (await lab.spawn(server, NODE, ['--input-type=module', '-e', PROBE, target, '4001']).waitFor(e => e.event === 'result')).result
    assert.equal(await probe(cone.publicAddr), 'timeout')
    assert.equal(await probe(rst.publicAddr), 'ECONNREFUSED')
    assert.equal(await probe(fwd.publicAddr), 'connected')
    await srvProc.kill()
    await fwdListen.kill()
  })

  it('removes every namespace and process on destroy', async () => {
    const other = createLab()
    other.addNatPeer('x', 'cone')
    const mine = labNamespaces().filter(n => n.startsWith(other.id))
    assert.equal(mine.length, 3)
    await other.destroy()
    assert.deepEqual(labNamespaces().filter(n => n.startsWith(other.id)), [])
  })
})
