import { DEFAULT_SEGMENT_SIZE, GiB, KiB, MiB } from '@shoal/core'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** Release defaults; tests and the testnet pass shorter intervals. */
export const DEFAULTS = {
  host: '127.0.0.1',
  port: 7070,
  segmentSize: DEFAULT_SEGMENT_SIZE,
  defaultQuota: 10 * GiB,
  // 30 s, not 10: at 10 s an idle 16-node network spent a third of its CPU on heartbeats (the nodes' and the
  // tracker's), and 1,000 nodes would send 100 a second (docs/transport-tuning.md, session 12).
  heartbeatIntervalMs: 30 * SECOND,
  grantTtlMs: HOUR,
  uploadTtlMs: DAY,
  sessionTtlMs: 30 * DAY,
  sweepIntervalMs: MINUTE,
  signupCodeTtlMs: 15 * MINUTE
} as const

/** By default a node is online while its last heartbeat is at most this many intervals old (one or two may be lost). */
export const OFFLINE_AFTER_INTERVALS = 3
/** Largest distance between a heartbeat's own time and the tracker's clock. */
export const HEARTBEAT_MAX_SKEW_MS = 60 * SECOND
/** Other online nodes a heartbeat answer carries for DHT bootstrap. */
export const MAX_HEARTBEAT_PEERS = 20
/** Delete orders per heartbeat answer: the rest follow with later heartbeats. */
export const MAX_HEARTBEAT_DELETES = 256

/** Largest request body; bigger ones are refused before they are parsed. */
export const MAX_BODY_BYTES = MiB
/** Upload sweeps handle this many expired uploads per pass, so one pass stays short. */
export const SWEEP_BATCH = 100

/**
 * The auth key is already a 256-bit secret stretched by the client's scrypt, so the tracker's hash only has to
 * make a stolen database useless, not slow down guessing: N = 2^14 (16 MiB, ~30 ms) is plenty.
 */
export const AUTH_SCRYPT = { N: 2 ** 14, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const
/** Bytes of randomness in session tokens, ids and serials. */
export const TOKEN_BYTES = 32
export const ID_BYTES = 16

/** Field bounds: they keep every stored record small and every request cheap to check. */
export const LIMITS = {
  /**
   * Most bytes one node may claim to offer (1 PiB): a claim is only a claim, and a huge one must not win a
   * key all placement. A node is also never credited with more free space than capacity less used.
   */
  nodeCapacity: 2 ** 50,
  email: 254,
  /** base64url characters. */
  authKey: 128,
  wrappedMasterKey: 1024,
  nameHash: 128,
  meta: 64 * KiB,
  /** A share's sealed name, size and type. */
  shareMeta: 4 * KiB,
  wrappedKey: 1024,
  exclude: 256,
  addrs: 32,
  addr: 256,
  version: 64,
  /** Serials acknowledged in one heartbeat: a node catching up after an outage reports thousands. */
  deleted: 10_000,
  peerId: 128
} as const
