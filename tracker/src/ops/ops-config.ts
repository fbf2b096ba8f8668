import type { ReputationPolicy } from './reputation.ts'
import type { LoopbackSubnets } from './subnet.ts'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** Audits, reputation and repair: what the tracker does to keep files alive (docs/audits-and-repair.md). */
export interface OpsSettings extends ReputationPolicy {
  /** How often the auditor plans and runs a round of audits; 0 turns audits off. */
  auditIntervalMs: number
  /** How often older file versions past their account's policy are purged (docs/versions.md); 0: never. */
  versionPurgeIntervalMs: number
  /** Share of all pieces audited per round (each node at least one), so a node is audited in proportion to what it holds. */
  auditRate: number
  /**
   * Most audits a round picks at random (the `auditRate` share, beyond each node's one): the share falls as the
   * network grows so that a round's audits stay within what the tracker may spend on them (at 9M pieces, 1% would
   * be 90,000 audits a round). 0: no limit.
   */
  auditBudget: number
  /** Leaves challenged per audit. */
  auditLeaves: number
  /** An audit that takes longer is a timeout (retried before it counts). */
  auditTimeoutMs: number
  /** Audits run at once. */
  auditConcurrency: number
  /**
   * How often a pass of the repair check over every segment begins (a slice per `scanTickMs`); 0 turns repair
   * off. The pass is the safety net: node failures are found within a tick by the node watch (the segments of a
   * node whose state got worse, by index), so the period is set by what the pass may cost, not by how soon a
   * failure must be seen (docs/audits-and-repair.md, "Repair").
   */
  repairIntervalMs: number
  /**
   * Segments per second the repair check reads: the node watch first, the pass with the rest. A pass over S
   * segments takes S / rate seconds (plus what node walks took): keep it under `repairIntervalMs` (the default
   * 2,500/s covers 4.5M segments per 30 minutes). A pass that overruns is logged.
   */
  repairScanSegmentsPerSecond: number
  /** Pause between two slices of a background walk (the repair check, the audit round). */
  scanTickMs: number
  /**
   * Segments per second the audit round reads. A round over S segments takes S / rate seconds; keep it under
   * `auditIntervalMs` (3M segments in 5 minutes: at least 10,000/s). A round that overruns is logged.
   */
  scanSegmentsPerSecond: number
  /** How long a segment taken off the repair queue stays this tracker's; after that (it died) another may take it. */
  repairClaimMs: number
  /**
   * A segment is repaired once its healthy pieces are at most k + repairMargin; default floor(m / 2) of its
   * layout (capped at m - 1: any loss). Healthy: on an online node in good standing whose audits did not fail.
   */
  repairMargin: number | undefined
  /**
   * Pieces on an offline node not heard from for less than this (since its last heartbeat) still count as
   * healthy, unless the segment is down to k pieces on online nodes: a restart or a late heartbeat does not set
   * off a repair. 0: offline is unhealthy at once.
   */
  repairOfflineGraceMs: number
  /** Segments repaired at once. */
  repairConcurrency: number
  /**
   * Who moves a repair's bytes: 'nodes' (default) sends a storage node a repair order, so data never flows
   * through the tracker, and the tracker repairs itself only when no node can; 'tracker' always repairs here.
   */
  repairBy: 'nodes' | 'tracker'
  /** A node that stops sending bytes for this long during repair is dropped. */
  repairStallMs: number
  /** Share of a segment's pieces unvetted nodes may get while vetted nodes have room. */
  newNodeFraction: number
  loopbackSubnets: LoopbackSubnets
  /**
   * How long one walk's retain filters serve nodes' requests before the next walk. The walk reads every segment
   * twice (at 1M objects: 93 s, 80 CPU-s here and 47 in PostgreSQL, bench/RESULTS.md session 13), so it is made
   * about as often as nodes ask (every 6 h by default); an older filter is still safe (retain.ts), it only keeps
   * garbage a little longer.
   */
  retainCacheMs: number
  /** Share of garbage pieces a retain filter lets through (they go with a later filter). */
  retainFalsePositiveRate: number
  /**
   * How a node that heartbeats is admitted: 'dial-back' (default) lists it only at the addresses where the
   * tracker dialled it back over libp2p and it proved its key (node-admission.ts); 'trust' takes its word, for
   * tests and load benchmarks with simulated nodes only.
   */
  admitNodes: 'dial-back' | 'trust'
}

export const OPS_DEFAULTS: OpsSettings = {
  auditIntervalMs: 5 * MINUTE,
  auditRate: 0.01,
  auditBudget: 5_000,
  auditLeaves: 4,
  auditTimeoutMs: 10 * SECOND,
  auditConcurrency: 4,
  auditLambda: 0.95,
  auditDisqualify: 0.6,
  uptimeLambda: 0.99,
  vettingAudits: 10,
  auditRetries: 3,
  maxOfflineMs: 72 * HOUR,
  repairIntervalMs: 30 * MINUTE,
  repairScanSegmentsPerSecond: 2_500,
  scanTickMs: SECOND,
  scanSegmentsPerSecond: 20_000,
  repairClaimMs: 10 * MINUTE,
  versionPurgeIntervalMs: HOUR,
  repairMargin: undefined,
  repairOfflineGraceMs: 10 * MINUTE,
  repairConcurrency: 2,
  repairBy: 'nodes',
  repairStallMs: 30 * SECOND,
  newNodeFraction: 0.05,
  loopbackSubnets: 'node',
  retainCacheMs: 6 * HOUR,
  retainFalsePositiveRate: 0.01,
  admitNodes: 'dial-back'
}

