/**
 * The DCUtR protocol id (the same as go-libp2p, rust-libp2p and js-libp2p)
 */
export const DCUTR_PROTOCOL = '/libp2p/dcutr'

/**
 * The `Symbol.toStringTag` of the punch TCP transport (how DCUtR and
 * reachability find it among a node's transports)
 */
export const PUNCH_TCP_TAG = '@kitsune/punch-tcp'

/**
 * The AutoNAT v1 protocol id (the same as go-libp2p and js-libp2p)
 */
export const AUTONAT_PROTOCOL = '/libp2p/autonat/1.0.0'

/**
 * The Circuit Relay v2 hop protocol id: a peer that supports it is
 * relay-capable
 */
export const RELAY_HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'

/**
 * How many times a hole punch is attempted before giving up
 *
 * @default 3
 */
export const DEFAULT_PUNCH_ATTEMPTS = 3

/**
 * How long one punch dial may take, in ms
 *
 * @default 5000
 */
export const DEFAULT_PUNCH_DIAL_TIMEOUT = 5_000

/**
 * How long to wait for the other side's CONNECT or SYNC, in ms
 *
 * @default 10000
 */
export const DEFAULT_DCUTR_MESSAGE_TIMEOUT = 10_000

/**
 * The largest DCUtR message accepted, in bytes (the spec's limit)
 *
 * @default 4096
 */
export const DEFAULT_MAX_DCUTR_MESSAGE_SIZE = 4_096

/**
 * The most observed addresses taken from one DCUtR message
 *
 * @default 16
 */
export const DEFAULT_MAX_DCUTR_ADDRESSES = 16

/**
 * How many concurrent hole punches are allowed
 *
 * @default 8
 */
export const DEFAULT_MAX_CONCURRENT_PUNCHES = 8

/**
 * How many AutoNAT answers of the same kind make a verdict
 *
 * @default 2
 */
export const DEFAULT_REACHABILITY_QUORUM = 2

/**
 * How many peers are asked for an AutoNAT dial-back in one check
 *
 * @default 4
 */
export const DEFAULT_REACHABILITY_MAX_SERVERS = 4

/**
 * How long an AutoNAT server tries to dial a client back, in ms
 *
 * @default 3000
 */
export const DEFAULT_DIAL_BACK_TIMEOUT = 3_000

/**
 * How long one AutoNAT request may take end to end, in ms
 *
 * @default 10000
 */
export const DEFAULT_AUTONAT_TIMEOUT = 10_000

/**
 * How often reachability is checked again, in ms
 *
 * @default 300000
 */
export const DEFAULT_REACHABILITY_INTERVAL = 300_000

/**
 * The most addresses an AutoNAT server accepts in one request
 *
 * @default 16
 */
export const DEFAULT_MAX_AUTONAT_ADDRESSES = 16

/**
 * The largest AutoNAT message accepted, in bytes
 *
 * @default 4096
 */
export const DEFAULT_MAX_AUTONAT_MESSAGE_SIZE = 4_096

/**
 * On how many of the XOR-closest relays a reservation is held
 *
 * @default 2
 */
export const DEFAULT_RELAY_COUNT = 2

/**
 * How many candidate relays the closest-peers query keeps
 *
 * @default 20
 */
export const DEFAULT_RELAY_CANDIDATES = 20

/**
 * How often the set of reservations is checked (renewed, moved), in ms
 *
 * @default 30000
 */
export const DEFAULT_RELAY_CHECK_INTERVAL = 30_000

/**
 * How long one relay search through the DHT may take, in ms
 *
 * @default 15000
 */
export const DEFAULT_RELAY_SEARCH_TIMEOUT = 15_000

/**
 * How long a relay that refused a reservation or went away is passed over,
 * in ms
 *
 * @default 300000
 */
export const DEFAULT_RETRY_FAILED_RELAY_AFTER = 300_000

/**
 * The most failed relays remembered
 *
 * @default 256
 */
export const DEFAULT_MAX_FAILED_RELAYS = 256

/**
 * The most candidate addresses (observed from the punch port) kept for
 * DCUtR
 *
 * @default 8
 */
export const DEFAULT_MAX_PUNCH_CANDIDATES = 8

/**
 * ms a punch-transport socket may stay idle before it is closed (as
 * `@libp2p/tcp`'s `inboundSocketInactivityTimeout`)
 *
 * @default 120000
 */
export const DEFAULT_TCP_INACTIVITY_TIMEOUT = 120_000

/**
 * The most connections a punch-transport listener accepts
 *
 * @default 1024
 */
export const DEFAULT_TCP_MAX_CONNECTIONS = 1024

/**
 * The listen backlog of a punch-transport listener (Node's default)
 *
 * @default 511
 */
export const DEFAULT_TCP_BACKLOG = 511

/**
 * The most concurrent inbound AutoNAT streams per connection
 *
 * @default 8
 */
export const AUTONAT_MAX_INBOUND_STREAMS = 8

/**
 * The most concurrent inbound STUN-address (`/kitsune/stun/1.0.0`) streams
 * per connection
 *
 * @default 4
 */
export const STUN_ADDRESS_MAX_INBOUND_STREAMS = 4

/**
 * The largest STUN-address answer a peer accepts from a relay, in bytes
 *
 * @default 256
 */
export const MAX_STUN_ADDRESS_ANSWER_SIZE = 256

/**
 * The prefix length that makes two IPv4 addresses "the same network" when
 * relays in different networks are preferred
 *
 * @default 24
 */
export const DEFAULT_NETWORK_PREFIX_V4 = 24

/**
 * The largest STUN message the responder reads, in bytes
 *
 * @default 548
 */
export const DEFAULT_MAX_STUN_MESSAGE_SIZE = 548

/**
 * How many STUN answers per second the responder sends at most (answers above
 * this are dropped)
 *
 * @default 200
 */
export const DEFAULT_STUN_RATE_LIMIT = 200

/**
 * The protocol a relay answers with its STUN responder's address (JSON
 * `{"host": string | null, "port": number}`; `host` null means "the address
 * you reached me at")
 */
export const STUN_ADDRESS_PROTOCOL = '/kitsune/stun/1.0.0'
