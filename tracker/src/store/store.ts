import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import type { BucketKey } from '../rate-limit.ts'
import type { AbuseReport, ModerationAction, SuspensionRecord, TakedownRecord } from './moderation-records.ts'
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
import type {
  AccountKeysUpdate,
  AccountRecord,
  DeleteOrderRecord,
  ImportedObject,
  NodeRecord,
  NodeReputation,
  ObjectRecord,
  PendingSignupRecord,
  ReceiptKeyRecord,
  RepairItem,
  ScanCursor,
  SegmentKey,
  SessionRecord,
  ShareRecord,
  StoredSegment,
  UploadCommit,
  UploadRecord,
  UploadSegmentRecord,
  VersionKey,
  VersionPolicy
} from './records.ts'

export type * from './moderation-records.ts'
export type * from './money-records.ts'
export type * from './records.ts'

/**
 * Everything the tracker keeps, split by domain (docs/tracker-shape.md). The embedded `level` store and a
 * shared PostgreSQL store implement every part the same way (both run `runStoreCompliance`); a service receives
 * only the parts it uses, as `Pick<Store, 'accounts' | 'objects'>`.
 *
 * Each method is one atomic transaction: it checks its own preconditions against the current state and either
 * applies all of its writes or none. A method may write records of other domains when one decision needs them
 * together (a commit moves quota, writes the object, opens its storage span and queues delete orders): it lives
 * in the domain whose decision it is. The services validate input, sign grants and verify signatures before
 * calling in; the store only decides what no one else may change between a read and a write (quota, name
 * uniqueness, heartbeat order, placement generation), with the rules in rules.ts. Records are plain JSON
 * values; the store never signs or verifies anything, and never reads a clock: every time comes in as an
 * argument.
 *
 * Failures a caller branches on are `ShoalError`s with these codes: ERR_ACCOUNT_EXISTS, ERR_QUOTA_EXCEEDED,
 * ERR_UPLOAD_NOT_FOUND, ERR_OBJECT_NOT_FOUND, ERR_NOT_FOUND, ERR_CONFLICT.
 */
export interface Store {
  /** Idempotent. */
  open(): Promise<void>
  /** Idempotent; waits for writes in flight. */
  close(): Promise<void>

  readonly accounts: AccountStore
  readonly uploads: UploadStore
  readonly objects: ObjectStore
  readonly shares: ShareStore
  readonly nodes: NodeStore
  readonly reputations: ReputationStore
  readonly ledger: LedgerStore
  readonly coordination: CoordinationStore
  readonly moderation: ModerationStore
}

/** The parts of a store a service uses: `StoreParts<'accounts' | 'objects'>`. */
export type StoreParts<K extends Exclude<keyof Store, 'open' | 'close'>> = Pick<Store, K>

/** Who a period bills: accounts (invoices) or nodes (payout statements). */
export type BillableKind = 'accounts' | 'nodes'

/** One page of ids in bytewise order: those after `after` (exclusive), at most `limit`. */
export interface IdPage {
  after?: string
  limit: number
}

/** Accounts, sessions, plans, API keys and the per-account audit log. */
export interface AccountStore {
  /** Fails with ERR_ACCOUNT_EXISTS when the (normalized) email is taken. */
  createAccount(account: AccountRecord): Promise<void>
  getAccount(id: string): Promise<AccountRecord | undefined>
  getAccountByEmail(email: string): Promise<AccountRecord | undefined>

  /** Stores a sign-up waiting for its code, replacing any other waiting for the same email. */
  putPendingSignup(pending: PendingSignupRecord): Promise<void>
  /** The sign-up waiting for `email`'s code, expired or not (the caller checks `expiresAt`). */
  getPendingSignup(email: string): Promise<PendingSignupRecord | undefined>
  /**
   * Makes the waiting sign-up's account and removes the sign-up, in one step; fails with ERR_ACCOUNT_EXISTS
   * (removing nothing) when the email was taken meanwhile. Only the record whose `codeHash` matches is
   * confirmed: a sign-up that replaced it in between is left waiting (ERR_VERIFICATION_FAILED).
   */
  confirmPendingSignup(email: string, codeHash: string): Promise<AccountRecord>
  /** Removes sign-ups whose code expired at or before `now`; returns how many. */
  deleteExpiredPendingSignups(now: number): Promise<number>

