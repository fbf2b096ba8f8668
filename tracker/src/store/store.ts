import { ErrorCode, type PiecePlacement, type SegmentManifest, ShoalError } from '@shoal/core'
import type { BucketKey } from '../rate-limit.ts'

import type {
  ApiKeyRecord,
  AuditRecord,
  InvoiceRecord,
  LedgerEntry,
  PayoutRecord,
  PieceMove,
  PlanChange,
  SettlementRecord,
  StorageSpan
} from './money-records.ts'

export type * from './money-records.ts'

/**
 * Everything the tracker keeps, behind one narrow interface so the embedded `level` store and a shared
 * PostgreSQL store are interchangeable (both run `runStoreCompliance`).
 *
 * Each method is one atomic transaction: it checks its own preconditions against the current state and either
 * applies all of its writes or none. The services validate input, sign grants and verify signatures before
 * calling in; the store only decides what no one else may change between a read and a write (quota, name
 * uniqueness, heartbeat order, placement generation). Records are plain JSON values; the store never signs or
 * verifies anything.
 *
 * Failures a caller branches on are `ShoalError`s with these codes: ERR_ACCOUNT_EXISTS, ERR_QUOTA_EXCEEDED,
 * ERR_UPLOAD_NOT_FOUND, ERR_OBJECT_NOT_FOUND, ERR_CONFLICT.
 */
export interface Store {
  /** Idempotent. */
  open(): Promise<void>
  /** Idempotent; waits for writes in flight. */
  close(): Promise<void>

  /** Fails with ERR_ACCOUNT_EXISTS when the (normalized) email is taken. */
  createAccount(account: AccountRecord): Promise<void>
  getAccount(id: string): Promise<AccountRecord | undefined>
  getAccountByEmail(email: string): Promise<AccountRecord | undefined>

  putSession(session: SessionRecord): Promise<void>
  getSession(tokenHash: string): Promise<SessionRecord | undefined>
  /** Removes sessions that expired at or before `now`; returns how many. */
  deleteExpiredSessions(now: number): Promise<number>
  /** Removes one session (log out) or all of an account's (log out everywhere); returns how many. */
  deleteSessions(which: { tokenHash: string } | { accountId: string }): Promise<number>

  /**
   * Upserts a node's registry entry and drops the delete orders it acknowledged (only its own). Returns false,
   * changing nothing, unless `node.lastAt` is newer than the stored one: that is the heartbeat replay guard.
   */
  recordHeartbeat(node: NodeRecord, acknowledged: readonly string[]): Promise<boolean>
  getNode(peerId: string): Promise<NodeRecord | undefined>
  listNodes(): Promise<NodeRecord[]>
  /** Pending delete orders of one node, oldest first. */
  listDeleteOrders(node: string, limit: number): Promise<DeleteOrderRecord[]>

  /**
   * Creates the upload and reserves `upload.size` against the owner's quota. Fails with ERR_QUOTA_EXCEEDED
   * (details: quota, used, size) when used + reserved + size would pass the quota.
   */
  beginUpload(upload: UploadRecord): Promise<void>
  getUpload(id: string): Promise<UploadRecord | undefined>
  /** An owner's uploads (expired ones included until swept), oldest first. */
  listUploads(owner: string): Promise<UploadRecord[]>
  /** Uploads whose expiry is at or before `now`, oldest expiry first. */
  listExpiredUploads(now: number, limit: number): Promise<UploadRecord[]>
  getUploadSegment(uploadId: string, index: number): Promise<UploadSegmentRecord | undefined>
  /** Segments that have a placement, by index. */
  listUploadSegments(uploadId: string): Promise<UploadSegmentRecord[]>
  /**
   * Sets or replaces the record of one segment (a new placement, not committed). Fails with
   * ERR_UPLOAD_NOT_FOUND if the upload is gone.
   */
  placeSegment(uploadId: string, segment: UploadSegmentRecord): Promise<void>
  /**
   * Marks a segment committed with the pieces whose receipts were verified, unless it is committed already: the
   * first commit wins and a later one changes nothing. Returns the pieces the segment is committed with and
   * whether that was an earlier commit. Fails with ERR_CONFLICT unless the segment's current placement is
   * `placementId` (it was replaced meanwhile), ERR_UPLOAD_NOT_FOUND if the upload is gone.
   */
  commitSegment(
    uploadId: string,
    index: number,
    placementId: string,
    pieces: PiecePlacement[]
  ): Promise<{ pieces: PiecePlacement[]; already: boolean }>
  /**
   * Turns an upload into an object: writes the object and its segments, points the owner's name at it, moves
   * the reservation into `used`, removes the upload, and queues `deletes`. If `replaces` is set, that object
   * (which must be the one the name points at now) is removed in the same step; if it is not set, the name must
   * be free. Fails with ERR_CONFLICT when the name's current object is not the expected one.
   */
  commitUpload(commit: UploadCommit): Promise<void>
  /** Removes an upload and its segments, releases its reservation and queues `deletes`. */
  abortUpload(uploadId: string, deletes: readonly DeleteOrderRecord[]): Promise<void>

