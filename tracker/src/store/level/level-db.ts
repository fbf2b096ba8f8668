import { ErrorCode, randomBytes, type SegmentManifest, ShoalError, toHex } from '@shoal/core'
import { Level } from 'level'
import { KeyedMutex } from '../keyed-mutex.ts'
import type { ApiKeyRecord, AuditRecord, PieceMove, SettlementRecord, StorageSpan } from '../money-records.ts'
import type { DeleteOrderRecord, ShareRecord, UploadRecord, VersionKey } from '../records.ts'

/**
 * Bump when the key layout changes; open() migrates older layouts and refuses a database written by a newer one.
 * 2: `upload-owner:` index (listing an owner's uploads).
 * 3: `settle-account:`, `settle-node:` and `span-account:` indexes (usage, invoices, earnings read one account's
 *    or one node's records, not the whole month's).
 * 4: `nseg:` index of committed segments by the nodes holding their pieces (the repair check finds a node's
 *    segments when the node's state changes, instead of waiting for the walk over every segment).
 */
const SCHEMA_VERSION = 4
/**
 * Table files LevelDB keeps open (its default is 1,000). LevelDB maps each open table file into memory, and the
 * pages a process touched count in its RSS: at 1M objects (a 700 MB database of ~360 files) the default kept
 * them all mapped, 525-707 MB of file-backed RSS on top of ~300 MB anonymous. 64 keeps at most ~54 tables
 * (about 110 MB) mapped; a table that has to be opened again costs a read of its index block (bench/RESULTS.md,
 * "Tracker at scale: fewer round trips, repair by node events").
 */
const MAX_OPEN_FILES = 64
/** Segments indexed per batch when a schema-3 database gets its `nseg:` index. */
const MIGRATE_BATCH = 5000

/*
 * Key layout (one keyspace, JSON values). Ids, name hashes and serials are base64url and peer ids base58, so
 * none contains ':'; numbers are zero-padded so that key order is numeric order. Each prefix is written by one
 * domain file of this folder (the owner named on the right).
 *
 *   meta:schema                         -> number                              (this file)
 *   account:<id>                        -> AccountRecord                       (accounts)
 *   email:<email>                       -> account id                          (accounts)
 *   session:<tokenHash>                 -> SessionRecord                       (accounts)
 *   session-exp:<expiresAt>:<tokenHash> -> tokenHash                           (accounts)
 *   signup:<email>                      -> PendingSignupRecord                 (accounts)
 *   signup-exp:<expiresAt>:<email>      -> email                               (accounts)
 *   receipt-key:<key>                   -> ReceiptKeyRecord                    (ledger)
 *   apikey:<hash>                       -> ApiKeyRecord                        (accounts)
 *   apikey-owner:<account>:<createdAt>:<id> -> hash                            (accounts)
 *   audit:<account>:<auditId>           -> AuditRecord (ids sort by time)      (accounts)
 *   planchange:<account>:<auditId>      -> PlanChange                          (accounts)
 *   node:<peerId>                       -> NodeRecord                          (nodes)
 *   order:<peerId>:<createdAt>:<serial> -> DeleteOrderRecord                   (nodes)
 *   order-serial:<peerId>:<serial>      -> the order's key (to acknowledge by serial)  (nodes)
 *   upload:<id>                         -> UploadRecord                        (uploads)
 *   upload-exp:<expiresAt>:<id>         -> upload id                           (uploads)
 *   upload-owner:<owner>:<createdAt>:<id> -> upload id                         (uploads)
 *   useg:<uploadId>:<index>             -> UploadSegmentRecord                 (uploads)
 *   object:<id>                         -> ObjectRecord                        (objects)
 *   oseg:<objectId>:<index>             -> SegmentManifest                     (objects)
 *   nseg:<peerId>:<objectId>:<index>    -> 1 (a piece of that segment is on that node)  (objects)
 *   name:<owner>:<nameHash>             -> object id                           (objects)
 *   version:<owner>:<nameHash>:<supersededAt>:<id> -> object id (older versions)   (objects)
 *   version-policy:<account>            -> VersionPolicy                       (accounts)
 *   move:<objectId>:<at>:<random>       -> PieceMove                           (ledger)
 *   share:<id>                          -> ShareRecord                         (shares)
 *   share-owner:<owner>:<createdAt>:<id> -> share id                           (shares)
 *   rep:<peerId>                        -> NodeReputation                      (reputations)
 *   settle:<serial>                     -> SettlementRecord                    (ledger)
 *   settle-time:<settledAt>:<serial>    -> serial                              (ledger)
 *   settle-account:<account>:<settledAt>:<serial> -> serial                    (ledger)
 *   settle-node:<node>:<settledAt>:<serial> -> serial                          (ledger)
 *   span-account:<account>:<objectId>   -> object id                           (ledger)
 *   span:<objectId>                     -> StorageSpan                         (ledger)
 *   invoice:<account>:<period>          -> InvoiceRecord                       (ledger)
 *   payout:<node>:<period>              -> PayoutRecord                        (ledger)
 *   ledger:<seq>                        -> LedgerEntry (seq: posting order)    (ledger)
 *   meta:ledger-seq                     -> last seq                            (ledger)
 *   cursor:<name>                       -> ScanCursor                          (coordination)
 *   repair:<objectId>:<index>           -> RepairItem                          (coordination)
 *   repair-order:<healthy>:<objectId>:<index> -> the item's key (fewest healthy first)  (coordination)
 *
 * Prefixes added after schema 3 (cursor:, repair:, repair-order:) start empty in an older database: they need no
 * migration, so the schema number stays.
 */