  putSession(session: SessionRecord): Promise<void>
  getSession(tokenHash: string): Promise<SessionRecord | undefined>
  /**
   * A session with its account, read together (one round trip on PostgreSQL): authenticating a request that
   * needs the account. `account` is undefined when the session outlived its account.
   */
  getSessionAccount(
    tokenHash: string
  ): Promise<{ session: SessionRecord; account: AccountRecord | undefined } | undefined>
  /** Removes sessions that expired at or before `now`; returns how many. */
  deleteExpiredSessions(now: number): Promise<number>
  /** Removes one session (log out) or all of an account's (log out everywhere); returns how many. */
  deleteSessions(which: { tokenHash: string } | { accountId: string }): Promise<number>

  /**
   * Moves an account to `plan` with `quota`, records the change (a PlanChange at `audit.at`, which prorates
   * invoices) and appends `audit`, in one step. Fails with ERR_QUOTA_EXCEEDED (details: quota, used) when the
   * account's used + reserved bytes exceed the new quota (a refused downgrade).
   */
  changePlan(accountId: string, plan: string, quota: number, audit: AuditRecord): Promise<AccountRecord>
  /** An account's plan changes made before `before`, oldest first. */
  listPlanChanges(accountId: string, before: number): Promise<PlanChange[]>

  /** Stores a new API key and appends `audit`. */
  createApiKey(key: ApiKeyRecord, audit: AuditRecord): Promise<void>
  getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>
  /** An account's keys (revoked ones too), oldest first. */
  listApiKeys(accountId: string): Promise<ApiKeyRecord[]>
  /** Marks one of the account's keys revoked and appends `audit`; false if it has no such live key. */
  revokeApiKey(accountId: string, id: string, at: number, audit: AuditRecord): Promise<boolean>

  /** The account's version policy; undefined until it sets one (the service applies the default). */
  getVersionPolicy(accountId: string): Promise<VersionPolicy | undefined>
  /** Replaces the account's version policy. */
  setVersionPolicy(accountId: string, policy: VersionPolicy): Promise<void>

  appendAudit(record: AuditRecord): Promise<void>
  /** An account's audit log, newest first. */
  listAudit(accountId: string, limit: number): Promise<AuditRecord[]>

  /**
   * Replaces the account's password half (auth salt, hash and wrapped master key) and/or its recovery half, and
   * appends `audit`, in one step; the rest of the account is untouched. ERR_UNAUTHORIZED if it does not exist.
   */
  updateAccountKeys(accountId: string, update: AccountKeysUpdate, audit: AuditRecord): Promise<void>
}

