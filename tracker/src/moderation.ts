import { ErrorCode, ShoalError } from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from './config.ts'
import { randomId } from './ids.ts'
import type { BucketRule } from './rate-limit.ts'
import type {
  AbuseReport,
  ModerationAction,
  ModerationActionKind,
  ShareRecord,
  StoreParts,
  SuspensionRecord,
  TakedownRecord
} from './store/store.ts'

export interface ModerationComponents {
  store: StoreParts<'moderation' | 'shares' | 'accounts' | 'coordination'>
  clock: Clock
  logger: Logger
  /** Ends every session of a suspended account in this process and the store (Accounts.dropSessions). */
  dropSessions(accountId: string): Promise<unknown>
}

/** What a share link or an account is checked against before it is used (Shares, Accounts). */
export interface ModerationGate {
  /** ERR_SHARE_REMOVED when the operator took the share down or suspended its owner. */
  checkShare(share: ShareRecord): Promise<void>
  /** ERR_ACCOUNT_SUSPENDED when the operator suspended the account. */
  checkAccount(accountId: string): Promise<void>
  /**
   * For each share (of one owner, as an owner's list is): when the operator took it down or suspended the
   * owner; undefined for a link it left alone. The owner's suspension is read once, not once per link.
   */
  removedAt(shares: readonly ShareRecord[]): Promise<(number | undefined)[]>
}

export interface ModerationResult {
  /** False when the share or account already was in that state (nothing logged). */
  changed: boolean
  action: ModerationActionKind
  target: string
}

/** Reports per address: enough for a person, not for a flood that buries the operator's queue. */
const REPORTS_PER_IP: BucketRule = { burst: 10, refillMs: 60_000 }
const MAX_REASON = 1_000
const MAX_LIST = 1_000

/**
 * The operator's side of abuse handling, without reading content or holding a key (docs/deploy.md): take a
 * share link down or restore it, suspend or unsuspend an account, read visitors' reports and the log of what
 * was done. A takedown disables only the link: the owner's object, its pieces and the share record stay, so
 * the owner's own copy still downloads and a restore brings the link back as it was. Every change is logged
 * with who, when and why in the same store transaction that makes it.
 */
export class Moderation implements ModerationGate {
  readonly #c: ModerationComponents

  constructor(components: ModerationComponents) {
    this.#c = components
  }

