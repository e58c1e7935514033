/**
 * Bitswap 1.2.0: want-have, send-dont-have and block presences
 */
export const BITSWAP_120 = '/ipfs/bitswap/1.2.0'

/**
 * Bitswap 1.1.0: CIDv1 and blocks sent with their CID prefix
 */
export const BITSWAP_110 = '/ipfs/bitswap/1.1.0'

/**
 * Bitswap 1.0.0: blocks as raw bytes, each implicitly a CIDv0
 */
export const BITSWAP_100 = '/ipfs/bitswap/1.0.0'

/**
 * The unversioned protocol id early go-ipfs used; it means 1.0.0
 */
export const BITSWAP_LEGACY = '/ipfs/bitswap'

/**
 * Every protocol id the forwarder handles, newest first. This is also the
 * order in which versions are offered when the forwarder opens a stream.
 */
export const BITSWAP_PROTOCOLS = [BITSWAP_120, BITSWAP_110, BITSWAP_100, BITSWAP_LEGACY]

/**
 * The capability the forwarder declares (`serviceCapabilities`); a service
 * built on it lists it in its `serviceDependencies`
 */
export const BITSWAP_FORWARDER_CAPABILITY = '@kitsune/bitswap-forwarder'

/**
 * The services key the forwarder is expected at
 */
export const BITSWAP_FORWARDER_SERVICE = 'bitswapForwarder'

/**
 * The key of the proxy service in `services`, used to find it on `components`
 *
 * @default 'proxy'
 */
export const PROXY_SERVICE = 'proxy'

/**
 * How many downstreams are asked for a CID at the same time. The rest of the
 * strategy's order is the fail-over order.
 *
 * @default 1
 */
export const FANOUT = 1

/**
 * The largest Bitswap message read or written, in bytes (length prefix
 * excluded). Larger inbound messages reset the stream; outbound messages are
 * split to fit.
 *
 * @default 4194304
 */
export const MAX_MESSAGE_SIZE = 4 * 1024 * 1024

/**
 * The largest Bitswap message written to a peer over mplex, each on a stream
 * of its own: mplex has no flow control, and js-ipfs reads a stream one
 * message at a time and resets it once 4 MiB wait unread
 *
 * @default 1048576
 */
export const MAX_MESSAGE_SIZE_OVER_MPLEX = 1024 * 1024

/**
 * The largest block forwarded, in bytes. A larger block from a downstream is
 * dropped, counted as bad, and the CID is asked of the next downstream.
 *
 * @default 2097152
 */
export const MAX_BLOCK_SIZE = 2 * 1024 * 1024

/**
 * Wants one upstream peer may hold at once. A message that takes a peer's
 * wantlist beyond this resets the stream and cuts the peer off.
 *
 * @default 2048
 */
export const MAX_WANTLIST_ENTRIES_PER_PEER = 2048

/**
 * Wants tracked across all peers. When the table is full, a peer holding
 * less than its fair share (this divided by the peers that want something)
 * is still served: the heaviest peer's oldest want-have gives way and waits.
 * Other new wants wait (see `MAX_WAITING_WANTS`).
 *
 * @default 65536
 */
export const MAX_TRACKED_WANTS = 65_536

/**
 * Wants remembered, across all peers, because the tracked-wants table was
 * full; they are taken in as room frees, the lightest peers' first. Beyond
 * this a want is refused: the peer hears DONT_HAVE if it asked for that.
 *
 * @default 16384
 */
export const MAX_WAITING_WANTS = 16_384

/**
 * Block bytes the forwarder may hold for one peer: bytes queued and not yet
 * written to its stream, plus an estimate for the blocks already asked for
 * on its behalf. While a peer is over budget its further want-blocks wait in
 * its ledger and are not sent downstream (Boxo's "outstanding bytes per
 * peer"), so a slow reader cannot make the proxy buffer without bound.
 *
 * @default 67108864
 */
export const MAX_OUTSTANDING_BYTES_PER_PEER = 64 * 1024 * 1024

/**
 * Block bytes the forwarder may hold for all peers together, counted like
 * `MAX_OUTSTANDING_BYTES_PER_PEER`. While it is reached only peers still
 * under their fair share of it (this divided by the peers holding some) have
 * want-blocks sent downstream, so a flood of wants from many peers cannot
 * make the proxy buffer without bound (at most twice this), and a few slow
 * peers cannot starve the rest.
 *
 * @default 268435456
 */
export const MAX_OUTSTANDING_BYTES = 256 * 1024 * 1024

/**
 * Concurrent inbound Bitswap streams one upstream peer may hold open; more
 * are reset. Helia and Boxo write on one long-lived stream; js-ipfs opens a
 * stream per message and closes it once written.
 *
 * @default 8
 */
export const MAX_INBOUND_STREAMS_PER_PEER = 8

/**
 * Bytes of incomplete inbound messages (read from upstream peers' streams,
 * not yet a whole frame) the forwarder buffers across all peers. A stream
 * whose next bytes would pass it is reset.
 *
 * @default 67108864
 */
