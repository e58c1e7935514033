/**
 * The three kinds of node in the demo, each built from explicit parts so
 * that nothing leaves the machine: TCP on 127.0.0.1, noise, yamux, identify
 * and ping, and nothing else. No bootstrap list, DHT, mDNS, delegated
 * routing, UPnP or AutoNAT (Helia's and libp2p's default configs add those).
 */

import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { bitswapForwarder } from '@kitsune/bitswap-forwarder'
import { frontDoorConnectionManager, frontDoorMplex, frontDoorMuxerOptions, proxy } from '@kitsune/proxy'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { createLibp2p } from 'libp2p'

/**
 * The libp2p config all three nodes share
 *
 * @param {{ listen?: string[] }} [options]
 */
export function loopbackLibp2p (options = {}) {
  return {
    addresses: {
      listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0']
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // allow dials to loopback and private addresses: libp2p's browser build
    // refuses them by default; on Node.js this states the default outright
    connectionGater: {
      denyDialMultiaddr: () => false
    },
    services: {
      identify: identify(),
      ping: ping()
    }
  }
}

/**
 * A Helia node with Bitswap, in-memory stores and the loopback libp2p config.
 * `listen: []` makes a node that only dials out.
 *
 * @param {{ listen?: string[] }} [options]
 */
export async function createHeliaNode (options = {}) {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore()
  }), loopbackLibp2p(options)))
  await helia.start()
  return helia
}

/**
 * The proxy: a plain libp2p node (no Helia) under its own identity, with
 * front-door connection and muxer limits, the proxy service (bridges streams of the
 * routed protocols) and the Bitswap forwarder (forwards Bitswap message by
 * message through the proxy's downstream pool; it finds the proxy at the
 * services key `proxy`).
 *
 * @param {object} options
 * @param {import('@libp2p/interface').PrivateKey} options.privateKey
 * @param {import('@kitsune/proxy').ProxyInit} options.proxy
 */
export async function createProxyNode (options) {
  const base = loopbackLibp2p()

  return createLibp2p({
    ...base,
    // the identity upstream peers know; see loadOrCreateKeyFile in index.js
    privateKey: options.privateKey,
    // a paused bridge side holds at most one yamux receive window (1 MiB)
    // frontDoorMplex: js-ipfs and js-libp2p 0.x peers speak only mplex
    streamMuxers: [yamux(frontDoorMuxerOptions()), frontDoorMplex()],
    // many upstream peers reach a front door from few addresses
    connectionManager: frontDoorConnectionManager(),
    services: {
      ...base.services,
      proxy: proxy(options.proxy),
      bitswapForwarder: bitswapForwarder()
    }
  })
}