/** Uploads in progress: quota reservations, placements, segment commits, and the commit into an object. */
export interface UploadStore {
  /**
   * Creates the upload and reserves `upload.size` against the owner's quota. Fails with ERR_QUOTA_EXCEEDED
   * (details: quota, used, size) when used + reserved + size would pass the quota, and otherwise with
   * ERR_CONFLICT (details: objectId, `nameInUse`) when a current object has the upload's name and
   * `upload.overwrite` is not set. (The name is checked again at commitUpload: it may be taken meanwhile.)
   */
  beginUpload(upload: UploadRecord): Promise<void>
  getUpload(id: string): Promise<UploadRecord | undefined>
  /** An owner's uploads (expired ones included until swept), oldest first. */
  listUploads(owner: string): Promise<UploadRecord[]>
  /**
   * Uploads whose expiry is at or before `now`, oldest expiry first (then by id), after `after` (exclusive) when
   * given: a caller pages through every upload in progress with `now` = MAX_SAFE_INTEGER.
   */
  listExpiredUploads(now: number, limit: number, after?: { expiresAt: number; id: string }): Promise<UploadRecord[]>
  getUploadSegment(uploadId: string, index: number): Promise<UploadSegmentRecord | undefined>
  /** Segments that have a placement, by index. */
  listUploadSegments(uploadId: string): Promise<UploadSegmentRecord[]>
  /**
   * An upload with its placed segments read together (one round trip on PostgreSQL): every one by index, or
   * only segment `index` when given (none if it has no placement). Undefined when the upload does not exist.
   */
  getUploadWithSegments(
    id: string,
    index?: number
  ): Promise<{ upload: UploadRecord; segments: UploadSegmentRecord[] } | undefined>
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
   * the reservation into `used`, opens the object's storage span, removes the upload, and queues `deletes`. If
   * `replaces` is set, that object (which must be the one the name points at now) becomes an older version of
   * the name in the same step (superseded at the new object's createdAt; it keeps its pieces, span and bytes in
   * `used`); if it is not set, the name must be free. With `overwrite`, whichever object the name points at now
   * is replaced that way (none: the name is taken). Fails with ERR_CONFLICT (details: objectId, the name's
   * current object) when the name's current object is not the expected one. Answers the object it replaced.
   */
  commitUpload(commit: UploadCommit): Promise<{ replaced?: string }>
  /** Removes an upload and its segments, releases its reservation and queues `deletes`. */
  abortUpload(uploadId: string, deletes: readonly DeleteOrderRecord[]): Promise<void>
  /**
   * Writes committed objects in bulk, each exactly as beginUpload and then commitUpload of a new name would
   * leave it (the object, its name, its segments, its storage span, the owner's used and object count), many in
   * one transaction or batch: for the scale benchmark's seeding and for imports. All or nothing. Fails with
   * ERR_CONFLICT when a name is taken (or given twice), ERR_QUOTA_EXCEEDED as beginUpload would, and
   * ERR_UNAUTHORIZED when an owner does not exist.
   */
  importObjects(objects: readonly ImportedObject[]): Promise<void>
}

/** Committed objects and their segment manifests. */
export interface ObjectStore {
  getObject(id: string): Promise<ObjectRecord | undefined>
  getObjectByName(owner: string, nameHash: string): Promise<ObjectRecord | undefined>
  /**
   * One page of an owner's objects in name-hash order (bytewise), after `page.after` (exclusive), at most
   * `page.limit`: the listing is read a page at a time, never whole.
   */
  listObjects(owner: string, page: { after?: string; limit: number }): Promise<ObjectRecord[]>
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
  /**
   * Removes an object (a current one or an older version) from its owner's listing and quota, closes its storage
   * span at `at` and queues `deletes`. Only the one object: a caller deleting a name deletes its versions too.
   * ERR_OBJECT_NOT_FOUND if gone.
   */
  deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[], at: number): Promise<void>
  /**
   * Gives an object a new name hash and sealed metadata (rename, move, trash) and returns the updated record. Its
   * older versions move to the new name hash with it (their sealed metadata stays). ERR_CONFLICT when another
   * object of the owner has that name hash; ERR_OBJECT_NOT_FOUND if gone or an older version.
   */
  renameObject(objectId: string, nameHash: string, meta: string): Promise<ObjectRecord>

  // Versions (docs/versions.md)

  /**
   * One page of the older versions of an owner's name, newest first, after `page.after` (exclusive) in that
   * order, at most `page.limit`.
   */
  listVersions(
    owner: string,
    nameHash: string,
    page: { after?: Pick<VersionKey, 'supersededAt' | 'id'>; limit: number }
  ): Promise<ObjectRecord[]>
  /**
   * Older versions of every owner and name, grouped by (owner, name hash) and newest first within a group, after
   * `after` (exclusive), at most `limit`: the version purge walks them a page at a time.
   */
  listAllVersions(after: VersionKey | undefined, limit: number): Promise<ObjectRecord[]>
  /**
   * Makes an older version the current object of its name, with new sealed metadata (the client re-seals it with
   * the name the file has now), and makes the current object (if any) a version superseded at `at`, in one
   * step. Nothing is removed; the quota is unchanged. ERR_OBJECT_NOT_FOUND unless `versionId` is an older
   * version.
   */
  restoreVersion(versionId: string, meta: string, at: number): Promise<ObjectRecord>
  /** How many older versions an owner keeps and their bytes (part of `used`). */
  versionUsage(owner: string): Promise<{ versions: number; bytes: number }>

  // Audits and repair (docs/audits-and-repair.md)

  /**
   * Segments of every object with their object, in (objectId, index) order, starting after `after` (exclusive;
   * undefined: from the start), at most `limit`. The repair checker, the audit planner and the retain filters
   * walk the whole network with it: one read per page, never one per object.
   */
  listSegments(after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]>
  /**
   * Like listSegments, only the segments with a piece on `node` (by an index of pieces by node): the repair
   * check reads a node's segments when the node's state changes, without walking the others.
   */
  listSegmentsOnNode(node: string, after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]>
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
    at: number
  ): Promise<boolean>
}

