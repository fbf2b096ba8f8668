import type { KdfParams } from '../crypto/account-keys.ts'

/**
 * The tracker's HTTP API (v1), shared by the tracker and its clients. JSON bodies; authenticated calls carry
 * `Authorization: Bearer <token>`. Errors are `{ error: { code, message, details? } }` with a 4xx/5xx status.
 * Sizes are bytes, times are ms since the epoch.
 */

export interface NodeAddress {
  peerId: string
  /** Multiaddrs without the /p2p suffix. */
  addrs: string[]
}

/** GET /v1/info */
export interface InfoResponse {
  version: string
  /** Tracker's Ed25519 public key, base64url of its libp2p protobuf encoding: verifies grants. */
  publicKey: string
  kdf: KdfParams
  /**
   * The erasure policy. With a fixed layout, `k` and `m` are what every upload gets; with `auto`, they are the
   * layout an upload begun now would get (it depends on the nodes online; the smallest one while too few are).
   */
  policy: {
    k: number
    m: number
    segmentSize: number
    /** Receipts a segment of that layout needs before it commits (long-tail uploads); absent means k + m. */
    minCommitPieces?: number
    /** True when k and m are chosen per upload from the number of nodes online. */
    auto?: boolean
  }
  nodesOnline: number
  /**
   * Sign-up needs the code the tracker emails (POST /v1/accounts answers SignupPendingResponse, then POST
   * /v1/accounts/confirm). Absent: sign-up opens a session at once.
   */
  verifyEmail?: boolean
}

export interface AccountView {
  id: string
  email: string
  quota: number
  /** Plaintext bytes of committed objects plus bytes reserved by uploads in progress. */
  used: number
  objects: number
  createdAt: number
  /** Plan id (free, plus, pro); see GET /v1/plans. */
  plan?: string
  /** A recovery key is set up (its wrap of the master key is stored): a forgotten password can be reset. */
  recovery?: boolean
}

/** POST /v1/accounts */
export interface SignupRequest {
  email: string
  /** base64url; derived from the password on the client. */
  authKey: string
  /** base64url; the master key sealed under the password-derived key. */
  wrappedMasterKey: string
  /** The master key's second wrap, under the recovery key (recommended; the client makes one at sign-up). */
  recovery?: RecoveryWrap
}
/**
 * POST /v1/accounts when the tracker verifies emails (HTTP 202): the same answer, in the same time, whether the
 * email is new or already has an account; the mail tells the two apart, and only its reader sees it.
 */
export interface SignupPendingResponse {
  verification: 'email'
  email: string
  /** The emailed code works until then. */
  expiresAt: number
}
/** POST /v1/accounts/confirm: the code from the mail; the answer is the new account's SessionResponse (201). */
export interface ConfirmSignupRequest {
  email: string
  code: string
}
/** Digits in an emailed sign-up code. */
export const SIGNUP_CODE_DIGITS = 6

/**
 * A recovery key's half of an account: the auth key derived from it (the tracker keeps a salted hash) and the
 * master key sealed under the key-encryption key derived from it (deriveRecoveryKeys). Neither opens anything
 * without the recovery key itself, which never leaves the user.
 */
export interface RecoveryWrap {
  authKey: string
  wrappedMasterKey: string
}
/** PUT /v1/account/password: the current password's auth key proves it is the owner, not a stolen session. */
export interface ChangePasswordRequest {
  authKey: string
  newAuthKey: string
  /** The master key sealed under the new password's key. */
  wrappedMasterKey: string
}
/** PUT /v1/account/recovery: a new recovery key replaces the old one. */
export interface SetRecoveryRequest {
  authKey: string
  recovery: RecoveryWrap
}
/** POST /v1/recovery: the recovery copy of the master key, for the holder of the recovery key. */
export interface RecoveryRequest {
  email: string
  recoveryAuthKey: string
}
export interface RecoveryResponse {
  wrappedMasterKey: string
}
/** POST /v1/recovery/reset: a new password, set with the recovery key; every session ends, a new one opens. */
export interface RecoveryResetRequest extends RecoveryRequest {
  authKey: string
  wrappedMasterKey: string
}
/** POST /v1/sessions */
export interface LoginRequest {
  email: string
  authKey: string
}
/** Response to both sign-up (201) and login (200). */
export interface SessionResponse {
  token: string
  expiresAt: number
  account: AccountView
  wrappedMasterKey: string
}

/** Payload of the signed token a node sends as its heartbeat (signed with the node's libp2p key). */
export interface HeartbeatPayload {
  v: 1
  kind: 'heartbeat'
  node: string
  addrs: string[]
  capacity: number
  used: number
  /** Bytes the node can still take: capacity minus used, bounded by the disk's free space. */
  free: number
  at: number
  version: string
  /** Serials of delete grants the node has carried out since the last heartbeat. */
  deleted: string[]
}
/** POST /v1/nodes/heartbeat  body: { token } */
export interface HeartbeatRequest {
  token: string
}
export interface HeartbeatResponse {
  /** Same as InfoResponse.publicKey: nodes pin it at first contact. */
  trackerKey: string
  intervalMs: number
  /** Other online nodes to bootstrap the DHT from. */
  peers: NodeAddress[]
  /** Delete grants for pieces this node should drop (deleted objects, aborted uploads). */
  deletes: DeleteOrder[]
}
export interface DeleteOrder {
  piece: string
  grant: string
}

