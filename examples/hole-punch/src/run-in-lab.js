/**
 * Runs the example in the NAT lab: a relay on the lab's internet
 * (198.18.0.0/15) and two peers, each behind its own cone NAT router.
 * Needs Linux and root (network namespaces, nftables). Everything is torn
 * down at the end.
 */
import { fileURLToPath } from 'node:url'
import { createLab } from '@kitsune/lab'

const NODE = process.execPath
const src = (name) => fileURLToPath(new URL(name, import.meta.url))
const CIDR = '198.18.0.0/15'

export async function runExample () {
  const lab = createLab()
  try {
    const relayHost = lab.addPublicHost('relay')
    const aliceHost = lab.addNatPeer('alice', 'cone')
    const bobHost = lab.addNatPeer('bob', 'cone')

    const relay = lab.spawn(relayHost, NODE, [src('./relay.js'), `/ip4/${relayHost.addr}/tcp/4001`, CIDR])
    const { addr: relayAddr } = await relay.waitFor(e => e.event === 'ready')

    const bob = lab.spawn(bobHost, NODE, [src('./peer.js'), relayAddr, CIDR])
    const { peerId: bobId } = await bob.waitFor(e => e.event === 'ready')
    await bob.waitFor(e => e.event === 'reservation')

    const alice = lab.spawn(aliceHost, NODE, [src('./peer.js'), relayAddr, CIDR, bobId])
    const direct = await alice.waitFor(e => e.event === 'direct', 30_000)
    const message = await bob.waitFor(e => e.event === 'message', 30_000)
    return { direct, message, bobRouter: bobHost.publicAddr, aliceRouter: aliceHost.publicAddr }
  } finally {
    await lab.destroy()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await runExample()
  console.log(JSON.stringify(result, null, 2))
}