export type Op = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }

const pad = (n: number, width: number): string => String(n).padStart(width, '0')
export const time = (ms: number): string => pad(ms, 16)
const idx = (i: number): string => pad(i, 10)

export const K = {
  account: (id: string) => `account:${id}`,
  email: (email: string) => `email:${email}`,
  session: (hash: string) => `session:${hash}`,
  sessionExp: (exp: number, hash: string) => `session-exp:${time(exp)}:${hash}`,
  // Emails may hold ':' (quoted local parts): these keys are only read whole or by the expiry prefix.
  signup: (email: string) => `signup:${email}`,
  signupExp: (exp: number, email: string) => `signup-exp:${time(exp)}:${email}`,
  receiptKey: (key: string) => `receipt-key:${key}`,
  node: (peerId: string) => `node:${peerId}`,
  order: (o: DeleteOrderRecord) => `order:${o.node}:${time(o.createdAt)}:${o.serial}`,
  orderSerial: (node: string, serial: string) => `order-serial:${node}:${serial}`,
  upload: (id: string) => `upload:${id}`,
  uploadExp: (exp: number, id: string) => `upload-exp:${time(exp)}:${id}`,
  uploadOwner: (u: UploadRecord) => `upload-owner:${u.owner}:${time(u.createdAt)}:${u.id}`,
  useg: (uploadId: string, index: number) => `useg:${uploadId}:${idx(index)}`,
  object: (id: string) => `object:${id}`,
  oseg: (objectId: string, index: number) => `oseg:${objectId}:${idx(index)}`,
  nodeSeg: (node: string, objectId: string, index: number) => `nseg:${node}:${objectId}:${idx(index)}`,
  name: (owner: string, nameHash: string) => `name:${owner}:${nameHash}`,
  version: (v: VersionKey) => `version:${v.owner}:${v.nameHash}:${time(v.supersededAt)}:${v.id}`,
  versionPolicy: (accountId: string) => `version-policy:${accountId}`,
  share: (id: string) => `share:${id}`,
  shareOwner: (share: ShareRecord) => `share-owner:${share.owner}:${time(share.createdAt)}:${share.id}`,
  rep: (peerId: string) => `rep:${peerId}`,
  apiKey: (hash: string) => `apikey:${hash}`,
  apiKeyOwner: (k: ApiKeyRecord) => `apikey-owner:${k.accountId}:${time(k.createdAt)}:${k.id}`,
  audit: (a: AuditRecord) => `audit:${a.accountId}:${a.id}`,
  // The audit id is time-ordered and unique: changes sort by time, and two in one millisecond both stay.
  planChange: (accountId: string, audit: AuditRecord) => `planchange:${accountId}:${audit.id}`,
  settlement: (serial: string) => `settle:${serial}`,
  settlementTime: (r: SettlementRecord) => `settle-time:${time(r.settledAt)}:${r.serial}`,
  settlementAccount: (r: SettlementRecord) => `settle-account:${r.account}:${time(r.settledAt)}:${r.serial}`,
  settlementNode: (r: SettlementRecord) => `settle-node:${r.node}:${time(r.settledAt)}:${r.serial}`,
  span: (objectId: string) => `span:${objectId}`,
  spanAccount: (account: string, objectId: string) => `span-account:${account}:${objectId}`,
  // Time-ordered per object; the random tail keeps two moves of one millisecond apart.
  move: (m: PieceMove) => `move:${m.objectId}:${time(m.at)}:${toHex(randomBytes(6))}`,
  invoice: (accountId: string, period: string) => `invoice:${accountId}:${period}`,
  payout: (node: string, period: string) => `payout:${node}:${period}`,
  ledger: (seq: number) => `ledger:${pad(seq, 16)}`,
  cursor: (name: string) => `cursor:${name}`,
  repair: (key: { objectId: string; index: number }) => `repair:${key.objectId}:${idx(key.index)}`,
  repairOrder: (item: { objectId: string; index: number; healthy: number }) =>
    `repair-order:${pad(item.healthy, 4)}:${item.objectId}:${idx(item.index)}`
}

