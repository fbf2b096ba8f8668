import type { PiecePlacement, SegmentManifest } from '@shoal/core'

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
  /** Removes an object from its owner's listing and quota and queues `deletes`. ERR_OBJECT_NOT_FOUND if gone. */
  deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[]): Promise<void>
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
}