export interface NodeView extends NodeAddress {
  online: boolean
  capacity: number
  used: number
  free: number
  lastSeen: number
  version: string
}
/** GET /v1/nodes */
export interface NodesResponse {
  nodes: NodeView[]
}

/** POST /v1/uploads */
export interface BeginUploadRequest {
  nameHash: string
  size: number
  /** Sealed metadata (name, MIME type, ...): opaque to the tracker. */
  meta: string
  /** Content key sealed by the owner's master key: opaque to the tracker. */
  wrappedKey: string
  /** base64url, 8 bytes. */
  nonce: string
  /** Replace an existing object with the same nameHash when the upload commits. */
  overwrite?: boolean
}
export interface BeginUploadResponse {
  uploadId: string
  k: number
  m: number
  segmentSize: number
  segmentCount: number
  expiresAt: number
  /** Receipts needed to commit a segment; absent means k + m. */
  minCommitPieces?: number
}

/** POST /v1/uploads/:id/segments/:index/place */
export interface PlaceSegmentRequest {
  /**
   * `root`: the piece's Merkle root (merkle.ts), which the tracker records for audits. All k + m pieces, or,
   * when too few nodes are left for them (ERR_NOT_ENOUGH_NODES), at least minStoredPieces of them: a degraded
   * placement that repair completes later.
   */
  pieces: { index: number; cid: string; size: number; root?: string }[]
  /** Nodes the client could not reach: the tracker avoids them for this placement. */
  exclude?: string[]
}
export interface GrantedPiece {
  index: number
  cid: string
  node: NodeAddress
  grant: string
}
export interface PlaceSegmentResponse {
  pieces: GrantedPiece[]
}

/** POST /v1/uploads/:id/segments/:index/commit */
export interface CommitSegmentRequest {
  pieces: { index: number; cid: string; node: string; receipt: string }[]
}
/**
 * The first commit of a segment wins. Committing it again (a retry after a lost answer) succeeds without
 * changing anything and says so with `alreadyCommitted`; `pieces` then counts the pieces committed first.
 */
export interface CommitSegmentResponse {
  index: number
  /** Pieces the segment is committed with. */
  pieces: number
  alreadyCommitted?: boolean
}

/** POST /v1/uploads/:id/commit */
export interface CommitUploadResponse {
  object: ObjectSummary
  /** Present when some segments were stored with fewer pieces than planned (nodes were down); repair adds them. */
  degraded?: DegradedUpload
}
export interface DegradedUpload {
  /** Segments stored with fewer than the planned pieces, of `segmentCount`. */
  segments: number
  segmentCount: number
  /** Pieces of the weakest segment, of k + m planned; any k of them read it. */
  fewestPieces: number
  k: number
  m: number
}

/** GET /v1/objects: objects carry sealed metadata; the client opens it. */
export interface ObjectSummary {
  id: string
  nameHash: string
  meta: string
  size: number
  createdAt: number
  /** Set on an older version of a file: when another version took its place (docs/versions.md). */
  supersededAt?: number
}
/**
 * GET /v1/objects?after=<nameHash>&limit=<n>: one page, in name-hash order. `next` is set when more may follow:
 * pass it as `after` for the next page.
 */
export interface ListObjectsResponse {
  objects: ObjectSummary[]
  next?: string
}
export interface ListObjectsQuery {
  after?: string
  /** 1 to MAX_LIST_PAGE; default MAX_LIST_PAGE. */
  limit?: number
}
/** Most objects one page of GET /v1/objects holds (each carries up to 64 KiB of sealed metadata). */
export const MAX_LIST_PAGE = 1000

/**
 * GET /v1/objects/:id/versions?after=<cursor>&limit=<n>: the older versions of the file `id` currently is, newest
 * first, one page at a time (`next` as `after` for the next one). The current object itself is not among them.
 */
export interface ListVersionsResponse {
  /** Each with what a download needs (its key stays wrapped under the owner's master key). */
  versions: ObjectInfo[]
  next?: string
}

/**
 * POST /v1/objects/:versionId/restore: the version becomes the file's current object, under `meta` (the
 * client re-seals the version's metadata with the file's current name); the current object becomes a version.
 */
export interface RestoreVersionRequest {
  meta: string
}

/**
 * GET and PUT /v1/account/versions: how many older versions of each file are kept (`keep`) and for how many days
 * after they were replaced (`days`); `null` is no limit. A version is purged once it passes either limit.
 */
export interface VersionPolicyView {
  keep: number | null
  days: number | null
}