/** Bounds of all keys that start with `prefix` (';' is the character after ':'). */
export function range(prefix: string): { gte: string; lt: string } {
  if (!prefix.endsWith(':')) throw new TypeError('prefix must end with ":"')
  return { gte: prefix, lt: `${prefix.slice(0, -1)};` }
}

/**
 * The database the domain parts of a LevelStore share: one LevelDB folder, and one set of keyed locks that
 * make each method's read-decide-write atomic within the one process that owns the folder. Cross-domain steps
 * take the owner's account lock (`K.account(owner)`), as every upload and object change does.
 */
export class LevelDb {
  readonly locks = new KeyedMutex()
  readonly #location: string
  #db: Level<string, unknown> | undefined

  constructor(location: string) {
    this.#location = location
  }

  async open(): Promise<void> {
    if (this.#db !== undefined) return
    const db = new Level<string, unknown>(this.#location, { valueEncoding: 'json', maxOpenFiles: MAX_OPEN_FILES })
    await db.open()
    const schema = await db.get('meta:schema')
    if (schema === undefined) {
      await db.put('meta:schema', SCHEMA_VERSION)
    } else if (schema === 1 || schema === 2 || schema === 3) {
      await migrate(db, schema)
    } else if (schema !== SCHEMA_VERSION) {
      await db.close()
      throw new ShoalError(
        ErrorCode.INTERNAL,
        `store at ${this.#location} has schema ${String(schema)}, this tracker reads ${SCHEMA_VERSION}`
      )
    }
    this.#db = db
  }

  async close(): Promise<void> {
    const db = this.#db
    if (db === undefined) return
    // Let transactions in flight finish; the tracker stops taking requests before it closes its store.
    await this.locks.drain()
    this.#db = undefined
    await db.close()
  }

  get level(): Level<string, unknown> {
    if (this.#db === undefined) throw new ShoalError(ErrorCode.INTERNAL, 'store is not open')
    return this.#db
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.level.get(key)) as T | undefined
  }

  async values<T>(prefix: string, limit = -1): Promise<T[]> {
    return (await this.level.values({ ...range(prefix), limit }).all()) as T[]
  }

  /** The records these keys name, skipping keys with none. */
  async many<T>(keys: readonly string[]): Promise<T[]> {
    if (keys.length === 0) return []
    return ((await this.level.getMany([...keys])) as (T | undefined)[]).filter((v): v is T => v !== undefined)
  }

  /**
   * Runs `fn` under the lock of a record's owner (an upload's, an object's), with the record read again inside
   * the lock: it may have been committed, deleted or replaced while this call waited.
   */
  async underOwner<T extends { owner: string }, R>(
    read: () => Promise<T | undefined>,
    notFound: () => Error,
    fn: (record: T) => Promise<R>
  ): Promise<R> {
    const first = await read()
    if (first === undefined) throw notFound()
    return this.locks.run(K.account(first.owner), async () => {
      const record = await read()
      if (record === undefined) throw notFound()
      return fn(record)
    })
  }

  async batch(ops: Op[]): Promise<void> {
    if (ops.length > 0) await this.level.batch(ops)
  }
}

/**
 * Schema 1, 2 or 3 → 4: 1 → 2 indexes the uploads in progress by owner; 2 → 3 indexes settlements by account and
 * by node and storage spans by account (one batch); 3 → 4 indexes the segments by node, a batch of
 * MIGRATE_BATCH segments at a time (millions of keys do not fit one batch), then writes the schema number:
 * an interrupted step is done again whole at the next open (its writes are idempotent).
 */
async function migrate(db: Level<string, unknown>, from: number): Promise<void> {
  if (from < 3) {
    const ops: Op[] = []
    if (from < 2) {
      const uploads = (await db.values(range('upload:')).all()) as UploadRecord[]
      for (const u of uploads) ops.push({ type: 'put', key: K.uploadOwner(u), value: u.id })
    }
    for (const r of (await db.values(range('settle:')).all()) as SettlementRecord[]) ops.push(...settlementIndexOps(r))
    for (const s of (await db.values(range('span:')).all()) as StorageSpan[]) {
      ops.push({ type: 'put', key: K.spanAccount(s.account, s.objectId), value: s.objectId })
    }
    await db.batch([...ops, { type: 'put', key: 'meta:schema', value: 3 }])
  }
  let ops: Op[] = []
  for await (const [key, value] of db.iterator(range('oseg:'))) {
    const objectId = key.slice('oseg:'.length, key.lastIndexOf(':'))
    ops.push(...segmentNodeOps(objectId, value as SegmentManifest))
    if (ops.length >= MIGRATE_BATCH * 3) {
      await db.batch(ops)
      ops = []
    }
  }
  await db.batch([...ops, { type: 'put', key: 'meta:schema', value: SCHEMA_VERSION }])
}

/**
 * The `nseg:` entries of a segment: one per node holding a piece of it, put, and with `previous` (the pieces it
 * replaces), those of nodes that no longer hold one removed.
 */
export function segmentNodeOps(
  objectId: string,
  segment: SegmentManifest,
  previous?: { pieces: readonly { node: string }[] }
): Op[] {
  const now = new Set(segment.pieces.map((p) => p.node))
  const ops: Op[] = [...now].map((node) => ({ type: 'put', key: K.nodeSeg(node, objectId, segment.index), value: 1 }))
  for (const node of new Set(previous?.pieces.map((p) => p.node))) {
    if (!now.has(node)) ops.push({ type: 'del', key: K.nodeSeg(node, objectId, segment.index) })
  }
  return ops
}

/** A settlement's index entries (by time, account and node). */
export function settlementIndexOps(r: SettlementRecord): Op[] {
  return [
    { type: 'put', key: K.settlementTime(r), value: r.serial },
    { type: 'put', key: K.settlementAccount(r), value: r.serial },
    { type: 'put', key: K.settlementNode(r), value: r.serial }
  ]
}
