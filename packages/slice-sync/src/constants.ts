/**
 * The request/response protocol: account ranges, storage ranges, byte codes,
 * single-account proofs and the responder's headers
 */
export const PROTOCOL = '/kitsune/slice-sync/1.0.0'

/**
 * The capability the service declares (`serviceCapabilities`)
 */
export const SLICE_SYNC_CAPABILITY = '@kitsune/slice-sync'

/**
 * Nibbles of `keccak256(address)` that name a slice: `16^k` slices
 *
 * @default 2
 */
export const DEFAULT_SLICE_NIBBLES = 2

/**
 * XOR distance in slice space within which a peer serves slices: it holds
 * `radius + 1` slices around its position
 *
 * @default 3
 */
export const DEFAULT_RADIUS = 3

/**
 * Peers (bridges not counted) that should hold each slice; a peer that sees a
 * slice held by fewer takes it on
 *
 * @default 2
 */
export const DEFAULT_REPLICATION = 2

/**
 * Most slices a peer holds (its storage budget), responsible and adopted
 * together
 *
 * @default 64
 */
export const DEFAULT_MAX_SLICES = 64

/**
 * Largest protocol message read or written, in bytes
 *
 * @default 4194304
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

/**
 * Soft limit of entry bytes (keys and values) in one range response; at least
 * one entry is sent
 *
 * @default 524288
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024

/**
 * Most entries in one range response
 *
 * @default 4096
 */
export const DEFAULT_MAX_RESPONSE_COUNT = 4096

/**
 * Most code hashes in one byte-codes request, and most storage slots in one
 * account-proof request
 *
 * @default 64
 */
export const DEFAULT_MAX_HASHES_PER_REQUEST = 64

/**
 * Time for one request: open the stream, send, receive the answer (ms)
 *
 * @default 10000
 */
export const DEFAULT_REQUEST_TIMEOUT = 10_000

/**
 * Concurrent inbound protocol streams per connection
 *
 * @default 32
 */
export const DEFAULT_MAX_INBOUND_STREAMS = 32

/**
 * Concurrent outbound protocol streams per connection
 *
 * @default 64
 */
export const DEFAULT_MAX_OUTBOUND_STREAMS = 64

/**
 * Range requests in flight while syncing
 *
 * @default 4
 */
export const DEFAULT_MAX_RANGES_IN_FLIGHT = 4

/**
 * Headers kept (and state roots served) behind the newest
 *
 * @default 128
 */
export const DEFAULT_HEADER_HISTORY = 128

/**
 * Nibbles of the slice number that name a delta topic: deltas travel on
 * `16^n` topics, each carrying a group of slices
 *
 * @default 1
 */
export const DEFAULT_DELTA_GROUP_NIBBLES = 1

/**
 * Time between announcements of the slices a peer holds (ms)
 *
 * @default 2000
 */
export const DEFAULT_ANNOUNCE_INTERVAL = 2_000

/**
 * Providers remembered per slice
 *
 * @default 16
 */
export const DEFAULT_MAX_PEERS_PER_SLICE = 16

/**
 * Invalid responses after which a peer is no longer asked (and is hung up
 * on)
 *
 * @default 1
 */
export const DEFAULT_MAX_FAULTS = 1

/**
 * Largest delta message a bridge publishes: a group's delta of one block
 * that is larger travels in parts, each with its own proof (gossipsub
 * refuses messages over 4 MiB)
 *
 * @default 1048576
 */
export const DEFAULT_MAX_DELTA_BYTES = 1024 * 1024

/**
 * Slots of a storage trie that travel with their account's slice; a larger
 * trie is cut into `16^k` storage slices by slot-key prefix, storage slice
 * `i` of account `h` held by the peers responsible for slice
 * `(i + prefix(h)) mod 16^k`
 *
 * @default 1024
 */
export const DEFAULT_MAX_INLINE_STORAGE_SLOTS = 1024

/**
 * The network name in topic names
 *
 * @default 'mainnet'
 */
export const DEFAULT_NETWORK = 'mainnet'

/**
 * The key of the gossipsub service in `services`
 *
 * @default 'pubsub'
 */
export const DEFAULT_PUBSUB_SERVICE = 'pubsub'

/**
 * Deltas remembered (by group and message hash) so that a repeat is
 * ignored, and deltas cut in parts whose parts are counted
 *
 * @default 4096
 */
export const SEEN_DELTAS = 4096

/**
 * Most entries of each repeated field read from one delta message (changed
 * accounts, proof nodes, contract codes); a delta with more is rejected
 *
 * @default { accounts: 65536, nodes: 65536, codes: 1024 }
 */
export const DELTA_DECODE_LIMITS = { accounts: 65536, nodes: 65536, codes: 1024 }

/**
 * Announcement intervals after which a peer's last announcement no longer
 * counts (`announceTtl` = this × `announceInterval`)
 *
 * @default 3
 */
export const ANNOUNCE_TTL_INTERVALS = 3

/**
 * Most remote peers remembered
 *
 * @default 1024
 */
export const DEFAULT_MAX_KNOWN_PEERS = 1024

/**
 * Announcement intervals a peer waits after the first peer's announcement
 * before it takes on under-held slices
 *
 * @default 2
 */
export const ADOPTION_DELAY_INTERVALS = 2

/**
 * Most addresses sent in (and read from) one announcement
 *
 * @default 16
 */
export const MAX_ANNOUNCED_ADDRS = 16

/**
 * Peers asked for the large accounts at a root
 *
 * @default 3
 */
export const LARGE_ACCOUNT_SOURCES = 3

/**
 * Most parts one group's delta of one block is cut into (a delta claiming
 * more is rejected)
 *
 * @default 65536
 */
export const MAX_DELTA_PARTS = 65536

/**
 * Storage-proof nodes read from one response, per allowed response entry
 * (`maxResponseCount` × this)
 *
 * @default 4
 */
export const STORAGE_PROOF_NODES_PER_ENTRY = 4
