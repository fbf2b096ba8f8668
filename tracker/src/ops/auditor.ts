import type { Libp2p } from '@libp2p/interface'
import { openStream } from '@shoal/client'
import {
  describeError,
  ErrorCode,
  fromBase64Url,
  isShoalError,
  merkleLeafCount,
  type PiecePlacement,
  PROTOCOL_AUDIT,
  pieceSize,
  runAudit
} from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from '../config.ts'
import type { GrantSigner } from '../grants.ts'
import type { NodeRegistry } from '../node-registry.ts'
import type { StoreParts } from '../store/store.ts'
import { type OpsSettings, ScanPace } from './ops-config.ts'
import { type AuditOutcome, applyAudit, applyUptime, type HeldPiece, mostNodesFailing } from './reputation.ts'
import type { Reputations } from './reputations.ts'
import { type ScanSlice, SegmentScan } from './segment-scan.ts'
import { pieceKey, type WalkedSegment } from './segments.ts'

export interface AuditTarget {
  objectId: string
  segment: number
  piece: PiecePlacement & { root: string }
  pieceSize: number
  owner: string
}

export interface AuditStats {
  rounds: number
  /** Audits by result. */
  results: Record<AuditOutcome | 'skipped', number>
  /** Pieces whose audit failed (corrupt, missing or a garbage answer): counted unhealthy until repaired. */
  corruptionsDetected: number
  leavesChecked: number
  lastRoundMs: number
}

export interface AuditorComponents {
  store: StoreParts<'objects' | 'coordination'>
  registry: NodeRegistry
  reputations: Reputations
  signer: GrantSigner
  peer: () => Promise<Libp2p>
  settings: OpsSettings
  clock: Clock
  logger: Logger
}

/** The cursor of the audit round's walk in the coordination store. */
export const AUDIT_SCAN = 'audit-round'

type AuditResult = { target: AuditTarget; outcome: AuditOutcome | 'skipped' }

/** What one round keeps while it walks its slices: bounded by the number of nodes, not of pieces. */
interface RoundState {
  /** Tracker time the round began. */
  start: number
  /** Wall time, for stats. */
  startedMs: number
  /** Nodes audited in this round so far (the reservoir's pick is only needed for the others). */
  audited: Set<string>
  /** One piece per node by reservoir sampling, so every node holding anything is audited each round. */
  reservoir: Map<string, { target: AuditTarget; seen: number }>
  /** A contained node's pending piece. */
  contained: Map<string, string>
  pendingFound: Set<string>
  audits: number
  counts: Record<AuditOutcome | 'skipped', number>
  /** Pieces walked so far: the next round's share is set from this one's count (see #plan). */
  pieces: number
  /** Audits picked at random so far (the `auditRate` share, held to `auditBudget`). */
  sampled: number
}

/** Codes that mean the node answered, and wrongly: the piece is gone or the answer is garbage. */
const FAILURE_CODES: ReadonlySet<string> = new Set([
  ErrorCode.PIECE_NOT_FOUND,
  ErrorCode.PIECE_CORRUPT,
  ErrorCode.PROTOCOL,
  ErrorCode.TRUNCATED,
  ErrorCode.INVALID_INPUT,
  ErrorCode.FRAME_TOO_LARGE
])

/**
 * Audits storage nodes: each round walks every segment, picks pieces at random (each piece with probability
 * `auditRate`, at most `auditBudget` a round, and at least one per node, so a node is audited in proportion to
 * what it holds), challenges `auditLeaves` random leaves of each against the Merkle root recorded at commit,
 * and updates the node's reputation. Nodes with a timed-out audit are asked about that same piece again first
 * ("containment"). Each round also checks every node's uptime.
 *
 * With the repair check on, the round rides its pass (`rideAlong`): one walk of every segment serves both, and
 * a round is a repair pass. Walking costs the tracker and the database about as much per segment for either
 * (at 1M objects, 3M segments, a round of its own every 5 minutes took ~9% of a core on average: bench/RESULTS.md,
 * session 13), while planning audits from a slice already read costs next to nothing.
 */
