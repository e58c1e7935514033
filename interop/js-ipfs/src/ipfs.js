/**
 * Real, unmodified js-ipfs 0.18.1 nodes (`ipfs-core`), configured so that
 * nothing leaves the machine: the given bootstrap list only, no delegates,
 * no public preload nodes, no mDNS, no webRTC-star, no UPnP, loopback
 * listeners only.
 *
 * Identity: whatever js-ipfs 0.18 creates by default for a new repo — an
 * Ed25519 key (`init.algorithm` defaults to 'Ed25519' in ipfs-core's
 * storage.js), so the js-ipfs peers have `12D3KooW…` ids, while the proxy
 * runs with an RSA (`Qm…`) identity as the real preload nodes did.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from 'ipfs-core'
// loaded for its side effect too: it must hook js-ipfs's logger before any
// js-ipfs node logs
import './preload-log.js'

/**
 * @typedef {object} IpfsOptions
 * @property {string[]} bootstrap - multiaddrs (with `/p2p/…`); the only peers js-ipfs dials by itself
 * @property {string} [preload] - the preload endpoint as a multiaddr (`/ip4/127.0.0.1/tcp/5001/http`); preloading is off without it
 * @property {'none' | 'dhtclient' | 'dhtserver'} [routing] - `Routing.Type`, default 'none'
 * @property {string[]} [listen] - `Addresses.Swarm`, default one loopback TCP port
 */

/**
 * A started js-ipfs node in a new temp repo
 *
 * @param {IpfsOptions} options
 */
export async function createIpfs (options) {
  const repo = await mkdtemp(join(tmpdir(), 'kitsune-interop-ipfs-'))
  try {
    const ipfs = await create({
      repo,
      silent: true,
      // the option shape of ipfs-core's preloader (src/preload.js): each
      // address goes through multiaddr-to-uri, `/ip4/h/tcp/p/http` → `http://h:p`,
      // and is called as `${uri}/api/v0/refs?r=true&arg=<cid>`
      preload: options.preload != null
        ? { enabled: true, addresses: [options.preload] }
        : { enabled: false, addresses: [] },
      config: {
        Addresses: {
          Swarm: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
          Announce: [],
          NoAnnounce: [],
          Delegates: []
        },
        Bootstrap: options.bootstrap,
        Discovery: {
          MDNS: { Enabled: false, Interval: 10 },
          webRTCStar: { Enabled: false }
        },
        Swarm: {
          DisableNatPortMap: true
        },
        Routing: {
          Type: options.routing ?? 'none'
        }
      }
    })
    return {
      ipfs,
      repo,
      stop: async () => {
        try {
          await ipfs.stop()
        } finally {
          await rm(repo, { recursive: true, force: true })
        }
      }
    }
  } catch (err) {
    await rm(repo, { recursive: true, force: true })
    throw err
  }
}

/**
 * Stops every node given, even when some fail to stop
 *
 * @param {Array<{ stop(): Promise<void> } | undefined>} nodes
 */
export async function stopAll (nodes) {
  await Promise.allSettled(nodes.filter(n => n != null).map(async n => n.stop()))
}

/**
 * Concatenates an async iterable of byte chunks (e.g. `ipfs.cat`)
 *
 * @param {AsyncIterable<Uint8Array>} source
 */
export async function concat (source) {
  const chunks = []
  for await (const chunk of source) {
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * `ipfs.cat(cid)` with a time limit; on failure the error says how many
 * bytes had arrived
 *
 * @param {any} ipfs
 * @param {any} cid
 * @param {number} timeout
 */
export async function catWithin (ipfs, cid, timeout) {
  const chunks = []
  let bytes = 0
  const started = Date.now()
  try {
    for await (const chunk of ipfs.cat(cid, { timeout })) {
      chunks.push(chunk)
      bytes += chunk.length
    }
  } catch (err) {
    throw new Error(`js-ipfs cat ${cid} failed after ${Date.now() - started} ms with ${bytes} bytes received: ${err.message}`, { cause: err })
  }
  return Buffer.concat(chunks)
}

/**
 * Resolves when js-ipfs has a connection to `peerId`; rejects after
 * `timeout` ms (polls `swarm.peers`)
 *
 * @param {any} ipfs
 * @param {string} peerId
 * @param {number} [timeout]
 */
export async function waitForPeer (ipfs, peerId, timeout = 20_000) {
  const deadline = Date.now() + timeout
  while (true) {
    const peers = await ipfs.swarm.peers()
    if (peers.some((p) => p.peer.toString() === peerId)) {
      return
    }
    if (Date.now() > deadline) {
      throw new Error(`js-ipfs did not connect to ${peerId} within ${timeout} ms; peers: ${peers.map((p) => `${p.addr}`).join(', ')}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/**
 * Every connection js-ipfs has is to a loopback address (nothing leaves the
 * machine); returns the remote addresses
 *
 * @param {any} ipfs
 */
export async function remoteAddresses (ipfs) {
  const peers = await ipfs.swarm.peers()
  return peers.map((p) => p.addr.toString())
}
