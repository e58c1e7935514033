/**
 * @packageDocumentation
 *
 * The Ethereum state trie in verified slices over libp2p.
 *
 * The account trie's key space (`keccak256(address)`) is cut into `16^k`
 * slices by a `k`-nibble prefix. Each peer derives the slices it serves from
 * its peer id (XOR distance in slice space within `radius`), takes on slices
 * it sees held by fewer than `replication` peers, fills them with range
 * requests (`/kitsune/slice-sync/1.0.0`, in the spirit of Ethereum's `snap`:
 * account ranges with boundary proofs, storage ranges, byte codes) and checks
 * every range against a trusted state root. Bridges (peers with a `source`)
 * hold the whole state and publish each block's header and per-group deltas
 * over gossipsub; topic validators reject what does not verify.
 *
 * Nothing is believed without a proof: ranges are checked with
 * `verifyMerkleRangeProof`, single accounts with their Merkle proof, deltas
 * against the new header's state root. Headers are followed by `parentHash`
 * from the trust anchor; consensus (proof of stake, signatures) is not checked.
 *
 * The service runs in browsers as well as Node.js.
 *
 * @example A peer that holds a share of the mainnet genesis state
 *
 * ```typescript
 * import { gossipsub } from '@libp2p/gossipsub'
 * import { identify } from '@libp2p/identify'
 * import { noise } from '@libp2p/noise'
 * import { tcp } from '@libp2p/tcp'
 * import { yamux } from '@libp2p/yamux'
 * import { sliceSync } from '@kitsune/slice-sync'
 * import { createLibp2p } from 'libp2p'
 *
 * const node = await createLibp2p({
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/4001'] },
 *   transports: [tcp()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   services: {
 *     identify: identify(),
 *     pubsub: gossipsub(),
 *     sliceSync: sliceSync({
 *       trustedRoot: '0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544',
 *       sliceNibbles: 2,
 *       radius: 3
 *     })
 *   }
 * })
 *
 * node.services.sliceSync.addEventListener('synced', (evt) => {
 *   console.info('holding', evt.detail.held, 'slices')
 * })
 * const account = await node.services.sliceSync.getAccount('0x000d836201318ec6899a67540690382780743280')
 * console.info(account?.balance)
 * ```
 */

import { gossipsub } from '@libp2p/gossipsub'
import { DefaultSliceSync } from './slice-sync.ts'
import type { HeaderInfo } from './headers.ts'
import type { AccountChange, AccountInit, StateStore } from './state.ts'
import type { AbortOptions, ComponentLogger, Libp2pEvents, Metrics, PeerId, PeerStore, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Datastore } from 'interface-datastore'
import type { TypedEventTarget as MainTypedEventTarget } from 'main-event'

export { PROTOCOL, SLICE_SYNC_CAPABILITY } from './constants.ts'
export * from './errors.ts'
export { sliceOf, sliceBounds, sliceCount, positionOf, responsibleSlices } from './slices.ts'
export { buildTrie, TrieReader, OverlayNodes, EMPTY_TRIE_ROOT } from './trie.ts'
export type { NodeMap, NodeSource, TrieEntry, RangeOptions, RangeResult } from './trie.ts'
export { StateStore, decodeAccount, encodeAccount, slotKey, EMPTY_CODE_HASH } from './state.ts'
export type { AccountInit, AccountChange, AccountBody } from './state.ts'
export { decodeHeader, HeaderChain } from './headers.ts'
export type { HeaderInfo } from './headers.ts'
export { genesisSource, genesisAccounts } from './sources/genesis.ts'
export type { GenesisAlloc } from './sources/genesis.ts'
export { jsonRpcSource } from './sources/json-rpc.ts'
export type { JsonRpcSourceInit } from './sources/json-rpc.ts'
export { hexBytes } from './util.ts'

/**
 * One block for a bridge: its RLP header and the accounts it changed
 */
export interface BlockUpdate {
  header: Uint8Array
  changes: AccountChange[]
}

/**
 * Where a bridge's state comes from
 */
export interface StateSource {
  /** The whole starting state, with its header if known */
  load(options?: AbortOptions): Promise<{ accounts: AccountInit[], header?: Uint8Array }>
  /** Blocks after the starting state, in order */
  blocks?(options?: AbortOptions): AsyncIterable<BlockUpdate>
}

/**
 * The part of a gossipsub service slice-sync uses
 */
export interface PubSubLike {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<unknown>
  topicValidators: Map<string, (peer: PeerId, message: any) => any>
  addEventListener(type: 'message', listener: (evt: any) => void): void
  removeEventListener(type: 'message', listener: (evt: any) => void): void
}