export class Auditor {
  readonly #c: AuditorComponents
  readonly #log: Logger
  /**
   * Start of the previous round. A node with a piece that failed since (its reputation's `failedPieces`, in the
   * store) has every piece it holds audited this round, so a node that lost its data is judged on all of it
   * before repair moves its pieces away, not on the one or two sampled. A new process starts one interval back,
   * so failures found just before a restart or a lease takeover still count.
   */
  #previousRoundStart: number
  readonly #startedAt: number
  /**
   * This round's first timeout of each node, recorded at the round's end unless most nodes timed out (the
   * tracker's trouble then). A node in here has its other audits of the round skipped: one try per round.
   */
  #timeouts = new Map<string, { piece: string; at: number; held: HeldPiece }>()
  /** The round in progress, as this process walks it (starts afresh in a process that takes over mid-round). */
  #round: RoundState | undefined
  readonly #scan: SegmentScan
  readonly #pace: ScanPace
  /** Pieces the last finished round walked: sets the next round's share under the budget. */
  #lastRoundPieces: number | undefined
  /** Riding the repair check's pass: the audits its slices planned, not run yet, and whether the round ends after them. */
  #rides = false
  #queue: AuditTarget[] = []
  #roundClosing = false
  readonly stats: AuditStats = {
    rounds: 0,
    results: { passed: 0, failed: 0, timeout: 0, skipped: 0 },
    corruptionsDetected: 0,
    leavesChecked: 0,
    lastRoundMs: 0
  }

  constructor(components: AuditorComponents) {
    this.#c = components
    this.#log = components.logger
    this.#startedAt = components.clock.now()
    this.#previousRoundStart = this.#startedAt - components.settings.auditIntervalMs
    this.#scan = new SegmentScan(AUDIT_SCAN, components.store, components.clock)
    this.#pace = new ScanPace(components.settings.scanTickMs, () => components.settings.scanSegmentsPerSecond)
  }

