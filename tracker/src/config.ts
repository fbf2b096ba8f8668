import { type ObjectLayout, validateLayout } from '@shoal/core'
import pino, { type Logger } from 'pino'
import { DEFAULTS } from './constants.ts'
import type { Store } from './store/store.ts'

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export interface TrackerPolicy {
  /** Data pieces per segment. */
  k: number
  /** Parity pieces per segment. */
  m: number
  /** Plaintext bytes per segment. */
  segmentSize: number
  /** Pieces of a segment that must have verified receipts before it counts as committed (k..k+m). */
  minCommitPieces: number
}

export interface TrackerInit {
  /** Folder for the tracker's key and its embedded database. Required. */
  dataDir: string
  /** Default 127.0.0.1. */
  host?: string
  /** Default 7070; 0 picks a free port (read it from `tracker.url`). */
  port?: number
  /** Default k = 4, m = 2, 8 MiB segments, minCommitPieces = k + m. */
  policy?: Partial<TrackerPolicy>
  /** Quota of new accounts in bytes; default 10 GiB. */
  defaultQuota?: number
  /** How often nodes should send heartbeats; a node is online if seen within 3 intervals. Default 10 s. */
  heartbeatIntervalMs?: number
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
  /** Default: a LevelStore in `<dataDir>/store`. */
  store?: Store
  /** Stops the tracker when aborted. */
  signal?: AbortSignal
}

export interface TrackerConfig {
  dataDir: string
  host: string
  port: number
  policy: TrackerPolicy
  defaultQuota: number
  heartbeatIntervalMs: number
  grantTtlMs: number
  uploadTtlMs: number
  sessionTtlMs: number
  sweepIntervalMs: number
  logger: Logger
  clock: Clock
}

const systemClock: Clock = { now: () => Date.now() }

/** Fills in defaults and checks the values once, so nothing downstream has to. Bad values are TypeErrors. */
export function resolveConfig(init: TrackerInit): TrackerConfig {
  if (typeof init.dataDir !== 'string' || init.dataDir.length === 0) throw new TypeError('dataDir is required')
  const k = init.policy?.k ?? DEFAULTS.k
  const m = init.policy?.m ?? DEFAULTS.m
  const segmentSize = init.policy?.segmentSize ?? DEFAULTS.segmentSize
  const layout: ObjectLayout = { size: 0, k, m, segmentSize }
  try {
    validateLayout(layout)
  } catch (err) {
    throw new TypeError((err as Error).message)
  }
  const minCommitPieces = init.policy?.minCommitPieces ?? k + m
  if (!Number.isInteger(minCommitPieces) || minCommitPieces < k || minCommitPieces > k + m) {
    throw new TypeError(`minCommitPieces must be between k (${k}) and k + m (${k + m})`)
  }
  const port = init.port ?? DEFAULTS.port
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new TypeError(`port ${port} is not a TCP port`)
  const positive = (name: string, value: number): number => {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`)
    return value
  }
  return {
    dataDir: init.dataDir,
    host: init.host ?? DEFAULTS.host,
    port,
    policy: { k, m, segmentSize, minCommitPieces },
    defaultQuota: positive('defaultQuota', init.defaultQuota ?? DEFAULTS.defaultQuota),
    heartbeatIntervalMs: positive('heartbeatIntervalMs', init.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs),
    grantTtlMs: positive('grantTtlMs', init.grantTtlMs ?? DEFAULTS.grantTtlMs),
    uploadTtlMs: positive('uploadTtlMs', init.uploadTtlMs ?? DEFAULTS.uploadTtlMs),
    sessionTtlMs: positive('sessionTtlMs', init.sessionTtlMs ?? DEFAULTS.sessionTtlMs),
    sweepIntervalMs: positive('sweepIntervalMs', init.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs),
    logger: init.logger ?? pino({ level: 'silent' }),
    clock: init.clock ?? systemClock
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses '500ms', '10s', '5m', '24h', '30d' or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (match === null) throw new TypeError(`cannot read "${text}" as a duration: use a number with ms, s, m, h or d`)
  const value = Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] as number))
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`duration "${text}" is out of range`)
  return value
}
