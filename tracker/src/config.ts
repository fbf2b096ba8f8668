import { join } from 'node:path'
import { type ObjectLayout, parseDuration, validateLayout } from '@shoal/core'
import pino, { type Logger } from 'pino'
import { DEFAULTS, OFFLINE_AFTER_INTERVALS } from './constants.ts'
import { type Layout, minCommitFloor, type PolicySettings } from './erasure-policy.ts'
import { type MailSender, OutboxMailSender } from './mail/mail-sender.ts'
import { type OpsSettings, resolveOps } from './ops/ops-config.ts'
import type { Store } from './store/store.ts'

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export interface TrackerPolicy {
  /**
   * Data pieces per segment for every upload. Give k and m together to fix the layout; give neither and each
   * upload gets the widest automatic layout the nodes online can hold (see AUTO_LAYOUTS).
   */
  k?: number
  /** Parity pieces per segment; with k. */
  m?: number
  /** Plaintext bytes per segment. */
  segmentSize: number
  /**
   * Fixed layouts only: receipts a segment needs before it commits, from k + ceil(m / 2) to k + m (default);
   * the client cancels the slowest pushes beyond it.
   */
  minCommitPieces?: number
  /**
   * Any layout: how many of the slowest pushes of a segment the client may cancel, capped per layout at
   * floor(m / 2) (see minCommitFloor). Default 0. Not together with minCommitPieces.
   */
  longTail?: number
}

/**
 * The policy after validation: `layout` is undefined when chosen per upload; `minCommitPieces` is set with a
 * fixed layout, and derived per upload from `longTail` otherwise.
 */
export type ResolvedPolicy = PolicySettings

export interface TrackerInit {
  /** Folder for the tracker's key and its embedded database. Required. */
  dataDir: string
  /** Default 127.0.0.1. */
  host?: string
  /** Default 7070; 0 picks a free port (read it from `tracker.url`). */
  port?: number
  /** Default: automatic layouts, 8 MiB segments, every piece's receipt needed to commit. */
  policy?: Partial<TrackerPolicy>
  /** Quota of new accounts in bytes; default 10 GiB. */
  defaultQuota?: number
  /** How often nodes should send heartbeats. Default 30 s. */
  heartbeatIntervalMs?: number
  /**
   * A node whose last heartbeat is older than this counts as offline: no new pieces, no grants to it, and (after
   * `ops.repairOfflineGraceMs`) its pieces are repaired. Default 3 heartbeat intervals; at least one interval.
   */
  offlineAfterMs?: number
  /** Lifetime of put and get grants; default 1 h. */
  grantTtlMs?: number
  /** An upload not committed within this time is swept; default 24 h. */
  uploadTtlMs?: number
  /** Default 30 days. */
  sessionTtlMs?: number
  /** How often expired uploads and sessions are swept; default 1 min. */
  sweepIntervalMs?: number
  /** Default: a silent logger. */
  logger?: Logger
  /** Default: the system clock. Tests move time forward with their own. */
  clock?: Clock
  /** Audits, reputation and repair (see ops/ops-config.ts for defaults). */
  ops?: Partial<OpsSettings>
  /** Default: a LevelStore in `<dataDir>/store`. */
  store?: Store
  /**
   * Reverse proxies (addresses, CIDRs, `loopback`) whose X-Forwarded-For is believed, so node subnets and rate
   * limits see real clients; default none (http/edge.ts).
   */
  trustProxy?: string[]
  /** The operator's bearer token for the admin API (takedowns, suspensions); none: no admin API. */
  adminToken?: string
  /** Serve HTTPS with this certificate and key (PEM files), reloaded when they change; default plain HTTP. */
  tls?: { cert: string; key: string; reloadIntervalMs?: number }
  /**
   * Sign-up needs a code mailed to the address (docs/security.md, "Sign-up and registered emails"); default off,
   * as on a local testnet where nobody reads mail.
   */
  verifyEmail?: boolean
  /** Where mail goes; default an OutboxMailSender writing files into `<dataDir>/outbox`. */
  mailer?: MailSender
  /** How long an emailed sign-up code works; default 15 min. */
  signupCodeTtlMs?: number
  /** Stops the tracker when aborted. */
  signal?: AbortSignal
}

export interface TrackerConfig {
  dataDir: string
  host: string
  port: number
  policy: ResolvedPolicy
  defaultQuota: number
  heartbeatIntervalMs: number
  offlineAfterMs: number
  grantTtlMs: number
  uploadTtlMs: number
  sessionTtlMs: number
  sweepIntervalMs: number
  ops: OpsSettings
  logger: Logger
  clock: Clock
  trustProxy: string[]
  adminToken: string | undefined
  tls: { cert: string; key: string; reloadIntervalMs?: number } | undefined
  verifyEmail: boolean
  mailer: MailSender
  signupCodeTtlMs: number
}

