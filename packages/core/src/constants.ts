export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

/** Plaintext bytes per segment unless the tracker's policy says otherwise. */
export const DEFAULT_SEGMENT_SIZE = 8 * MiB
/** Largest segment a client or tracker accepts: bounds the memory one segment in flight can take. */
export const MAX_SEGMENT_SIZE = 64 * MiB
/** AES-GCM authentication tag appended to every sealed segment. */
export const GCM_TAG_BYTES = 16
export const CONTENT_KEY_BYTES = 32
/** Per-object random nonce prefix; the segment index fills the remaining 4 bytes of the 12-byte GCM nonce. */
export const OBJECT_NONCE_BYTES = 8

/** Reed-Solomon over GF(2^8) allows at most 256 shards in total. */
export const MAX_TOTAL_PIECES = 256

/** Protocol ids, one per operation so each can have its own stream limits. */
export const PROTOCOL_PUT = '/shoal/piece/put/1.0.0'
/**
 * Get 2.0.0 (issue 12): the client keeps its side open after the request and sends signed cumulative receipts
 * (`{ receipt }` frames) as bytes arrive, at least every RECEIPT_INTERVAL_BYTES and once for the total; the
 * node sends at most its credit beyond what they cover (node/src/credit-window.ts).
 */
export const PROTOCOL_GET = '/shoal/piece/get/2.0.0'
/** A client sends an in-band receipt at least every this many bytes of a get. */
export const RECEIPT_INTERVAL_BYTES = 1024 * 1024
export const PROTOCOL_DELETE = '/shoal/piece/delete/1.0.0'
/** kad-dht protocol: a private prefix keeps Shoal nodes off the public IPFS DHT. */
export const PROTOCOL_DHT = '/shoal/kad/1.0.0'

/** Largest JSON header on a piece stream: a grant plus a few fields fits in well under this. */
export const MAX_FRAME_HEADER_BYTES = 16 * KiB
/** Largest piece a node accepts: a MAX_SEGMENT_SIZE segment split into one data piece. */
export const MAX_PIECE_BYTES = MAX_SEGMENT_SIZE + GCM_TAG_BYTES

export const API_VERSION = 'v1'