/** Share links (the server side: never a key). */
export interface ShareStore {
  /** Stores a new share. */
  createShare(share: ShareRecord): Promise<void>
  getShare(id: string): Promise<ShareRecord | undefined>
  /** An owner's shares, newest first. */
  listShares(owner: string): Promise<ShareRecord[]>
  /** Marks a share revoked at `at` and returns it; a second revocation keeps the first time. ERR_NOT_FOUND if absent. */
  revokeShare(id: string, at: number): Promise<ShareRecord>
  /** Sets (or with undefined, removes) a share's expiry and returns it. ERR_NOT_FOUND if absent. */
  updateShareExpiry(id: string, expiresAt: number | undefined): Promise<ShareRecord>
  /** Adds one to a share's download count, atomically (two trackers counting at once both count). */
  countShareDownload(id: string): Promise<void>
}

/** The storage-node registry and the delete orders waiting for each node. */
export interface NodeStore {
  /**
   * Upserts a node's registry entry and drops the delete orders it acknowledged (only its own), then answers the
   * node's delete orders still queued, as listDeleteOrders would (at most `orders`; default none): a heartbeat
   * is one store call. Returns undefined, changing nothing, unless `node.lastAt` is newer than the stored one:
   * that is the heartbeat replay guard.
   */
  recordHeartbeat(
    node: NodeRecord,
    acknowledged: readonly string[],
    orders?: number
  ): Promise<DeleteOrderRecord[] | undefined>
  getNode(peerId: string): Promise<NodeRecord | undefined>
  listNodes(): Promise<NodeRecord[]>
  /** Pending delete orders of one node, oldest first. */
  listDeleteOrders(node: string, limit: number): Promise<DeleteOrderRecord[]>
  /** Queues delete orders on their own (pieces that never became part of a segment). */
  queueDeletes(deletes: readonly DeleteOrderRecord[]): Promise<void>
}

/** What audits and uptime checks have shown of each node. */
export interface ReputationStore {
  getReputation(peerId: string): Promise<NodeReputation | undefined>
  listReputations(): Promise<NodeReputation[]>
  /**
   * Writes a node's reputation if the stored one has version `record.version - 1` (none stored: `record.version`
   * is 1). Returns false, changing nothing, otherwise: the caller re-reads and retries.
   */
  putReputation(record: NodeReputation): Promise<boolean>
}

/** Metering and money (docs/billing.md): settlements, storage spans, piece moves, invoices, payouts, ledger. */
export interface LedgerStore {
  /**
   * Records settlements whose serial was never settled, all in one step, and returns those serials; the others
   * (settled before, by any tracker) change nothing. This is what makes settlement idempotent.
   */
  settle(records: readonly SettlementRecord[]): Promise<string[]>
  /**
   * Binds a client's receipt key to `holder` unless it is bound already, atomically across trackers; returns the
   * holder it is bound to (the earlier one, when there is one). Idempotent.
   */
  bindReceiptKey(record: ReceiptKeyRecord): Promise<string>
  /** The holders of these receipt keys (keys never bound are absent). */
  receiptKeyHolders(keys: readonly string[]): Promise<Map<string, string>>
  /** Settlements with settledAt in [from, to), by account or node (or all), oldest first. */
  listSettlements(filter: { account?: string; node?: string; from: number; to: number }): Promise<SettlementRecord[]>
  /** Storage spans (opened by commitUpload, closed by deletes and replacements) that overlap [from, to). */
  listStorageSpans(filter: { account?: string; from: number; to: number }): Promise<StorageSpan[]>
  /** Piece moves (recorded by updateSegmentPieces) of these objects, oldest first. */
  listPieceMoves(objectIds: readonly string[]): Promise<PieceMove[]>
  /**
   * What one node held in [from, to): the storage spans overlapping it that list the node or whose object had
   * a piece moved to or from it, and every piece move of those objects (oldest first). Memory is bounded by
   * what the node held, never by the network: PostgreSQL reads it by index; level streams the spans and moves.
   */
  listNodeStorage(node: string, from: number, to: number): Promise<{ spans: StorageSpan[]; moves: PieceMove[] }>
  /**
   * Who a period's bills go to, a page at a time in bytewise order after `page.after` (exclusive): 'accounts'
   * with a storage span overlapping [from, to) or a settlement in it; 'nodes' that such a span lists, that a
   * piece move of such an object went to, or that settled in it. Month close reads them page by page, never the
   * month's records whole.
   */
  listBillable(kind: BillableKind, from: number, to: number, page: IdPage): Promise<string[]>
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
}

