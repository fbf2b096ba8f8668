import type { NodeReputation, UnpaidStretch } from '../store/store.ts'

/**
 * Reputation arithmetic, as in Storj's satellites: each audit or uptime check updates a beta distribution with
 * forgetting factor `lambda`, and the score is its mean alpha / (alpha + beta). A node starts as if it had
 * passed about 1 / (1 - lambda) checks, so one failure costs it little and a run of failures a lot: with
 * lambda = 0.95 the score after n failures in a row is 0.95^n, under 0.6 after ten.
 */
export interface ReputationPolicy {
  auditLambda: number
  /** Audit score below which a node is disqualified. */
  auditDisqualify: number
  uptimeLambda: number
  /** Audits a new node must pass before it is vetted (gets pieces freely). */
  vettingAudits: number
  /** Consecutive timeouts of an audit of one piece before it counts as a failure. */
  auditRetries: number
  /** A node offline for longer than this is disqualified: its pieces count as lost. */
  maxOfflineMs: number
}

export type AuditOutcome = 'passed' | 'failed' | 'timeout'

/** Failed pieces remembered per node; a node failing more is disqualified long before. */
export const MAX_FAILED_PIECES = 1024
/** Closed unpaid stretches kept per node; older ones are in statements already closed. */
export const MAX_UNPAID_STRETCHES = 4096
/** How long a closed unpaid stretch is kept: past the month it ended in and the next one, when that closes. */
export const UNPAID_KEEP_MS = 70 * 86_400_000

/** What a failed piece is: which object's storage it is paid from, and how many bytes. */
export interface HeldPiece {
  objectId: string
  bytes: number
}

/** Whether `piece`'s last audit on this node failed. */
export function failedPiece(rep: NodeReputation | undefined, piece: string): boolean {
  return rep?.failedPieces?.some((f) => f.piece === piece) === true
}

/**
 * The reputation with `piece` off its failed list (it passed, or the node holds a fresh copy now). The stretch
 * since it failed becomes an unpaid one, so the node's statement leaves it out.
 */
export function withoutFailedPiece(rep: NodeReputation, piece: string, now: number): NodeReputation {
  const { failedPieces, unpaid, ...rest } = rep
  const closed: UnpaidStretch[] = (failedPieces ?? []).flatMap((f) =>
    f.piece === piece && f.objectId !== undefined && f.bytes !== undefined && now > f.at
      ? [{ objectId: f.objectId, bytes: f.bytes, from: f.at, to: now }]
      : []
  )
  const stretches = [...(unpaid ?? []), ...closed].filter((u) => u.to > now - UNPAID_KEEP_MS)
  const others = failedPieces?.filter((f) => f.piece !== piece) ?? []
  return {
    ...rest,
    ...(others.length === 0 ? {} : { failedPieces: others }),
    ...(stretches.length === 0 ? {} : { unpaid: stretches.slice(-MAX_UNPAID_STRETCHES) })
  }
}

/**
 * Whether a round's failures say more about the tracker than about the nodes: most of at least four nodes
 * failing at once is the tracker's network (or its stale view of the nodes), and nobody is blamed for it.
 */
export function mostNodesFailing(failing: number, total: number): boolean {
  return total >= 4 && failing > total / 2
}

export function newReputation(peerId: string, now: number, policy: ReputationPolicy): NodeReputation {
  const prior = 1 / (1 - policy.auditLambda)
  return {
    peerId,
    version: 0,
    firstSeen: now,
    audits: { passed: 0, failed: 0, timedOut: 0 },
    auditAlpha: prior,
    auditBeta: 0,
    uptimeAlpha: 1 / (1 - policy.uptimeLambda),
    uptimeBeta: 0
  }
}

export function auditScore(rep: NodeReputation): number {
  return rep.auditAlpha / (rep.auditAlpha + rep.auditBeta)
}

export function uptimeScore(rep: NodeReputation): number {
  return rep.uptimeAlpha / (rep.uptimeAlpha + rep.uptimeBeta)
}

function beta(alpha: number, b: number, lambda: number, success: boolean): { alpha: number; beta: number } {
  return { alpha: lambda * alpha + (success ? 1 : 0), beta: lambda * b + (success ? 0 : 1) }
}

/**
 * The reputation after one audit of `piece`. Timeouts are retried: the node's next audit asks for the same piece
 * again ("containment"), and only after `auditRetries` timeouts in a row does a timeout count as a failure (and
 * every further one, until the node answers). A node that was merely slow once keeps its score; a node that
 * stalls on purpose cannot escape its audits.
 *
 * While contained, only the pending piece counts: a timeout on another piece is not a new try (audits that ran
 * at the same time must not use up the retries at once), and answering another piece does not end containment.
 */
export function applyAudit(
  rep: NodeReputation,
  piece: string,
  outcome: AuditOutcome,
  now: number,
  policy: ReputationPolicy,
  held?: HeldPiece
): NodeReputation {
  let next: NodeReputation = { ...rep, audits: { ...rep.audits } }
  const containedOnAnother = rep.pending !== undefined && rep.pending.piece !== piece
  if (outcome === 'timeout') {
    next.audits.timedOut++
    if (containedOnAnother) return next
    const attempts = (rep.pending?.attempts ?? 0) + 1
    next.pending = { piece, attempts, since: rep.pending?.since ?? now }
    if (attempts <= policy.auditRetries) return next
    outcome = 'failed'
  } else if (!containedOnAnother) {
    delete next.pending
  }
  const success = outcome === 'passed'
  if (success) next.audits.passed++
  else next.audits.failed++
  // Its newest outcome is what counts: off the failed list, and back on it (as the newest) when it failed.
  next = withoutFailedPiece(next, piece, now)
  if (!success) {
    next.failedPieces = [...(next.failedPieces ?? []), { piece, at: now, ...held }].slice(-MAX_FAILED_PIECES)
  }
  const b = beta(rep.auditAlpha, rep.auditBeta, policy.auditLambda, success)
  next.auditAlpha = b.alpha
  next.auditBeta = b.beta
  if (next.vettedAt === undefined && next.audits.passed >= policy.vettingAudits) next.vettedAt = now
  if (next.disqualified === undefined && auditScore(next) < policy.auditDisqualify) {
    next.disqualified = {
      at: now,
      reason: `audit score ${auditScore(next).toFixed(3)} fell below ${policy.auditDisqualify}`
    }
  }
  return next
}

/** One uptime check: was the node online (heartbeats) when checked; offline for too long disqualifies. */
export function applyUptime(
  rep: NodeReputation,
  online: boolean,
  lastSeen: number,
  now: number,
  policy: ReputationPolicy
): NodeReputation {
  const b = beta(rep.uptimeAlpha, rep.uptimeBeta, policy.uptimeLambda, online)
  const next: NodeReputation = { ...rep, uptimeAlpha: b.alpha, uptimeBeta: b.beta }
  if (!online && next.disqualified === undefined && now - lastSeen > policy.maxOfflineMs) {
    next.disqualified = { at: now, reason: `offline for ${Math.round((now - lastSeen) / 1000)} s` }
  }
  return next
}