  getObject(id: string): Promise<ObjectRecord | undefined>
  getObjectByName(owner: string, nameHash: string): Promise<ObjectRecord | undefined>
  listObjects(owner: string): Promise<ObjectRecord[]>
  /** Segment manifests [from, to) of an object, by index. */
  getObjectSegments(objectId: string, from: number, to: number): Promise<SegmentManifest[]>
  /**
   * An object with its segment manifests [from, to) (those that exist), read together: the download-grant path,
   * one round trip on PostgreSQL. Undefined when the object does not exist.
   */
  getObjectWithSegments(
    objectId: string,
    from: number,
    to: number
  ): Promise<{ object: ObjectRecord; segments: SegmentManifest[] } | undefined>
  /** Removes an object from its owner's listing and quota and queues `deletes`. ERR_OBJECT_NOT_FOUND if gone. */
  deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[], at?: number): Promise<void>
  /**
   * Gives an object a new name hash and sealed metadata (rename, move, trash) and returns the updated record.
   * ERR_CONFLICT when another object of the owner has that name hash; ERR_OBJECT_NOT_FOUND if gone.
   */
  renameObject(objectId: string, nameHash: string, meta: string): Promise<ObjectRecord>

  // Shares (web UI share links)

  /** Stores a new share. */
  createShare(share: ShareRecord): Promise<void>
  getShare(id: string): Promise<ShareRecord | undefined>
  /** An owner's shares, newest first. */
  listShares(owner: string): Promise<ShareRecord[]>
  /** Marks a share revoked at `at` and returns it; a second revocation keeps the first time. ERR_NOT_FOUND if absent. */
  revokeShare(id: string, at: number): Promise<ShareRecord>

  // Audits and repair (docs/audits-and-repair.md)

  /**
   * Segments of every object, in (objectId, index) order, starting after `after` (exclusive; undefined: from
   * the start), at most `limit`. The repair checker and the audit planner walk the whole network with it.
   */
  listSegments(after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]>
  /**
   * Replaces the pieces of one object segment, if they are still exactly `expected` (same pieces, same order),
   * and queues `deletes` and records the piece moves (node payouts follow them from `at`) in the same step.
   * Returns false, changing nothing, if the segment changed meanwhile; ERR_OBJECT_NOT_FOUND if the object or
   * segment is gone.
   */
  updateSegmentPieces(
    key: SegmentKey,
    expected: readonly PiecePlacement[],
    pieces: readonly PiecePlacement[],
    deletes: readonly DeleteOrderRecord[],
    at?: number
  ): Promise<boolean>
  /** Queues delete orders on their own (pieces that never became part of a segment). */
  queueDeletes(deletes: readonly DeleteOrderRecord[]): Promise<void>
  getReputation(peerId: string): Promise<NodeReputation | undefined>
  listReputations(): Promise<NodeReputation[]>
  /**
   * Writes a node's reputation if the stored one has version `record.version - 1` (none stored: `record.version`
   * is 1). Returns false, changing nothing, otherwise: the caller re-reads and retries.
   */
  putReputation(record: NodeReputation): Promise<boolean>

  // Plans, API keys, audit log, metering, ledger (docs/billing.md)

  /**
   * Moves an account to `plan` with `quota`, records the change (a PlanChange at `audit.at`, which prorates
   * invoices) and appends `audit`, in one step. Fails with ERR_QUOTA_EXCEEDED (details: quota, used) when the
   * account's used + reserved bytes exceed the new quota (a refused downgrade).
   */
  changePlan(accountId: string, plan: string, quota: number, audit: AuditRecord): Promise<AccountRecord>
  /** Piece moves (recorded by updateSegmentPieces) of these objects, oldest first. */
  listPieceMoves(objectIds: readonly string[]): Promise<PieceMove[]>
  /** An account's plan changes made before `before`, oldest first. */
  listPlanChanges(accountId: string, before: number): Promise<PlanChange[]>
  /** Stores a new API key and appends `audit`. */
  createApiKey(key: ApiKeyRecord, audit: AuditRecord): Promise<void>
  getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>
  /** An account's keys (revoked ones too), oldest first. */
  listApiKeys(accountId: string): Promise<ApiKeyRecord[]>
  /** Marks one of the account's keys revoked and appends `audit`; false if it has no such live key. */
  revokeApiKey(accountId: string, id: string, at: number, audit: AuditRecord): Promise<boolean>
  appendAudit(record: AuditRecord): Promise<void>
  /** An account's audit log, newest first. */
  listAudit(accountId: string, limit: number): Promise<AuditRecord[]>
  /**
   * Records settlements whose serial was never settled, all in one step, and returns those serials; the others
   * (settled before, by any tracker) change nothing. This is what makes settlement idempotent.
   */
  settle(records: readonly SettlementRecord[]): Promise<string[]>
  /** Settlements with settledAt in [from, to), by account or node (or all), oldest first. */
  listSettlements(filter: { account?: string; node?: string; from: number; to: number }): Promise<SettlementRecord[]>
  /** Storage spans that overlap [from, to), of one account or all. */
  listStorageSpans(filter: { account?: string; from: number; to: number }): Promise<StorageSpan[]>
  /**
   * Stores an invoice and posts its ledger entries in one step, unless the account already has an invoice for
   * that period: then it returns false and changes nothing (two trackers closing a month never bill twice).
   */
  closeInvoice(invoice: InvoiceRecord, entries: readonly LedgerEntry[]): Promise<boolean>
  getInvoice(accountId: string, period: string): Promise<InvoiceRecord | undefined>
  /** Oldest first. */
  listInvoices(accountId: string): Promise<InvoiceRecord[]>
  /** Same as closeInvoice, for a node's payout statement. */
  closePayout(payout: PayoutRecord, entries: readonly LedgerEntry[]): Promise<boolean>
  /** Oldest first. */
  listPayouts(node: string): Promise<PayoutRecord[]>
  /** Ledger entries, of ledgers starting with `prefix` (or all), in posting order. */
  listLedger(prefix?: string): Promise<LedgerEntry[]>

  // Rate limits (rate-limit.ts)

  /**
   * Takes one token from the bucket of each key, all or none, as one step seen by every tracker on this store.
   * Returns 0 when taken, else the ms until the emptiest bucket has a token (and takes nothing).
   */
  takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number>

  // Leases: one tracker among several runs a background job (audits and repair)

  /**
   * Takes or renews the lease `name` for `holder` until now + ttlMs, if it is free, expired or already
   * `holder`'s. True when `holder` holds it now.
   */
  acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean>
  /** Gives the lease up, if `holder` holds it, so another tracker can take it at once. */
  releaseLease(name: string, holder: string): Promise<void>
}