export function resolveOps(init: Partial<OpsSettings> = {}): OpsSettings {
  const s = { ...OPS_DEFAULTS, ...init }
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new TypeError(what)
  }
  const count = (v: number, min: number) => Number.isSafeInteger(v) && v >= min
  check(count(s.auditIntervalMs, 0), 'auditIntervalMs must be an integer >= 0')
  check(s.auditRate >= 0 && s.auditRate <= 1, 'auditRate must be from 0 to 1')
  check(count(s.auditBudget, 0), 'auditBudget must be an integer >= 0')
  check(count(s.auditLeaves, 1) && s.auditLeaves <= 16, 'auditLeaves must be from 1 to 16')
  check(count(s.auditTimeoutMs, 1), 'auditTimeoutMs must be a positive integer')
  check(count(s.auditConcurrency, 1), 'auditConcurrency must be a positive integer')
  check(s.auditLambda > 0 && s.auditLambda < 1, 'auditLambda must be between 0 and 1')
  check(s.uptimeLambda > 0 && s.uptimeLambda < 1, 'uptimeLambda must be between 0 and 1')
  check(s.auditDisqualify >= 0 && s.auditDisqualify < 1, 'auditDisqualify must be from 0 to 1')
  check(count(s.vettingAudits, 0), 'vettingAudits must be an integer >= 0')
  check(count(s.auditRetries, 0), 'auditRetries must be an integer >= 0')
  check(count(s.maxOfflineMs, 1), 'maxOfflineMs must be a positive integer')
  check(count(s.repairIntervalMs, 0), 'repairIntervalMs must be an integer >= 0')
  check(count(s.scanTickMs, 1), 'scanTickMs must be a positive integer')
  check(count(s.scanSegmentsPerSecond, 1), 'scanSegmentsPerSecond must be a positive integer')
  check(count(s.repairScanSegmentsPerSecond, 1), 'repairScanSegmentsPerSecond must be a positive integer')
  check(count(s.repairClaimMs, 1), 'repairClaimMs must be a positive integer')
  check(count(s.versionPurgeIntervalMs, 0), 'versionPurgeIntervalMs must be an integer >= 0')
  check(s.repairMargin === undefined || count(s.repairMargin, 0), 'repairMargin must be an integer >= 0')
  check(count(s.repairOfflineGraceMs, 0), 'repairOfflineGraceMs must be an integer >= 0')
  check(count(s.repairConcurrency, 1), 'repairConcurrency must be a positive integer')
  check(count(s.repairStallMs, 1), 'repairStallMs must be a positive integer')
  check(s.newNodeFraction >= 0 && s.newNodeFraction <= 1, 'newNodeFraction must be from 0 to 1')
  check(s.loopbackSubnets === 'node' || s.loopbackSubnets === 'address', "loopbackSubnets must be 'node' or 'address'")
  check(s.repairBy === 'nodes' || s.repairBy === 'tracker', "repairBy must be 'nodes' or 'tracker'")
  check(count(s.retainCacheMs, 0), 'retainCacheMs must be an integer >= 0')
  check(s.admitNodes === 'dial-back' || s.admitNodes === 'trust', "admitNodes must be 'dial-back' or 'trust'")
  check(
    s.retainFalsePositiveRate > 0 && s.retainFalsePositiveRate < 1,
    'retainFalsePositiveRate must be between 0 and 1'
  )
  return s
}

/**
 * How many segments a background walk may read per tick so that it keeps `perSecond` over time: the rate times
 * the time since the last tick began (the loop pauses `scanTickMs` after a tick's work, so a fixed budget per
 * tick would fall short of the rate by however long the work took), at most two ticks' worth after a stall.
 * Process time, like the walks' other pacing: a test clock that jumps must not make a walk race.
 */
export class ScanPace {
  readonly #tickMs: number
  readonly #perSecond: () => number
  #last: number | undefined

  constructor(tickMs: number, perSecond: () => number) {
    this.#tickMs = tickMs
    this.#perSecond = perSecond
  }

  budget(now = performance.now()): number {
    const elapsed = this.#last === undefined ? this.#tickMs : Math.min(Math.max(0, now - this.#last), 2 * this.#tickMs)
    this.#last = now
    return Math.max(1, Math.ceil((this.#perSecond() * elapsed) / 1000))
  }
}

/** Healthy pieces at or below which a segment of layout k+m is repaired. */
export function repairThreshold(k: number, m: number, margin: number | undefined): number {
  return k + Math.min(Math.max(0, m - 1), margin ?? Math.floor(m / 2))
}