/**
 * What trackers sharing one store agree on: rate-limit buckets, leases on background jobs, the cursors of the
 * background walks and the repair queue.
 */
export interface CoordinationStore {
  /**
   * Takes one token from the bucket of each key, all or none, as one step seen by every tracker on this store.
   * Returns 0 when taken, else the ms until the emptiest bucket has a token (and takes nothing).
   */
  takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number>
  /**
   * Takes or renews the lease `name` for `holder` until now + ttlMs, if it is free, expired or already
   * `holder`'s. True when `holder` holds it now.
   */
  acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean>
  /** Gives the lease up, if `holder` holds it, so another tracker can take it at once. */
  releaseLease(name: string, holder: string): Promise<void>

  // Background walks and the repair queue (docs/tracker-shape.md, "Background work")

  getCursor(name: string): Promise<ScanCursor | undefined>
  /**
   * Writes a walk's cursor if the stored one has version `cursor.version - 1` (none stored: `cursor.version` is
   * 1). Returns false, changing nothing, otherwise: another tracker claimed that slice, re-read and go on.
   */
  putCursor(name: string, cursor: ScanCursor): Promise<boolean>
  /**
   * Queues segments for repair, or updates the healthy count of those queued already (a claim in progress is
   * kept). Survives a restart.
   */
  queueRepairs(items: readonly RepairItem[]): Promise<void>
  /**
   * Claims up to `limit` queued segments that no one holds (or whose claim expired at or before `now`), fewest
   * healthy pieces first, for `holder` until now + ttlMs. Two trackers never get the same item while its claim
   * lasts.
   */
  claimRepairs(holder: string, now: number, ttlMs: number, limit: number): Promise<RepairItem[]>
  /** Takes a segment off the queue if `holder` holds its claim (done, or nothing left to do). */
  finishRepair(key: SegmentKey, holder: string): Promise<void>
  /** Segments queued (claimed ones too). */
  countRepairs(): Promise<number>
}

/** The operator's moderation: takedowns of share links, account suspensions, abuse reports, and their log. */
export interface ModerationStore {
  /**
   * Takes a share down (`takedown`) or restores it (undefined) and appends `action` to the moderation log, both
   * or neither. Returns false, changing nothing and logging nothing, when the share already is in that state.
   * Does not check that the share exists (the service does).
   */
  setTakedown(shareId: string, takedown: TakedownRecord | undefined, action: ModerationAction): Promise<boolean>
  getTakedown(shareId: string): Promise<TakedownRecord | undefined>
  /** As setTakedown, for an account's suspension. */
  setSuspension(accountId: string, suspension: SuspensionRecord | undefined, action: ModerationAction): Promise<boolean>
  getSuspension(accountId: string): Promise<SuspensionRecord | undefined>
  addReport(report: AbuseReport): Promise<void>
  /** Reports, newest first, at most `limit`. */
  listReports(limit: number): Promise<AbuseReport[]>
  /** The moderation log, newest first, at most `limit`. */
  listActions(limit: number): Promise<ModerationAction[]>
}