export interface SliceSyncInit {
  /**
   * Nibbles of `keccak256(address)` that name a slice: the state is cut into
   * `16^k` slices. Every peer of a network must use the same value.
   *
   * @default 2
   */
  sliceNibbles?: number
  /**
   * XOR distance in slice space within which this peer serves slices: it
   * holds `radius + 1` slices around its position
   *
   * @default 3
   */
  radius?: number
  /**
   * Peers (bridges not counted) that should hold each slice; a slice held by
   * fewer is taken on by the nearest peers that do not hold it
   *
   * @default 2
   */
  replication?: number
  /**
   * Most slices this peer holds (its storage budget), nearest first. `0`
   * makes a light peer: it holds and announces nothing, and answers
   * `getAccount`/`getStorage` from its connected peers' proofs
   *
   * @default 64
   */
  maxSlices?: number
  /**
   * The state root to trust, as hex or bytes (a peer without a `source`
   * needs this or `trustedHeader`)
   */
  trustedRoot?: string | Uint8Array
  /**
   * An RLP block header to trust: its state root is trusted and headers that
   * follow it by `parentHash` are accepted
   */
  trustedHeader?: Uint8Array
  /**
   * Makes this peer a bridge: it loads the whole state from the source,
   * serves every slice and publishes headers and deltas for the source's
   * blocks
   */
  source?: StateSource
  /**
   * The network name in the gossipsub topic names
   *
   * @default 'mainnet'
   */
  network?: string
  /**
   * The key of the gossipsub service in `services`. The service is optional:
   * without it the peer neither announces its slices nor receives headers or
   * deltas (it stays at its trusted root), but serves and queries ranges and
   * proofs over the connections it has
   *
   * @default 'pubsub'
   */
  pubsubService?: string
  /**
   * Largest protocol message read or written, in bytes
   *
   * @default 4194304
   */
  maxMessageSize?: number
  /**
   * Soft limit of entry bytes in one range response (at least one entry is
   * sent)
   *
   * @default 524288
   */
  maxResponseBytes?: number
  /**
   * Most entries in one range response
   *
   * @default 4096
   */
  maxResponseCount?: number
  /**
   * Most code hashes in one byte-codes request, and most storage slots in one
   * account-proof request
   *
   * @default 64
   */
  maxHashesPerRequest?: number
  /**
   * Time for one request, from opening the stream to the answer (ms); also
   * how long a server waits for a request
   *
   * @default 10000
   */
  requestTimeout?: number
  /**
   * Concurrent inbound protocol streams per connection
   *
   * @default 32
   */
  maxInboundStreams?: number
  /**
   * Concurrent outbound protocol streams per connection
   *
   * @default 64
   */
  maxOutboundStreams?: number
  /**
   * Slices synced (range requests in flight) at once
   *
   * @default 4
   */
  maxRangesInFlight?: number
  /**
   * Headers kept behind the newest
   *
   * @default 128
   */
  headerHistory?: number
  /**
   * Nibbles of the slice number that name a delta topic (`16^n` topics)
   *
   * @default 1
   */
  deltaGroupNibbles?: number
  /**
   * Time between announcements of held slices (ms)
   *
   * @default 2000
   */
  announceInterval?: number
  /**
   * Age in ms after which a peer's last announcement no longer counts (it is
   * also dropped when the peer disconnects)
   *
   * @default 3 × announceInterval
   */
  announceTtl?: number
  /**
   * Most remote peers remembered (announcements, faults); beyond it the
   * least recently seen are forgotten, peers marked bad last
   *
   * @default 1024
   */
  maxKnownPeers?: number
  /**
   * Providers tried per slice
   *
   * @default 16
   */
  maxPeersPerSlice?: number
  /**
   * Invalid answers after which a peer is no longer asked and is hung up on
   *
   * @default 1
   */
  maxFaults?: number
  /**
   * Slots of a storage trie that travel with their account's slice; a
   * larger trie is cut into `16^k` storage slices by slot-key prefix, and
   * storage slice `i` of account `h` is held by the peers responsible for
   * slice `(i + prefix(h)) mod 16^k`, so big contracts do not all land on
   * the same peers
   *
   * @default 1024
   */
  maxInlineStorageSlots?: number
  /**
   * Largest delta message a bridge publishes, in bytes: a group's delta of
   * one block that is larger travels in parts, each with its own proof
   * (gossipsub refuses messages over 4 MiB)
   *
   * @default 1048576
   */
  maxDeltaBytes?: number
  /**
   * Keep the slices in the node's datastore (the libp2p `datastore` option)
   * as well as in memory: trie nodes, codes, held-slice records, headers and
   * the root followed are written under `/kitsune/slice-sync/<network>/`,
   * and a restarted peer resumes from them — each record checked (nodes and
   * codes against their hash, headers against the trust anchor, held slices
   * read completely from the root) and what fails fetched again
   *
   * @default false
   */
  persist?: boolean
}