  /**
   * One tick of the background round: the next slice of its walk at the configured rate, its planned audits
   * run at once (a new round begins `auditIntervalMs` after the last one began).
   */
  async tick(signal?: AbortSignal): Promise<void> {
    if (this.#rides) return this.#runQueued(signal)
    const { settings } = this.#c
    await this.#scan.tick(
      this.#pace.budget(),
      settings.auditIntervalMs,
      async (slice) => void (await this.#auditSlice(slice, signal)),
      signal
    )
  }

  /** A whole round now, begun and finished by this call (tests, a trigger). Returns the outcome of each audit. */
  async round(signal?: AbortSignal): Promise<AuditResult[]> {
    const results: AuditResult[] = []
    await this.#scan.fullPass(async (slice) => void results.push(...(await this.#auditSlice(slice, signal))), signal)
    return results
  }

  /**
   * Makes rounds ride another walk's pass (the repair check's): the answer is to be called with each slice of
   * that pass, and plans the slice's audits, which `tick` then runs. The auditor walks nothing itself from then
   * on (`round()`, a whole round on demand, still does).
   */
  rideAlong(): (slice: ScanSlice, signal?: AbortSignal) => Promise<void> {
    this.#rides = true
    return async (slice, signal) => {
      // A new pass while the last round's audits still wait: that round ends first.
      if (slice.started && this.#roundClosing) await this.#runQueued(signal)
      if (slice.started || this.#round === undefined) await this.#beginRound()
      const round = this.#round as RoundState
      this.#queue.push(...(await this.#plan(slice.segments, round)))
      if (slice.finished) this.#roundClosing = true
    }
  }

  /** Runs the audits planned from the ridden pass, and ends the round once its last slice's audits are done. */
  async #runQueued(signal: AbortSignal | undefined): Promise<void> {
    const round = this.#round
    if (round === undefined) return
    const planned = this.#queue
    this.#queue = []
    await this.#run(planned, signal)
    if (this.#roundClosing && this.#queue.length === 0 && signal?.aborted !== true) {
      this.#roundClosing = false
      await this.#endRound(round, signal)
    }
  }

  /**
   * A slice of the round: uptime checks first when the round begins, then the slice's planned audits; at the
   * round's end the reservoir's pick for every node not audited yet, and the round's timeouts recorded.
   */
  async #auditSlice(slice: ScanSlice, signal: AbortSignal | undefined): Promise<AuditResult[]> {
    // A tracker taking the walk over mid-round starts its own state there.
    if (slice.started || this.#round === undefined) await this.#beginRound()
    const round = this.#round as RoundState
    const results = await this.#run(await this.#plan(slice.segments, round), signal)
    if (slice.finished && signal?.aborted !== true) results.push(...(await this.#endRound(round, signal)))
    return results
  }

  /** The reservoir's pick for every node not audited yet, containment ended where due, timeouts recorded. */
  async #endRound(round: RoundState, signal: AbortSignal | undefined): Promise<AuditResult[]> {
    const last = [...round.reservoir.entries()].filter(([node]) => !round.audited.has(node)).map(([, r]) => r.target)
    const results = await this.#run(last, signal)
    await this.#endContainment(round, signal)
    await this.#recordTimeouts(round)
    this.#round = undefined
    this.#previousRoundStart = round.start
    this.#lastRoundPieces = round.pieces
    this.stats.rounds++
    this.stats.lastRoundMs = Math.round(performance.now() - round.startedMs)
    if (round.audits > 0) {
      const { passed, failed, timeout } = round.counts
      this.#log.info({ audits: round.audits, passed, failed, timeout, pieces: round.pieces }, 'audit round done')
    }
    return results
  }

  async #beginRound(): Promise<void> {
    await this.#c.reputations.refresh()
    await this.checkUptime()
    const contained = new Map<string, string>()
    for (const rep of this.#c.reputations.all())
      if (rep.pending !== undefined) contained.set(rep.peerId, rep.pending.piece)
    this.#round = {
      start: this.#c.clock.now(),
      startedMs: performance.now(),
      audited: new Set(),
      reservoir: new Map(),
      contained,
      pendingFound: new Set(),
      audits: 0,
      counts: { passed: 0, failed: 0, timeout: 0, skipped: 0 },
      pieces: 0,
      sampled: 0
    }
  }

  /** Runs audits, `auditConcurrency` at once. */
  async #run(targets: readonly AuditTarget[], signal: AbortSignal | undefined): Promise<AuditResult[]> {
    const round = this.#round
    const results: AuditResult[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < targets.length && signal?.aborted !== true) {
        const target = targets[next++] as AuditTarget
        const outcome = await this.audit(target)
        results.push({ target, outcome })
        if (round !== undefined) {
          round.audits++
          round.counts[outcome]++
          if (outcome !== 'skipped') round.audited.add(target.piece.node)
        }
      }
    }
    await Promise.all(Array.from({ length: this.#c.settings.auditConcurrency }, worker))
    return results
  }

  /**
   * Records the round's timeouts in the nodes' reputations. When at least four nodes were audited and most of
   * them timed out, none is recorded: a tracker cut off from the network (or restarted with addresses that
   * went stale meanwhile) would otherwise disqualify every node at once.
   */
  async #recordTimeouts(round: RoundState): Promise<void> {
    const timeouts = this.#timeouts
    this.#timeouts = new Map()
    if (timeouts.size === 0) return
    const audited = round.audited
    if (mostNodesFailing(timeouts.size, audited.size)) {
      this.#log.warn(
        { timedOut: timeouts.size, audited: audited.size },
        'most nodes audited this round timed out: timeouts not counted'
      )
      return
    }
    const { reputations } = this.#c
    for (const [node, t] of timeouts) {
      await reputations.update(node, (rep) => applyAudit(rep, t.piece, 'timeout', t.at, reputations.policy, t.held))
    }
  }

  /**
   * Updates every known node's uptime score (and disqualifies nodes offline for too long). Time the tracker
   * itself was down does not count against anyone (offline time starts no earlier than this tracker's start),
   * and a round where most nodes look offline is skipped: that is the tracker's or the network's trouble, not
   * theirs.
   */
  async checkUptime(): Promise<void> {
    const now = this.#c.clock.now()
    const policy = this.#c.reputations.policy
    const views = (await this.#c.registry.list()).filter(
      (v) => this.#c.reputations.get(v.peerId)?.disqualified === undefined
    )
    const online = views.filter((v) => v.online).length
    if (mostNodesFailing(views.length - online, views.length)) {
      this.#log.warn({ online, nodes: views.length }, 'most nodes look offline: uptime not scored this round')
      return
    }
    for (const view of views) {
      const since = Math.max(view.lastSeen, this.#startedAt)
      await this.#c.reputations.update(view.peerId, (rep) => applyUptime(rep, view.online, since, now, policy))
    }
  }

  /**
   * Chooses the audits of a slice of the round. Only nodes heard from since this tracker started are audited:
   * before their first heartbeat to it, the addresses it has may be stale (a node restarted on new ports
   * meanwhile). A contained node is asked for its pending piece only.
   */
  async #plan(segments: readonly WalkedSegment[], round: RoundState): Promise<AuditTarget[]> {
    const { auditBudget } = this.#c.settings
    // The share that keeps a round like the last one within the budget; the first round, not knowing the size
    // of the network yet, stops sampling at the budget instead.
    const auditRate =
      auditBudget > 0 && this.#lastRoundPieces !== undefined
        ? Math.min(this.#c.settings.auditRate, auditBudget / Math.max(1, this.#lastRoundPieces))
        : this.#c.settings.auditRate
    const sampling = (): boolean => auditBudget === 0 || round.sampled < auditBudget
    const online = new Set(
      (await this.#c.registry.online()).filter((n) => n.lastSeen >= this.#startedAt).map((n) => n.peerId)
    )
    const eligible = (node: string): boolean =>
      online.has(node) && this.#c.reputations.get(node)?.disqualified === undefined
    const since = this.#previousRoundStart
    const recentlyFailed = (node: string): boolean =>
      this.#c.reputations.get(node)?.failedPieces?.some((f) => f.at >= since) === true
    const chosen = new Map<string, AuditTarget>()
    const { reservoir, contained, pendingFound } = round
    for (const { key, object, segment } of segments) {
      round.pieces += segment.pieces.length
      for (const piece of segment.pieces) {
        if (piece.root === undefined || !eligible(piece.node)) continue
        const target: AuditTarget = {
          objectId: key.objectId,
          segment: key.index,
          piece: piece as PiecePlacement & { root: string },
          pieceSize: pieceSize(object, key.index),
          owner: object.owner
        }
        const id = pieceKey(piece)
        const pending = contained.get(piece.node)
        if (pending !== undefined) {
          if (pending === piece.cid) {
            chosen.set(id, target)
            pendingFound.add(piece.node)
          }
          continue
        }
        if (recentlyFailed(piece.node)) chosen.set(id, target)
        else if (sampling() && Math.random() < auditRate) {
          chosen.set(id, target)
          round.sampled++
        }
        const slot = reservoir.get(piece.node) ?? { target, seen: 0 }
        slot.seen++
        if (Math.random() < 1 / slot.seen) slot.target = target
        reservoir.set(piece.node, slot)
      }
    }
    return [...chosen.values()]
  }

  /**
   * A pending piece the node no longer holds (deleted, or repaired onto another node) cannot be asked for
   * again: containment ends, and the node is audited as usual from the next round on.
   */
  async #endContainment(round: RoundState, signal: AbortSignal | undefined): Promise<void> {
    const online = new Set(
      (await this.#c.registry.online()).filter((n) => n.lastSeen >= this.#startedAt).map((n) => n.peerId)
    )
    for (const [node, piece] of round.contained) {
      if (round.pendingFound.has(node) || !online.has(node) || signal?.aborted === true) continue
      if (this.#c.reputations.get(node)?.disqualified !== undefined) continue
      await this.#c.reputations.update(node, (rep) => {
        if (rep.pending?.piece !== piece) return rep
        const { pending: _, ...rest } = rep
        return rest
      })
    }
  }

  /** Audits one piece and records the outcome in the node's reputation. */
  async audit(target: AuditTarget): Promise<AuditOutcome | 'skipped'> {
    const { settings, registry, signer, reputations, clock } = this.#c
    const node = target.piece.node
    const address = (await registry.addresses()).get(node)
    if (address === undefined || !address.online || this.#timeouts.has(node)) {
      this.stats.results.skipped++
      return 'skipped'
    }
    const count = merkleLeafCount(target.pieceSize)
    const leaves = pickLeaves(count, settings.auditLeaves)
    const log = this.#log.child({ node, piece: target.piece.cid, object: target.objectId, segment: target.segment })
    let outcome: AuditOutcome
    let reason = ''
    const timeout = AbortSignal.timeout(settings.auditTimeoutMs)
    try {
      const { grant } = await signer.sign({
        kind: 'audit',
        piece: target.piece.cid,
        node,
        account: target.owner,
        size: target.pieceSize,
        leaves
      })
      const peer = await this.#c.peer()
      const stream = await openStream(peer, address, PROTOCOL_AUDIT, { signal: timeout })
      const onAbort = (): void => stream.abort(new Error('audit timed out'))
      timeout.addEventListener('abort', onAbort, { once: true })
      try {
        const failed = await runAudit(
          stream,
          {
            grant,
            piece: target.piece.cid,
            leaves,
            root: fromBase64Url(target.piece.root),
            pieceSize: target.pieceSize
          },
          { signal: timeout }
        )
        outcome = failed.length === 0 ? 'passed' : 'failed'
        if (failed.length > 0) reason = `leaves ${failed.join(', ')} do not match the root`
        this.stats.leavesChecked += leaves.length
      } finally {
        timeout.removeEventListener('abort', onAbort)
      }
    } catch (err) {
      if (timeout.aborted || isShoalError(err, ErrorCode.TIMEOUT) || isShoalError(err, ErrorCode.NODE_UNREACHABLE)) {
        outcome = 'timeout'
        reason = describeError(err)
      } else if (isShoalError(err) && FAILURE_CODES.has(err.code)) {
        outcome = 'failed'
        reason = describeError(err)
      } else if (isShoalError(err) && err.code.startsWith('ERR_GRANT')) {
        // Our grant was refused (clocks apart?): not the node's fault, nothing is recorded.
        log.warn({ err: describeError(err) }, 'audit grant refused')
        this.stats.results.skipped++
        return 'skipped'
      } else {
        // A stream reset mid-answer and the like: the node did not deliver, like a timeout.
        outcome = 'timeout'
        reason = describeError(err)
      }
    }
    this.stats.results[outcome]++
    if (outcome === 'failed') {
      this.stats.corruptionsDetected++
      log.warn({ reason }, 'audit failed')
    } else if (outcome === 'passed') {
      log.debug('audit passed')
    } else {
      log.info({ reason }, 'audit timed out')
      if (!this.#timeouts.has(node)) {
        this.#timeouts.set(node, { piece: target.piece.cid, at: clock.now(), held: heldPiece(target) })
      }
      return outcome
    }
    const now = clock.now()
    await reputations.update(node, (rep) =>
      applyAudit(rep, target.piece.cid, outcome, now, reputations.policy, heldPiece(target))
    )
    return outcome
  }
}

function heldPiece(target: AuditTarget): HeldPiece {
  return { objectId: target.objectId, bytes: target.pieceSize }
}

/** `n` distinct random leaves of `count` (all of them when there are fewer), in random order. */
export function pickLeaves(count: number, n: number): number[] {
  const take = Math.min(count, n)
  const picked = new Set<number>()
  while (picked.size < take) picked.add(Math.floor(Math.random() * count))
  return [...picked]
}