export interface SegmentKey {
  objectId: string
  index: number
}

export interface StoredSegment {
  objectId: string
  segment: SegmentManifest
}

/** What audits and uptime checks have shown of one node. Scores are in [0, 1]. */
/** A piece whose last audit on a node failed; `objectId` and `bytes` say what its storage pay was. */
export interface FailedPiece {
  piece: string
  at: number
  objectId?: string
  bytes?: number
}

export interface UnpaidStretch {
  objectId: string
  bytes: number
  from: number
  to: number
}

export interface NodeReputation {
  peerId: string
  /** Optimistic concurrency: each write increments it. */
  version: number
  firstSeen: number
  audits: { passed: number; failed: number; timedOut: number }
  /** Beta-reputation parameters (Storj's audit score): score = alpha / (alpha + beta). */
  auditAlpha: number
  auditBeta: number
  /** Same for uptime checks. */
  uptimeAlpha: number
  uptimeBeta: number
  /** Consecutive audit timeouts of one piece: retried before they count as a failure ("containment"). */
  pending?: { piece: string; attempts: number; since: number }
  /**
   * Pieces (CIDs) whose last audit on this node failed, newest last: repair counts them lost. Kept here, not in
   * the auditing process, so a restart or another tracker taking over the lease does not forget them.
   */
  failedPieces?: FailedPiece[]
  /**
   * Closed stretches in which a piece of this node had failed its audit (it passed again later, or the node
   * got a fresh copy): its storage is not paid for them. Open stretches are in `failedPieces`.
   */
  unpaid?: UnpaidStretch[]
  /** Set once the node has passed enough audits to be given pieces freely. */
  vettedAt?: number
  /** Set when the node is disqualified: its pieces count as lost and it gets no new ones. */
  disqualified?: { at: number; reason: string }
  /** Set while the node leaves on purpose (graceful exit): no new pieces, its pieces are moved. */
  exiting?: { since: number }
}

