/** Records of the operator's moderation (docs/deploy.md, "Abuse reports and takedowns"). */

/** A share link the operator disabled. The share record and the owner's object are untouched. */
export interface TakedownRecord {
  shareId: string
  reason: string
  at: number
  /** Which operator credential acted (the admin API's name for it). */
  by: string
}

/** An account the operator suspended: no logins, API keys or share links; nothing is deleted. */
export interface SuspensionRecord {
  accountId: string
  reason: string
  at: number
  by: string
}

export type ModerationActionKind = 'takedown' | 'restore' | 'suspend' | 'unsuspend'

/** One entry of the moderation log: what the operator did, to what, why, when. Never changed or removed. */
export interface ModerationAction {
  /** Sorts by time (time prefix, then random). */
  id: string
  at: number
  action: ModerationActionKind
  /** A share id (takedown, restore) or an account id (suspend, unsuspend). */
  target: string
  reason: string
  by: string
}

/** A visitor's report against a share link, waiting for the operator. */
export interface AbuseReport {
  /** Sorts by time (time prefix, then random). */
  id: string
  shareId: string
  reason: string
  at: number
  /** The reporter's address, to spot report floods; nothing else about them is kept. */
  from: string
}