export const MAX_INBOUND_FRAME_BYTES = 64 * 1024 * 1024

/**
 * Bytes of incomplete inbound messages one upstream peer may have buffered
 * across its streams. A stream whose next bytes would pass it is reset.
 *
 * @default 8388608
 */
export const MAX_INBOUND_FRAME_BYTES_PER_PEER = 8 * 1024 * 1024

/**
 * ms within which a message that started arriving from an upstream peer
 * must be complete; the stream is reset otherwise (a peer that trickles a
 * frame, or stops half-way, holds its buffer no longer than this)
 *
 * @default 30000
 */
export const FRAME_TIMEOUT = 30_000

/**
 * Concurrent inbound Bitswap streams one downstream may hold open (stock
 * Helia opens a stream per message)
 *
 * @default 1024
 */
export const MAX_INBOUND_STREAMS_PER_DOWNSTREAM = 1024

/**
 * Wants the forwarder keeps outstanding on one downstream at once; more wait
 * at the forwarder until a slot frees. Stock Helia truncates a peer's
 * wantlist at 1024 entries, so this stays below that.
 *
 * @default 512
 */
export const MAX_WANTS_PER_DOWNSTREAM = 512

/**
 * A want sent to a downstream that has answered nothing at all for this many
 * ms is failed over to the next downstream (it stays registered, so a late
 * block is still used)
 *
 * @default 5000
 */
export const DOWNSTREAM_TIMEOUT = 5_000

/**
 * After every downstream said DONT_HAVE for a CID, a new want for it within
 * this many ms is answered DONT_HAVE at once instead of asking them all again
 *
 * @default 5000
 */
export const DONT_HAVE_TTL = 5_000

/**
 * A want that no downstream can be asked (none is up, or the last one asked
 * went away) is answered DONT_HAVE, if its sender asked for that, after this
 * many ms: long enough for a downstream that is reconnecting to take it,
 * short enough that the client fails fast or asks elsewhere instead of
 * waiting out its own timeout. The want is kept, and asked again when a
 * downstream comes up.
 *
 * @default 1000
 */
export const NO_DOWNSTREAM_TIMEOUT = 1_000

/**
 * An outbound stream with nothing to write for this many ms is closed (stock
 * Helia resets inbound Bitswap streams idle for 10 s)
 *
 * @default 5000
 */
export const OUTBOUND_IDLE_TIMEOUT = 5_000

/**
 * A message written to a peer that it has not read for this many ms resets
 * the stream; an upstream peer that reads nothing for that long is cut off
 * (a reader that stalls must not hold the outstanding-bytes budget)
 *
 * @default 20000
 */
export const SEND_TIMEOUT = 20_000

/**
 * How long opening an outbound Bitswap stream may take
 *
 * @default 5000
 */
export const OPEN_STREAM_TIMEOUT = 5_000

/**
 * How long a peer that broke a limit or sent malformed input is refused
 *
 * @default 60000
 */
export const CUT_OFF_TIME = 60_000

/**
 * The byte budget of the built-in in-memory block cache, used when `cache`
 * is `true`
 *
 * @default 67108864
 */
export const CACHE_MAX_BYTES = 64 * 1024 * 1024

/**
 * How many recently completed or cancelled CIDs are remembered, so a late
 * duplicate block is not mistaken for a corrupt one
 *
 * @default 8192
 */
export const RECENT_KEYS = 8192

/**
 * How long a preload window stays open unless closed earlier
 *
 * @default 60000
 */
export const WINDOW_TIMEOUT = 60_000

/**
 * The block size assumed for budgeting before any block has been seen
 *
 * @default 262144
 */
export const INITIAL_BLOCK_SIZE_ESTIMATE = 256 * 1024

/**
 * ms `probe()` waits for upstream peers to answer a want-have
 *
 * @default 5000
 */
export const PROBE_TIMEOUT = 5_000

/**
 * Downstream wants dropped by the one-way rule that are remembered per
 * downstream (the newest), so that a preload window opened later can pass
 * those it covers: a downstream does not repeat a want it has sent
 *
 * @default 1024
 */
export const DROPPED_WANTS_PER_DOWNSTREAM = 1024

/**
 * Outbound Bitswap streams that may be open at once on one connection. The
 * forwarder keeps one long-lived stream per peer; the rest is headroom for a
 * stream that replaces a failed one while the old one is still closing.
 *
 * @default 64
 */
export const MAX_OUTBOUND_STREAMS = 64

/**
 * Cut-off peers remembered at once. Each is forgotten when its `cutOffTime`
 * ends, or earlier, oldest first, when more peers than this are cut off, so a
 * flood of misbehaving peer ids cannot grow the forwarder's memory.
 *
 * @default 10000
 */
export const MAX_CUT_OFF_PEERS = 10_000

/**
 * The longest length prefix read: a varint of up to 5 bytes holds any 32-bit
 * length, far beyond `maxMessageSize`. A longer one is malformed.
 *
 * @default 5
 */
export const MAX_LENGTH_PREFIX_BYTES = 5