  async takedown(shareId: string, reason: unknown, by: string): Promise<ModerationResult> {
    const share = await this.#share(shareId)
    const why = parseReason(reason)
    const at = this.#c.clock.now()
    const record: TakedownRecord = { shareId: share.id, reason: why, at, by }
    return this.#record('takedown', share.id, why, by, (action) =>
      this.#c.store.moderation.setTakedown(share.id, record, action)
    )
  }

  async restore(shareId: string, reason: unknown, by: string): Promise<ModerationResult> {
    const share = await this.#share(shareId)
    const why = parseReason(reason)
    return this.#record('restore', share.id, why, by, (action) =>
      this.#c.store.moderation.setTakedown(share.id, undefined, action)
    )
  }

  async suspend(accountId: string, reason: unknown, by: string): Promise<ModerationResult> {
    await this.#account(accountId)
    const why = parseReason(reason)
    const record: SuspensionRecord = { accountId, reason: why, at: this.#c.clock.now(), by }
    const result = await this.#record('suspend', accountId, why, by, (action) =>
      this.#c.store.moderation.setSuspension(accountId, record, action)
    )
    // Open sessions end now (other trackers drop theirs on their next recheck); API keys are checked per call.
    await this.#c.dropSessions(accountId)
    return result
  }

  async unsuspend(accountId: string, reason: unknown, by: string): Promise<ModerationResult> {
    await this.#account(accountId)
    const why = parseReason(reason)
    return this.#record('unsuspend', accountId, why, by, (action) =>
      this.#c.store.moderation.setSuspension(accountId, undefined, action)
    )
  }

  /** Public: a visitor reports a share link. Limited per address; the share must exist. */
  async report(shareId: string, body: unknown, ip: string): Promise<{ reported: true; id: string }> {
    const now = this.#c.clock.now()
    const wait = await this.#c.store.coordination.takeRateTokens(
      [{ key: `report-ip:${ip}`, rule: REPORTS_PER_IP }],
      now
    )
    if (wait > 0) {
      throw new ShoalError(ErrorCode.RATE_LIMITED, `too many reports: try again in ${Math.ceil(wait / 1000)} s`, {
        details: { retryAfterMs: wait }
      })
    }
    const share = await this.#share(shareId)
    const reason = parseReason((body as { reason?: unknown } | undefined)?.reason)
    const report: AbuseReport = { id: sortableId(now), shareId: share.id, reason, at: now, from: ip }
    await this.#c.store.moderation.addReport(report)
    this.#c.logger.info({ share: share.id, report: report.id }, 'abuse report received')
    return { reported: true, id: report.id }
  }

  reports(limit = 100): Promise<AbuseReport[]> {
    return this.#c.store.moderation.listReports(clampLimit(limit))
  }

  log(limit = 100): Promise<ModerationAction[]> {
    return this.#c.store.moderation.listActions(clampLimit(limit))
  }

  async checkShare(share: ShareRecord): Promise<void> {
    const [removedAt] = await this.removedAt([share])
    if (removedAt !== undefined) {
      throw new ShoalError(ErrorCode.SHARE_REMOVED, 'this link was removed by the operator of this service', {
        details: { removedAt }
      })
    }
  }

  async removedAt(shares: readonly ShareRecord[]): Promise<(number | undefined)[]> {
    const owners = [...new Set(shares.map((s) => s.owner))]
    const [takedowns, suspensions] = await Promise.all([
      Promise.all(shares.map((s) => this.#c.store.moderation.getTakedown(s.id))),
      Promise.all(owners.map((o) => this.#c.store.moderation.getSuspension(o)))
    ])
    const suspended = new Map(owners.map((o, i) => [o, suspensions[i]?.at]))
    return shares.map((s, i) => takedowns[i]?.at ?? suspended.get(s.owner))
  }

  async checkAccount(accountId: string): Promise<void> {
    if ((await this.#c.store.moderation.getSuspension(accountId)) !== undefined) {
      throw new ShoalError(
        ErrorCode.ACCOUNT_SUSPENDED,
        'this account is suspended by the operator of this service: contact them'
      )
    }
  }

  async #record(
    kind: ModerationActionKind,
    target: string,
    reason: string,
    by: string,
    apply: (action: ModerationAction) => Promise<boolean>
  ): Promise<ModerationResult> {
    const at = this.#c.clock.now()
    const changed = await apply({ id: sortableId(at), at, action: kind, target, reason, by })
    this.#c.logger.info({ action: kind, target, reason, by, changed }, 'moderation')
    return { changed, action: kind, target }
  }

  async #share(id: string): Promise<ShareRecord> {
    const share = await this.#c.store.shares.getShare(id)
    if (share === undefined) throw new ShoalError(ErrorCode.SHARE_NOT_FOUND, `no share ${id.slice(0, 64)}`)
    return share
  }

  async #account(id: string): Promise<void> {
    if ((await this.#c.store.accounts.getAccount(id)) === undefined) {
      throw new ShoalError(ErrorCode.NOT_FOUND, `no account ${id.slice(0, 64)}`)
    }
  }
}

function parseReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > MAX_REASON) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `give a reason: 1 to ${MAX_REASON} characters`, {
      details: { field: 'reason' }
    })
  }
  return reason.trim()
}

function clampLimit(limit: number): number {
  return Number.isSafeInteger(limit) && limit > 0 ? Math.min(limit, MAX_LIST) : 100
}

/** Ids that sort by time: the store lists newest first by id. */
function sortableId(at: number): string {
  return `${String(at).padStart(16, '0')}-${randomId(6)}`
}
