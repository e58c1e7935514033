/**
 * A Kitsune proxy configured in code, in front of two Helia nodes.
 *
 *   client ──► proxy ──► helia-1
 *                   └──► helia-2
 *
 * The client knows only the proxy's multiaddr. It opens conversations on a
 * small custom protocol; the proxy bridges each one to a downstream chosen by
 * the `least-outstanding` strategy, and the answers show that both
 * downstreams did work while the client only ever saw the proxy's peer id.
 * Then the client, a stock Helia node, fetches a UnixFS file that only the
 * downstreams hold, over Bitswap through the proxy's Bitswap forwarder.
 *
 * Run it with `npm start`; `npm test` runs `main()` and checks what it
 * returns.
 */

// first, so an old Node.js is reported before libp2p fails to load
import './node-version.js'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { unixfs } from '@helia/unixfs'
import { loadOrCreateKeyFile } from '@kitsune/proxy'
import { HELLO_PROTOCOL, serveHello, startConversation } from './hello.js'
import { createHeliaNode, createProxyNode } from './nodes.js'

export { HELLO_PROTOCOL }

/**
 * The file the downstreams hold and the client fetches: about 1.4 MB, so
 * UnixFS splits it into several blocks
 */
export const SAMPLE_FILE = new TextEncoder().encode(
  Array.from({ length: 24000 }, (_, i) => `line ${i}: fetched over Bitswap through the Kitsune proxy\n`).join('')
)

/**
 * @typedef {object} MainOptions
 * @property {string} [keyFile] - the proxy's identity key file (default `proxy.key` in the current directory); created (Ed25519, mode 0600) when missing
 * @property {number} [conversations] - how many hello conversations the client holds open at once
 * @property {(line: string) => void} [log] - where the demo's lines go
 */

/**
 * @typedef {object} MainResult
 * @property {string} proxyPeerId
 * @property {Array<{ label: string, peerId: string }>} downstreams
 * @property {Array<{ answer: string, downstream: string }>} answers - `downstream` is the label in the answer
 * @property {string[]} peersSeenByClient - every peer the client connected to or stored
 * @property {string[]} proxyAddressesSeenByClient - the proxy's addresses as the client's identify learned them
 * @property {{ cid: string, bytes: number, identical: boolean }} fetched - the UnixFS file the client fetched through the proxy
 */

/**
 * Starts two Helia downstreams, a proxy in front of them and a client, runs
 * the demo, stops every node and returns what happened.
 *
 * @param {MainOptions} [options]
 * @returns {Promise<MainResult>}
 */