export interface SliceSyncComponents {
  peerId: PeerId
  logger: ComponentLogger
  registrar: Registrar
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  metrics?: Metrics
  datastore?: Datastore
  peerStore?: PeerStore
  addressManager?: AddressManager
}

export interface AccountQueryOptions extends AbortOptions {
  /** The state root to answer at (default: the current one) */
  root?: string | Uint8Array
}

/**
 * An account and the proof it was checked with
 */
export interface VerifiedAccount {
  address: string
  nonce: bigint
  balance: bigint
  storageRoot: Uint8Array
  codeHash: Uint8Array
  stateRoot: string
  /** The Merkle proof of the account against `stateRoot` */
  proof: Uint8Array[]
}

export interface SliceSyncProgress {
  stateRoot?: string
  /** Slices this peer wants */
  target: number
  /** Slices held, complete and verified, at the state root */
  held: number
  /** Accounts in the held slices */
  accounts: number
  synced: boolean
}

export interface SliceSyncEvents {
  'slice:synced': CustomEvent<{ slice: number, stateRoot: string, from: PeerId }>
  synced: CustomEvent<SliceSyncProgress>
  block: CustomEvent<{ number: bigint, hash: string, stateRoot: string }>
  'delta:applied': CustomEvent<{ group: number, number: bigint, stateRoot: string, slices: number }>
  'delta:rejected': CustomEvent<{ peer: PeerId, reason: string }>
  'delta:ignored': CustomEvent<{ peer: PeerId, reason: string }>
  'peer:penalised': CustomEvent<{ peer: PeerId, reason: string }>
  'source:error': CustomEvent<Error>
}

export interface SliceSync extends MainTypedEventTarget<SliceSyncEvents> {
  readonly store: StateStore
  readonly sliceNibbles: number
  /** This peer's position in slice space */
  readonly position: number
  readonly stateRoot: Uint8Array | undefined
  readonly isBridge: boolean
  targetSlices(): number[]
  heldSlices(): number[]
  progress(): SliceSyncProgress
  isSynced(): boolean
  knownPeers(): Array<{ peer: PeerId, slices: number[], full: boolean, root: string }>
  penalisedPeers(): PeerId[]
  /**
   * An account at the current (or given) state root: read locally when held,
   * else fetched with its proof from a peer that holds it; always verified.
   * Null when the proof shows the account does not exist.
   */
  getAccount(address: Uint8Array | string, options?: AccountQueryOptions): Promise<VerifiedAccount | null>
  /**
   * A storage slot's value (big-endian, no leading zeros; empty when unset),
   * verified like {@link SliceSync.getAccount}
   */
  getStorage(address: Uint8Array | string, slot: Uint8Array | string, options?: AccountQueryOptions): Promise<Uint8Array>
  /** On a bridge: applies a block and publishes its header and deltas */
  applyBlock(update: BlockUpdate): Promise<HeaderInfo>
  /** Follows connected peers' headers from the trust anchor */
  catchUp(options?: AbortOptions): Promise<HeaderInfo | undefined>
  /**
   * Requests sent, bytes of their answers and of the entries in them, and
   * range responses fetched and verified while syncing
   */
  stats(): { requests: number, responseBytes: number, entryBytes: number, ranges: number, forwarded: number }
  /** The state root a peer follows, as it says (not verified) */
  peerStateRoot(peer: PeerId, options?: AbortOptions): Promise<Uint8Array>
}

/**
 * Gossipsub as slice-sync wants it: publishing succeeds without subscribers
 * (a lone bridge), and `loopback: true` turns off the IP colocation penalty
 * that would hit more than 10 peers on one host
 */
export function sliceGossip (options: { loopback?: boolean } = {}): ReturnType<typeof gossipsub> {
  return gossipsub({
    allowPublishToZeroTopicPeers: true,
    ...(options.loopback === true ? { scoreParams: { IPColocationFactorWeight: 0 } } : {})
  })
}

/**
 * The slice-sync service factory, for `services` in `createLibp2p`
 */
export function sliceSync (init: SliceSyncInit = {}): (components: SliceSyncComponents) => SliceSync {
  return (components) => new DefaultSliceSync(components, init)
}