/** GET /v1/account/versions also says what the older versions hold now (part of the account's `used`). */
export interface VersionPolicyResponse extends VersionPolicyView {
  versions: number
  bytes: number
}

/** Longest a version policy may keep versions: 10 years, and 1,000 versions a file. */
export const MAX_VERSION_DAYS = 3650
export const MAX_VERSION_KEEP = 1000

/** GET /v1/objects/by-name/:nameHash */
export interface ObjectInfo extends ObjectSummary {
  wrappedKey: string
  nonce: string
  segmentSize: number
  k: number
  m: number
  segmentCount: number
}

/** POST /v1/objects/:id/grants — get grants for segments [from, to). */
export interface DownloadGrantsRequest {
  from: number
  to: number
}
export interface GrantedSegment {
  index: number
  pieces: GrantedPiece[]
}
export interface DownloadGrantsResponse {
  segments: GrantedSegment[]
}
/**
 * POST /v1/objects/by-name/:nameHash/grants: a download's first call, the object found by its name and the
 * grants for its first `first` segments (fewer when it has fewer) in one round trip instead of two.
 */
export interface OpenObjectRequest {
  first: number
  receiptKey?: string
}
export interface OpenObjectResponse extends DownloadGrantsResponse {
  object: ObjectInfo
}

/** DELETE /v1/objects/:id: the client may send these at once; nodes also get them through heartbeats. */
export interface DeleteObjectResponse {
  deletes: { piece: string; node: NodeAddress; grant: string }[]
}

export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> }
}

/** Most segments one download-grants call may cover. */
export const MAX_GRANT_SEGMENTS = 64
/**
 * Most segments one share-grants call may cover. Share grants need no account, so one request must not make the
 * tracker sign much: 16 x (k + m) grants at most (issue 12). Clients pipeline batches of this size.
 */
export const MAX_SHARE_GRANT_SEGMENTS = 16

/** GET /v1/uploads/:id — what a client needs to resume an interrupted upload. */
export interface UploadStatus {
  uploadId: string
  nameHash: string
  size: number
  meta: string
  wrappedKey: string
  nonce: string
  k: number
  m: number
  segmentSize: number
  segmentCount: number
  /** Receipts needed to commit a segment (long-tail uploads cancel the slowest pushes beyond it). */
  minCommitPieces?: number
  /** Segments already committed: a resumed upload skips them. */
  committed: number[]
  expiresAt: number
}

/** GET /v1/uploads — the caller's uploads in progress (unexpired), oldest first. */
export interface ListUploadsResponse {
  uploads: UploadStatus[]
}

/** PATCH /v1/objects/:id — rename or move an object: a new name hash and new sealed metadata. Answers ObjectSummary. */
export interface UpdateObjectRequest {
  nameHash: string
  meta: string
}

/** POST /v1/shares — a share of one of the caller's objects (see crypto/share-keys.ts for the link). */
export interface CreateShareRequest {
  objectId: string
  /** Name, size and type sealed under a key derived from the content key: opaque to the tracker. */
  meta: string
  /** The tracker stops issuing grants for the share from this time on. */
  expiresAt?: number
  /** A password: the salt of its derivation (public, handed to visitors) and the auth key derived from it. */
  password?: { salt: string; authKey: string }
}

/** A share as its owner sees it. */
export interface ShareView {
  id: string
  objectId: string
  meta: string
  createdAt: number
  expiresAt?: number
  revokedAt?: number
  /**
   * Owner's list only: when the operator took the link down or suspended its owner. Visitors get
   * ERR_SHARE_REMOVED; the owner sees why the link stopped working (their own file is untouched).
   */
  removedAt?: number
  passwordProtected: boolean
  /** Downloads started through the link (a visitor's first grants request; a preview counts). */
  downloads?: number
}

/** PATCH /v1/shares/:id — the owner changes a live link's expiry; `null` makes it never expire. */
export interface UpdateShareRequest {
  expiresAt: number | null
}

/** GET /v1/shares — the caller's shares, newest first. */
export interface ListSharesResponse {
  shares: ShareView[]
}

/**
 * GET /v1/shares/:id — public: what a visitor with the link needs to download. Revoked and expired shares answer
 * ERR_SHARE_REVOKED / ERR_SHARE_EXPIRED (410); unknown ones and shares of deleted files ERR_SHARE_NOT_FOUND; shares
 * the operator took down, or whose owner it suspended, ERR_SHARE_REMOVED (451).
 */
export interface ShareInfo {
  id: string
  meta: string
  createdAt: number
  expiresAt?: number
  /** Present when the share needs a password: the salt to derive its keys with. */
  password?: { salt: string }
  object: Omit<ObjectInfo, 'wrappedKey' | 'meta' | 'nameHash'>
}

/** POST /v1/shares/:id/grants — public; a password-protected share needs `authKey`, else ERR_SHARE_PASSWORD. */
export interface ShareGrantsRequest extends DownloadGrantsRequest {
  authKey?: string
  /** As for a signed-in download: the key that signs this visitor's download receipts (egress billing). */
  receiptKey?: string
}