export async function main (options = {}) {
  const log = options.log ?? console.info
  const keyFile = resolve(options.keyFile ?? 'proxy.key')
  const conversations = options.conversations ?? 4
  /** @type {Array<{ stop(): unknown }>} */
  const running = []

  try {
    // 1. Two Helia downstreams, each serving the hello protocol under a label
    //    and holding the sample file
    const downstreams = []
    for (const label of ['helia-1', 'helia-2']) {
      const helia = await createHeliaNode()
      running.push(helia)
      await serveHello(helia.libp2p, label)
      // the same bytes give the same CID on both nodes
      const cid = await unixfs(helia).addBytes(SAMPLE_FILE)
      downstreams.push({ label, helia, cid })
      log(`downstream ${label}: ${helia.libp2p.getMultiaddrs()[0]}`)
    }
    const cid = downstreams[0].cid
    log(`both downstreams hold ${cid} (${SAMPLE_FILE.byteLength} bytes)`)

    // 2. The proxy, under the identity in its key file
    const identity = await loadOrCreateKeyFile(keyFile)
    for (const warning of identity.warnings) {
      log(`warning: ${warning}`)
    }
    log(`proxy identity: ${identity.peerId} (${identity.created ? 'new key written to' : 'loaded from'} ${keyFile})`)

    const proxyNode = await createProxyNode({
      privateKey: identity.privateKey,
      proxy: {
        downstreams: downstreams.map(({ helia }) => helia.libp2p.getMultiaddrs()[0]),
        routes: [
          { protocols: [HELLO_PROTOCOL], strategy: 'least-outstanding' }
        ]
      }
    })
    running.push(proxyNode)

    // resolves once every downstream has been dialled once
    await proxyNode.services.proxy.ready()
    const proxyAddress = proxyNode.getMultiaddrs()[0]
    log(`proxy listening: ${proxyAddress}`)
    for (const d of proxyNode.services.proxy.status().downstreams) {
      log(`proxy → downstream ${d.peerId}: ${d.status}`)
    }

    // 3. A client, a stock Helia node, that knows nothing but the proxy's
    //    multiaddr. It only dials out, so it has no listen address.
    const client = await createHeliaNode({ listen: [] })
    running.push(client)

    // hold `conversations` conversations open at once: least-outstanding
    // places each new one on the downstream with the fewest open streams
    const open = []
    const answers = []
    for (let i = 1; i <= conversations; i++) {
      const stream = await client.libp2p.dialProtocol(proxyAddress, HELLO_PROTOCOL)
      const conversation = await startConversation(stream, `client #${i}`)
      open.push(conversation)
      const downstream = conversation.answer.match(/this is (\S+)$/)?.[1] ?? 'unknown'
      answers.push({ answer: conversation.answer, downstream })
      log(`client ← ${conversation.answer}`)
    }
    await Promise.all(open.map(async c => { await c.close() }))

    const answeredBy = new Set(answers.map(a => a.downstream))
    log(`answers came from ${answeredBy.size} downstream(s): ${[...answeredBy].join(', ')}`)

    // 4. Fetch the sample file over Bitswap. The client's only peer is the
    //    proxy, so its wants go there; the forwarder asks a downstream and
    //    sends the blocks back.
    const received = []
    for await (const chunk of unixfs(client).cat(cid, { signal: AbortSignal.timeout(30_000) })) {
      received.push(chunk)
    }
    const fetched = Buffer.concat(received)
    const identical = fetched.equals(SAMPLE_FILE)
    log(`client fetched ${cid} through the proxy: ${fetched.byteLength} bytes, ${identical ? 'identical to the original' : 'DIFFERENT from the original'}`)
    // the proxy's own view: which downstream each want went to (the hash
    // strategy places every CID on one downstream)
    const stats = proxyNode.services.bitswapForwarder.stats()
    const perDownstream = downstreams
      .map(({ label, helia }) => `${label}: ${stats.downstreams[helia.libp2p.peerId.toString()]?.wantsForwarded ?? 0}`)
      .join(', ')
    log(`forwarder: ${stats.wantsForwarded} wants forwarded (${perDownstream}), ${stats.blocksSent} blocks sent to the client`)

    // 5. What the client learned about the network: only the proxy
    const peersSeenByClient = new Set(client.libp2p.getConnections().map(c => c.remotePeer.toString()))
    for (const peer of await client.libp2p.peerStore.all()) {
      peersSeenByClient.add(peer.id.toString())
    }
    const proxyPeer = await client.libp2p.peerStore.get(proxyNode.peerId)
    const proxyAddressesSeenByClient = proxyPeer.addresses.map(a => a.multiaddr.toString())
    log(`peers the client knows: ${[...peersSeenByClient].join(', ')}`)
    log(`the proxy's addresses as the client sees them: ${proxyAddressesSeenByClient.join(', ')}`)

    return {
      proxyPeerId: proxyNode.peerId.toString(),
      downstreams: downstreams.map(({ label, helia }) => ({ label, peerId: helia.libp2p.peerId.toString() })),
      answers,
      peersSeenByClient: [...peersSeenByClient],
      proxyAddressesSeenByClient,
      fetched: { cid: cid.toString(), bytes: fetched.byteLength, identical }
    }
  } finally {
    // stop the client first, then the proxy, then the downstreams
    for (const node of running.reverse()) {
      try {
        await node.stop()
      } catch (err) {
        console.error('could not stop a node:', err)
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(() => {
    console.info('done: all nodes stopped')
  }, (err) => {
    console.error(err)
    process.exitCode = 1
  })
}
