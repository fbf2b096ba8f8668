import { ErrorCode, type PiecePlacement, ShoalError } from '@shoal/core'
import type { PlanChange, StorageSpan } from './money-records.ts'
import type {
  AccountKeysUpdate,
  AccountRecord,
  ObjectRecord,
  SegmentKey,
  ShareRecord,
  UploadSegmentRecord
} from './records.ts'

/*
 * The decisions every store makes, written once. A store's job is to hold the rows still (a lock, a
 * transaction) while one of these looks at them, and to write what it returns; the rule itself, and the error a
 * caller branches on, must not differ by store.
 */

// Missing records: one wording, whichever store answers.

export const uploadNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.UPLOAD_NOT_FOUND, `upload ${id} does not exist`)
export const objectNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `object ${id} does not exist`)
export const segmentNotFound = (key: SegmentKey): ShoalError =>
  new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `segment ${key.index} of object ${key.objectId} does not exist`)
export const shareNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.NOT_FOUND, `share ${id} does not exist`)
export const accountNotFound = (): ShoalError => new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
export const accountExists = (): ShoalError =>
  new ShoalError(ErrorCode.ACCOUNT_EXISTS, 'an account with this email already exists')

/** One error for a wrong code, an expired one and an email with no sign-up waiting: none tells the others. */
export const verificationFailed = (): ShoalError =>
  new ShoalError(ErrorCode.VERIFICATION_FAILED, 'wrong or expired code: sign up again for a new one')

// Quota

/** An upload of `size` may begin only if used + reserved + size stays within the quota. */
export function checkUploadQuota(account: AccountRecord, size: number): void {
  const used = account.used + account.reserved
  if (used + size > account.quota) {
    throw new ShoalError(ErrorCode.QUOTA_EXCEEDED, 'this upload would exceed the account quota', {
      details: { quota: account.quota, used, size }
    })
  }
}

/** A plan change is refused when the account already holds (or has reserved) more than the new quota. */
export function checkPlanQuota(account: AccountRecord, plan: string, quota: number): void {
  const used = account.used + account.reserved
  if (used > quota) {
    throw new ShoalError(ErrorCode.QUOTA_EXCEEDED, `the account stores more than the ${plan} plan's quota`, {
      details: { quota, used }
    })
  }
}

/** The plan change a changePlan records (it prorates invoices). */
export function planChange(account: AccountRecord, plan: string, at: number): PlanChange {
  return { accountId: account.id, at, ...(account.plan === undefined ? {} : { from: account.plan }), to: plan }
}

// Commit accounting

type Totals = Pick<AccountRecord, 'used' | 'objects' | 'reserved'>

/**
 * An account's totals after an upload of `uploadSize` reserved bytes commits as `object`, replacing `replaced`
 * (the object its name pointed at) if any: the reservation becomes use. The replaced object becomes an older
 * version, which stays in `used` (versions are stored and billed) but no longer counts as a file.
 */
export function totalsAfterCommit(
  account: AccountRecord,
  object: ObjectRecord,
  uploadSize: number,
  replaced: { size: number } | undefined
): Totals {
  return {
    used: account.used + object.size,
    objects: account.objects + 1 - (replaced === undefined ? 0 : 1),
    reserved: account.reserved - uploadSize
  }
}

/**
 * An account after one imported object (`importObjects`): what beginUpload and then commitUpload of a new name
 * leave, quota check included.
 */
export function afterImport(account: AccountRecord, object: ObjectRecord): AccountRecord {
  checkUploadQuota(account, object.size)
  const reserving = { ...account, reserved: account.reserved + object.size }
  return { ...reserving, ...totalsAfterCommit(reserving, object, object.size, undefined) }
}

/** An account's totals after an object (a file, or an older version, which is no file) is deleted. */
export function totalsAfterDelete(account: AccountRecord, object: Pick<ObjectRecord, 'size' | 'supersededAt'>): Totals {
  const files = object.supersededAt === undefined ? 1 : 0
  return { used: account.used - object.size, objects: account.objects - files, reserved: account.reserved }
}

