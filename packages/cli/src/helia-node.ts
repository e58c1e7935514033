/**
 * The Helia nodes the CLI starts (the downstreams of embedded mode, `kitsune
 * node`, the client of `kitsune get`) are built from explicit parts: Helia's
 * light constructor, Bitswap, and a libp2p config with only the transports,
 * encrypters, muxers and services listed here. No bootstrap, no DHT, no mDNS,
 * no delegated routing, no AutoNAT or UPnP: such a node talks only to the
 * peers that connect to it, or that it is told to dial.
 */

import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { frontDoorMplex } from '@kitsune/proxy'
import { identify } from '@libp2p/identify'
import { kadDHT, removePrivateAddressesMapper, removePublicAddressesMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { daemonMetrics } from './prometheus.ts'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { PreloadApi } from '@kitsune/preload'
import type { PrivateKey } from '@libp2p/interface'
import type { HeliaInit } from 'helia'
import type { Registry } from 'prom-client'

/**
 * A Helia node with libp2p and a preload endpoint (`withPreload` of
 * `@kitsune/preload`)
 */
export type PreloadHelia = HeliaWithLibp2p & { preload: PreloadApi }

/**
 * How to build a {@link localHelia} node
 */
export interface LocalHeliaInit {
  /** Listen multiaddrs; empty for a node that only dials */
  listen: string[]
  /**
   * Add the WebSockets transport beside TCP
   *
   * @default false
   */
  webSockets?: boolean
  /**
   * Where blocks live
   *
   * @default a MemoryBlockstore
   */
  blockstore?: HeliaInit['blockstore']
  /** The identity; a new key when unset */
  privateKey?: PrivateKey
  /** libp2p's Prometheus metrics land in this registry */
  registry?: Registry
  /**
   * Dial any address, loopback and private ones included (libp2p's default
   * gater may refuse them); for a client the user pointed at one peer
   *
   * @default false
   */
  dialAnyAddress?: boolean
  /**
   * Run DHT servers as Kubo and js-ipfs do: the public DHT
   * (`/ipfs/kad/1.0.0`, peers with public addresses) and the LAN DHT
   * (`/ipfs/lan/kad/1.0.0`, peers with private addresses). No bootstrap: the
   * tables fill with the peers that connect.
   *
   * @default false
   */
  dht?: boolean
}

/**
 * The dual DHT of a {@link localHelia} node with `dht: true`
 */
function dualDht (): Record<string, ReturnType<typeof kadDHT>> {
  return {
    dht: kadDHT({ clientMode: false, peerInfoMapper: removePrivateAddressesMapper }),
    lanDht: kadDHT({
      clientMode: false,
      protocol: '/ipfs/lan/kad/1.0.0',
      peerInfoMapper: removePublicAddressesMapper,
      logPrefix: 'libp2p:kad-dht:lan',
      datastorePrefix: '/dht-lan',
      metricsPrefix: 'libp2p_kad_dht_lan'
    })
  }
}

/**
 * A Helia node with Bitswap and a libp2p node with TCP (and optionally
 * WebSockets), noise, yamux, mplex (as js-ipfs-era peers speak), identify
 * and ping; the datastore is in memory. Not started yet: add mixins such as
 * `withPreload`, then call `start()`.
 */
export function localHelia (init: LocalHeliaInit): HeliaWithLibp2p {
  return withBitswap(withLibp2pLight(createHeliaLight({
    blockstore: init.blockstore ?? new MemoryBlockstore(),
    datastore: new MemoryDatastore()
  }), {
    privateKey: init.privateKey,
    addresses: {
      listen: init.listen
    },
    transports: init.webSockets === true ? [tcp(), webSockets()] : [tcp()],
    connectionEncrypters: [noise()],
    // js-ipfs-era peers speak only mplex and open a stream per Bitswap message
    streamMuxers: [yamux(), frontDoorMplex()],
    connectionGater: init.dialAnyAddress === true ? { denyDialMultiaddr: () => false } : undefined,
    metrics: init.registry != null ? daemonMetrics(init.registry) : undefined,
    services: {
      // Bitswap learns that a peer speaks it through identify
      identify: identify(),
      // kad-dht needs ping too
      ping: ping(),
      ...(init.dht === true ? dualDht() : {})
    }
  })) as unknown as HeliaWithLibp2p
}
