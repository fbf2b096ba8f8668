import type { PiecePlacement, SegmentManifest } from '@shoal/core'

/*
 * The records the tracker keeps: plain JSON values, the same in every store. Money records (API keys, audit
 * log, settlements, spans, invoices, payouts, ledger) are in money-records.ts.
 */

export interface SegmentKey {
  objectId: string
  index: number
}

export interface StoredSegment {
  objectId: string
  segment: SegmentManifest
  /**
   * The segment's object, read with it: walkers need its layout, and one read per page beats one per object.
   * Undefined if the object was deleted between the two reads (level reads them apart): skip the segment.
   */
  object: WalkedObject | undefined
}

/**
 * An object as the segment walks see it: its record without the sealed metadata, key and nonce, which only its
 * owner's client reads (metadata alone may be 64 KiB: a walk over 1M objects must not carry it).
 */
export type WalkedObject = Omit<ObjectRecord, 'meta' | 'wrappedKey' | 'nonce'>

/**
 * Where a background walk over every segment stands (the repair check, the audit round): persisted, so a
 * restart or another tracker goes on from it. Written with a version check, so two trackers never claim the
 * same slice.
 */
export interface ScanCursor {
  /** 1 for the first write, then +1 per write. */
  version: number
  /** Passes begun so far. */
  pass: number
  /** Last segment claimed in this pass; undefined at the start of a pass. */
  after?: SegmentKey
  /** Tracker time this pass began. */
  startedAt: number
  /** Tracker time this pass reached the end; undefined while it runs. */
  finishedAt?: number
  /** Segments the pass has claimed so far (the last pass's total once it is finished). */
  segments: number
}

/** A segment waiting for repair. */
export interface RepairItem extends SegmentKey {
  /** Healthy pieces at the check that queued it: fewest are repaired first. */
  healthy: number
  queuedAt: number
}

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

/** What audits and uptime checks have shown of one node. Scores are in [0, 1]. */
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
  /**
   * Set while the node leaves on purpose (graceful exit): no new pieces, its pieces are moved. `remaining` is
   * what the last whole repair-check pass that began at `countedFrom` (after `since`) found still on the node.
   */
  exiting?: { since: number; remaining?: number; countedFrom?: number }
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
  /** The recovery key's half (docs/decisions.md, "Account recovery"); absent until one is set up. */
  recovery?: RecoveryRecord
}

/**
 * A sign-up waiting for the code emailed to its address (email verification on): the account it becomes once
 * the code is confirmed. One per email; a newer sign-up replaces it, so an unconfirmed one blocks nobody.
 */
export interface PendingSignupRecord {
  /** Normalized, as the account's. */
  email: string
  account: AccountRecord
  /** base64url SHA-256 of the code: the code itself is only in the mail. */
  codeHash: string
  createdAt: number
  expiresAt: number
}

/** The one party a client's receipt key was granted to: `a:<account id>` or `s:<share id>` (billing/receipt-key.ts). */
export interface ReceiptKeyRecord {
  key: string
  holder: string
  boundAt: number
}

/** A salted hash of the recovery key's auth key, and the master key wrapped under the recovery key. */
export interface RecoveryRecord {
  authSalt: string
  authHash: string
  wrappedMasterKey: string
  createdAt: number
}

/** What updateAccountKeys changes: the password's half (a change or a reset), the recovery half, or both. */
export interface AccountKeysUpdate {
  auth?: Pick<AccountRecord, 'authSalt' | 'authHash' | 'wrappedMasterKey'>
  recovery?: RecoveryRecord
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

export interface UploadRecord extends ObjectLayout {
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

/** What an upload fixes at its start and the object it commits keeps. */
export interface ObjectLayout {
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
}

export interface ObjectRecord extends ObjectLayout {
  createdAt: number
  /**
   * Set while the object is an older version of its name (docs/versions.md): when another object took the name
   * or a restore put another version back. A version keeps its pieces, segments and storage span (it is billed
   * and counts against the quota) but is not listed and its name hash does not lead to it.
   */
  supersededAt?: number
}

/** Where a walk over versions stands: versions sort by owner, name hash, then newest first (time, then id). */
export interface VersionKey {
  owner: string
  nameHash: string
  supersededAt: number
  id: string
}

/**
 * An account's version policy: an older version is kept while it is among the newest `keep` versions of its name
 * and was superseded less than `days` days ago; a limit left unset does not apply.
 */
export interface VersionPolicy {
  keep?: number
  days?: number
}

export interface UploadCommit {
  uploadId: string
  object: ObjectRecord
  segments: SegmentManifest[]
  /** Id of the object this one replaces under the same name. */
  replaces?: string
  /**
   * Replace whichever object has the name when the commit happens (none: the name is simply taken), instead of
   * the one `replaces` names: the caller need not read the name first.
   */
  overwrite?: boolean
  deletes: readonly DeleteOrderRecord[]
  /** Stored bytes per node, for the object's storage span (node payouts); default none. */
  nodeBytes?: Record<string, number>
}

/** A committed object written by importObjects, as an upload's commit would have written it. */
export interface ImportedObject {
  object: ObjectRecord
  segments: SegmentManifest[]
  /** Stored bytes per node, for the object's storage span; default none. */
  nodeBytes?: Record<string, number>
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
  /** Downloads started through the link (countShareDownload); absent means none. */
  downloads?: number
}
