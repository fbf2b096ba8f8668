import { GiB, KiB, MiB } from '@shoal/core'

/** Reported in heartbeats and in libp2p's identify user agent. */
export const NODE_VERSION = '0.1.0'

/** Listen addresses when none are configured: loopback TCP (fastest) and WebSockets (browsers). */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

/** Bytes of pieces a node stores unless told otherwise. */
export const DEFAULT_CAPACITY = 10 * GiB

/**
 * Yamux per-stream receive window. Wide windows keep a fast link busy (js-libp2p-yamux#42); the window is also
 * what a paused upload can still have in flight, so it bounds memory per stream.
 */
export const STREAM_WINDOW_BYTES = 8 * MiB
/** Reads are paused once this many bytes wait for the disk, so a slow disk throttles the sender. */
export const READ_HIGH_WATER_BYTES = 1 * MiB
/**
 * libp2p resets a stream whose paused read buffer grows past this. A paused stream receives at most one window
 * (PausingReader never leaves it paused while yamux grants window), so the window plus slack.
 */
export const MAX_READ_BUFFER_BYTES = STREAM_WINDOW_BYTES + 2 * MiB
/** Piece bytes are written to disk in blocks of up to this size (fewer syscalls than one per yamux frame). */
export const WRITE_BLOCK_BYTES = 1 * MiB
/** Get bytes waiting in a stream's write buffer beyond the peer's window: the disk reader waits above this. */
export const MAX_WRITE_BUFFER_BYTES = 1 * MiB
/**
 * Get responses are read from disk and sent in slices of this size: big writes keep yamux framing cheap. 1 MiB
 * moved 16-33% more than 256 KiB per CPU second in node/scripts/transport-probe.ts (docs/transport-tuning.md).
 */
export const READ_SLICE_BYTES = 1 * MiB
/** Under an egress limit, slices carry about this much of the uplink's time (at least MIN_PACED_SLICE_BYTES). */
export const PACED_SLICE_MS = 25
export const MIN_PACED_SLICE_BYTES = 64 * KiB

/**
 * How often libp2p's connection monitor pings each open connection (libp2p's default is 10 s). Each ping is a
 * new stream with protocol negotiation, sent by both ends: in a meshed idle network it was the largest share of a
 * node's CPU after JIT warm-up. A connection whose peer vanished is aborted within two minutes, and at once when
 * a transfer on it fails.
 */
export const CONNECTION_PING_INTERVAL_MS = 120_000

/**
 * How often a node looks itself up in the DHT and refreshes its routing table (kad-dht's default: every 5 min
 * each). Nodes already learn of each other from the tracker's heartbeats and identify on every connection, and a
 * restarted node looks itself up at start, so these lookups only catch what those missed. In an idle 16-node
 * network each refresh was a burst of DHT streams on every node (with their metrics and peer-store writes): a
 * third of an idle node's CPU (docs/transport-tuning.md, session 10).
 */
export const DHT_REFRESH_INTERVAL_MS = 30 * 60_000

/**
 * How often kad-dht re-tags the closest peers to keep their connections open (default every 5 s, a wakeup each):
 * the set changes only when nodes join or leave.
 */
export const DHT_CLOSEST_PEERS_RETAG_MS = 60_000

/** A request whose stream moves no byte for this long is aborted. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 30_000
/** After answering, how long to wait for the peer to close its side before resetting the stream. */
export const FINISH_GRACE_MS = 5_000
/** Requests served at once across all connections; more are shed with ERR_NODE_OVERLOADED. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 64
/**
 * Streams one peer may hold open before their request header arrived, and how long a header may take in all
 * (issue 12: 32 idle get and 32 idle delete streams, a byte every 29 s, once locked every client out).
 */
export const DEFAULT_MAX_PENDING_PER_PEER = 8
export const DEFAULT_HEADER_TIMEOUT_MS = 5_000
/**
 * Bytes of a get a node sends beyond what the client's in-band receipts cover (get protocol 2.0.0). Clients
 * receipt every RECEIPT_INTERVAL_BYTES (core), a quarter of this, so an honest transfer never waits for one.
 */
export const DEFAULT_RECEIPT_CREDIT_BYTES = 4 * MiB
/** Authorized requests one peer may have in flight: one client cannot take every slot either. */
export const DEFAULT_MAX_REQUESTS_PER_PEER = 32
/** Streams one connection may have open per protocol (libp2p's per-protocol limit). */
export const MAX_INBOUND_STREAMS = { put: 16, get: 32, delete: 32 } as const

/** Clock difference tolerated between tracker and node; used serials are kept at least this long past expiry. */
export const GRANT_SKEW_MS = 30_000
/** How often expired used-serial records are dropped. */
export const SERIAL_PRUNE_INTERVAL_MS = 60_000

/** Heartbeat interval until the tracker says otherwise (a release tracker's default). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000
/** Backoff while the tracker is unreachable: starts here, doubles, capped below. */
export const TRACKER_RETRY_MIN_MS = 500
export const TRACKER_RETRY_MAX_MS = 30_000
/** One HTTP call to the tracker may take this long. */
export const TRACKER_REQUEST_TIMEOUT_MS = 10_000
/** With a pinned key the node tries the tracker this long at start before serving with the pinned key. */
export const PINNED_KEY_CHECK_TIMEOUT_MS = 5_000
/** Most peers from one heartbeat response that are merged into the peer store / dialled. */
export const MAX_HEARTBEAT_PEERS = 64
export const MAX_HEARTBEAT_DIALS = 8
/** Heartbeat peers whose last merged addresses are remembered (to skip unchanged merges). */
export const MAX_KNOWN_PEERS = 4_096
/** Most delete serials reported in one heartbeat; the rest wait for the next one. */
export const MAX_REPORTED_DELETES = 10_000
/** Most delete orders carried out from one heartbeat response. */
export const MAX_DELETES_PER_HEARTBEAT = 1_000