const systemClock: Clock = { now: () => Date.now() }

/** Fills in defaults and checks the values once, so nothing downstream has to. Bad values are TypeErrors. */
export function resolveConfig(init: TrackerInit): TrackerConfig {
  if (typeof init.dataDir !== 'string' || init.dataDir.length === 0) throw new TypeError('dataDir is required')
  const policy = resolvePolicy(init.policy ?? {})
  const port = init.port ?? DEFAULTS.port
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new TypeError(`port ${port} is not a TCP port`)
  const positive = (name: string, value: number): number => {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`)
    return value
  }
  const heartbeatIntervalMs = positive('heartbeatIntervalMs', init.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs)
  const offlineAfterMs = positive(
    'offlineAfterMs',
    init.offlineAfterMs ?? OFFLINE_AFTER_INTERVALS * heartbeatIntervalMs
  )
  if (offlineAfterMs < heartbeatIntervalMs) {
    throw new TypeError(
      `offlineAfterMs (${offlineAfterMs} ms) is shorter than one heartbeat interval (${heartbeatIntervalMs} ms): every node would flap offline`
    )
  }
  return {
    dataDir: init.dataDir,
    host: init.host ?? DEFAULTS.host,
    port,
    policy,
    defaultQuota: positive('defaultQuota', init.defaultQuota ?? DEFAULTS.defaultQuota),
    heartbeatIntervalMs,
    offlineAfterMs,
    grantTtlMs: positive('grantTtlMs', init.grantTtlMs ?? DEFAULTS.grantTtlMs),
    uploadTtlMs: positive('uploadTtlMs', init.uploadTtlMs ?? DEFAULTS.uploadTtlMs),
    sessionTtlMs: positive('sessionTtlMs', init.sessionTtlMs ?? DEFAULTS.sessionTtlMs),
    sweepIntervalMs: positive('sweepIntervalMs', init.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs),
    ops: resolveOps(init.ops),
    logger: init.logger ?? pino({ level: 'silent' }),
    clock: init.clock ?? systemClock,
    trustProxy: init.trustProxy ?? [],
    adminToken: init.adminToken,
    tls: init.tls,
    verifyEmail: init.verifyEmail ?? false,
    mailer: init.mailer ?? new OutboxMailSender(join(init.dataDir, 'outbox'), (init.clock ?? systemClock).now),
    signupCodeTtlMs: positive('signupCodeTtlMs', init.signupCodeTtlMs ?? DEFAULTS.signupCodeTtlMs)
  }
}

function resolvePolicy(init: Partial<TrackerPolicy>): ResolvedPolicy {
  const { k, m } = init
  const segmentSize = init.segmentSize ?? DEFAULTS.segmentSize
  if ((k === undefined) !== (m === undefined)) {
    throw new TypeError('give k and m together (or neither, for layouts chosen from the nodes online)')
  }
  const layout: Layout | undefined = k === undefined || m === undefined ? undefined : { k, m }
  try {
    validateLayout({ size: 0, segmentSize, ...(layout ?? { k: 2, m: 1 }) } satisfies ObjectLayout)
  } catch (err) {
    throw new TypeError((err as Error).message)
  }
  if (init.minCommitPieces !== undefined && init.longTail !== undefined) {
    throw new TypeError('give minCommitPieces or longTail, not both')
  }
  const longTail = init.longTail ?? 0
  if (!Number.isSafeInteger(longTail) || longTail < 0) throw new TypeError('longTail must be an integer >= 0')
  let minCommitPieces: number | undefined
  if (init.minCommitPieces !== undefined) {
    if (layout === undefined) {
      throw new TypeError('minCommitPieces needs a fixed layout (k and m); with automatic layouts use longTail')
    }
    const floor = minCommitFloor(layout)
    const n = init.minCommitPieces
    if (!Number.isInteger(n) || n < floor || n > layout.k + layout.m) {
      throw new TypeError(
        `minCommitPieces must be from k + ceil(m / 2) = ${floor} to k + m = ${layout.k + layout.m} for ${layout.k}+${layout.m}`
      )
    }
    minCommitPieces = n
  } else if (layout !== undefined) {
    if (longTail > Math.floor(layout.m / 2)) {
      throw new TypeError(
        `longTail must be at most floor(m / 2) = ${Math.floor(layout.m / 2)} for ${layout.k}+${layout.m}`
      )
    }
    minCommitPieces = layout.k + layout.m - longTail
  }
  return { layout, segmentSize, minCommitPieces, longTail }
}

export { parseDuration }