/** An account's totals after an upload of `uploadSize` is aborted or expires. */
export function totalsAfterAbort(account: AccountRecord, uploadSize: number): Totals {
  return { used: account.used, objects: account.objects, reserved: account.reserved - uploadSize }
}

// Names

/** A commit finds its name pointing elsewhere than the upload expected (another commit won). */
export const nameChangedDuringCommit = (objectId: string | undefined): ShoalError =>
  new ShoalError(
    ErrorCode.CONFLICT,
    objectId === undefined
      ? 'the object this upload was to replace is gone'
      : 'another object took this name while the upload was committing',
    objectId === undefined ? undefined : { details: { objectId } }
  )

/** An upload begun for a name a current object has, without `overwrite`. */
export const nameInUse = (objectId: string): ShoalError =>
  new ShoalError(ErrorCode.CONFLICT, 'an object with this name exists (upload with overwrite to replace it)', {
    details: { objectId }
  })

/** A rename or move onto a name another object of the owner has. */
export const nameTaken = (): ShoalError => new ShoalError(ErrorCode.CONFLICT, 'another file already has this name')

// Versions

/** A restore names an object that is not (or no longer) an older version: one wording, whichever store answers. */
export const versionNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `version ${id} does not exist`)

/**
 * The current object of a name, made an older version at `at`. Never in the millisecond it was created: two
 * overwrites in one millisecond would otherwise tie, and versions are ordered (and purged) by this time.
 */
export const superseded = (object: ObjectRecord, at: number): ObjectRecord => ({
  ...object,
  supersededAt: Math.max(at, object.createdAt + 1)
})

/** An older version made current again, with the metadata its restore sealed. */
export function restored(version: ObjectRecord, meta: string): ObjectRecord {
  const { supersededAt: _was, ...current } = version
  return { ...current, meta }
}

// Segments

/**
 * The first commit of a segment wins; a later one (a retry, another tracker) gets the pieces it was committed
 * with. A commit checked against a placement that was replaced meanwhile is refused.
 */
export function segmentCommit(
  segment: UploadSegmentRecord | undefined,
  index: number,
  placementId: string,
  pieces: PiecePlacement[]
): { pieces: PiecePlacement[]; already: boolean } {
  if (segment === undefined || segment.placement.id !== placementId) {
    throw new ShoalError(ErrorCode.CONFLICT, `segment ${index} was placed again while it was being committed`)
  }
  if (segment.committed !== undefined) return { pieces: segment.committed, already: true }
  return { pieces, already: false }
}

/** Whether two piece lists are the same pieces in the same order (whatever order a store keeps JSON keys in). */
export function samePieces(a: readonly PiecePlacement[], b: readonly PiecePlacement[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]
      return q !== undefined && p.index === q.index && p.cid === q.cid && p.node === q.node && p.root === q.root
    })
  )
}

// Spans and shares

/** The storage span an object's commit opens (storage billing and node payouts follow it). */
export function openSpan(object: ObjectRecord, nodes: Record<string, number> = {}): StorageSpan {
  return { objectId: object.id, account: object.owner, size: object.size, nodes, from: object.createdAt }
}

/** A span never ends before it began. */
export const spanEnd = (span: StorageSpan, at: number): number => Math.max(at, span.from)

/** A share with a new expiry, or none. */
export function withExpiry(share: ShareRecord, expiresAt: number | undefined): ShareRecord {
  const { expiresAt: _old, ...rest } = share
  return expiresAt === undefined ? rest : { ...rest, expiresAt }
}

/** An account after updateAccountKeys. */
export const withKeys = (account: AccountRecord, update: AccountKeysUpdate): AccountRecord => ({
  ...account,
  ...update.auth,
  ...(update.recovery === undefined ? {} : { recovery: update.recovery })
})

/** A second revocation keeps the first time. */
export const revoked = (share: ShareRecord, at: number): ShareRecord =>
  share.revokedAt !== undefined ? share : { ...share, revokedAt: at }