export interface AccountRecord {
  id: string
  /** Normalized. */
  email: string
  /** base64url scrypt salt and hash of the client's auth key. */
  authSalt: string
  authHash: string
  wrappedMasterKey: string
  quota: number
  /** Plaintext bytes of committed objects. */
  used: number
  /** Plaintext bytes reserved by uploads in progress. */
  reserved: number
  objects: number
  createdAt: number
  /** Plan id (src/billing/plans.ts); absent on accounts created before plans: free. */
  plan?: string
}

export interface SessionRecord {
  /** base64url sha256 of the bearer token: the token itself is never stored. */
  tokenHash: string
  accountId: string
  createdAt: number
  expiresAt: number
}

export interface NodeRecord {
  peerId: string
  addrs: string[]
  capacity: number
  used: number
  free: number
  version: string
  /** Tracker time of the last accepted heartbeat: decides online/offline. */
  lastSeen: number
  /** The node's own `at` in that heartbeat: later heartbeats must be newer. */
  lastAt: number
  /** Failure domain from the heartbeat's source address (ops/subnet.ts): placement puts one piece per segment. */
  subnet?: string
}

/** One piece a node should drop. The grant is signed when the order is handed out, so it is always fresh. */
export interface DeleteOrderRecord {
  node: string
  serial: string
  piece: string
  /** Account the grant names. */
  account: string
  size: number
  createdAt: number
  /** The upload/object whose hold on the piece the order releases (the grant's `obj`). */
  object: string
}

export interface UploadRecord {
  id: string
  owner: string
  nameHash: string
  meta: string
  wrappedKey: string
  nonce: string
  size: number
  k: number
  m: number
  segmentSize: number
  segmentCount: number
  /** Receipts a segment needs to commit, fixed when the upload began. Absent in older records: k + m. */
  minCommitPieces?: number
  overwrite: boolean
  createdAt: number
  expiresAt: number
}

/** A piece the tracker granted a put for. */
export interface PlacedPiece extends PiecePlacement {
  serial: string
  size: number
}

export interface SegmentPlacement {
  index: number
  /** Random per placement: a commit checked against one placement cannot land on its replacement. */
  id: string
  pieces: PlacedPiece[]
}

export interface UploadSegmentRecord {
  index: number
  placement: SegmentPlacement
  /** Set once the segment's receipts were verified. */
  committed?: PiecePlacement[]
  /**
   * Pieces of earlier placements of this segment that the current one does not have. They get delete orders
   * only when the upload ends (commit or abort): queued any earlier, an order could reach a node after a later
   * placement put the same piece there again, and delete the copy that counts.
   */
  stale?: PlacedPiece[]
}

export interface ObjectRecord {
  id: string
  owner: string
  nameHash: string
  meta: string
  wrappedKey: string
  nonce: string
  size: number
  k: number
  m: number
  segmentSize: number
  segmentCount: number
  createdAt: number
}

export interface UploadCommit {
  uploadId: string
  object: ObjectRecord
  segments: SegmentManifest[]
  /** Id of the object this one replaces under the same name. */
  replaces?: string
  deletes: readonly DeleteOrderRecord[]
  /** Stored bytes per node, for the object's storage span (node payouts); default none. */
  nodeBytes?: Record<string, number>
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

/** A share link's server side: which object, until when, and the password check. Never a key. */
export interface ShareRecord {
  id: string
  owner: string
  objectId: string
  /** Sealed under a key derived from the content key: opaque here. */
  meta: string
  createdAt: number
  expiresAt?: number
  revokedAt?: number
  /** With a password: the client's derivation salt, and a salted scrypt hash of the auth key derived from it. */
  password?: { salt: string; authSalt: string; authHash: string }
}

/** The errors both stores give for a missing record: one wording, whichever store answers. */
export const uploadNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.UPLOAD_NOT_FOUND, `upload ${id} does not exist`)
export const objectNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `object ${id} does not exist`)
export const segmentNotFound = (key: SegmentKey): ShoalError =>
  new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `segment ${key.index} of object ${key.objectId} does not exist`)
export const shareNotFound = (id: string): ShoalError =>
  new ShoalError(ErrorCode.NOT_FOUND, `share ${id} does not exist`)
