import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import { ErrorCode, pieceSize, randomBytes, ShoalError, toHex } from '@shoal/core'
import { Level } from 'level'
import { type BucketKey, MemoryBuckets } from '../rate-limit.ts'
import { KeyedMutex } from './keyed-mutex.ts'
import { pieceMoves } from './money-records.ts'
import type {
  AccountRecord,
  ApiKeyRecord,
  AuditRecord,
  DeleteOrderRecord,
  InvoiceRecord,
  LedgerEntry,
  NodeRecord,
  NodeReputation,
  ObjectRecord,
  PayoutRecord,
  PieceMove,
  PlanChange,
  SegmentKey,
  SessionRecord,
  SettlementRecord,
  ShareRecord,
  StorageSpan,
  Store,
  StoredSegment,
  UploadCommit,
  UploadRecord,
  UploadSegmentRecord
} from './store.ts'
import { objectNotFound, samePieces, segmentNotFound, shareNotFound, uploadNotFound } from './store.ts'

export interface LevelStoreInit {
  /** Folder of the LevelDB database. */
  location: string
}

/**
 * Bump when the key layout changes; open() migrates older layouts and refuses a database written by a newer one.
 * 2: `upload-owner:` index (listing an owner's uploads).
 */
const SCHEMA_VERSION = 2

/*
 * Key layout (one keyspace, JSON values). Ids, name hashes and serials are base64url and peer ids base58, so
 * none contains ':'; numbers are zero-padded so that key order is numeric order.
 *
 *   meta:schema                         -> number
 *   account:<id>                        -> AccountRecord
 *   email:<email>                       -> account id
 *   session:<tokenHash>                 -> SessionRecord
 *   session-exp:<expiresAt>:<tokenHash> -> tokenHash
 *   node:<peerId>                       -> NodeRecord
 *   order:<peerId>:<createdAt>:<serial> -> DeleteOrderRecord
 *   order-serial:<peerId>:<serial>      -> the order's key (to acknowledge by serial)
 *   upload:<id>                         -> UploadRecord
 *   upload-exp:<expiresAt>:<id>         -> upload id
 *   upload-owner:<owner>:<createdAt>:<id> -> upload id
 *   useg:<uploadId>:<index>             -> UploadSegmentRecord
 *   object:<id>                         -> ObjectRecord
 *   oseg:<objectId>:<index>             -> SegmentManifest
 *   name:<owner>:<nameHash>             -> object id
 *   share:<id>                          -> ShareRecord
 *   share-owner:<owner>:<createdAt>:<id> -> share id
 *   rep:<peerId>                        -> NodeReputation
 *   apikey:<hash>                       -> ApiKeyRecord
 *   apikey-owner:<account>:<createdAt>:<id> -> hash
 *   audit:<account>:<auditId>           -> AuditRecord (ids sort by time)
 *   settle:<serial>                     -> SettlementRecord
 *   settle-time:<settledAt>:<serial>    -> serial
 *   span:<objectId>                     -> StorageSpan
 *   invoice:<account>:<period>          -> InvoiceRecord
 *   payout:<node>:<period>              -> PayoutRecord
 *   ledger:<seq>                        -> LedgerEntry (seq: posting order)
 *   meta:ledger-seq                     -> last seq
 */
type Op = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }

const pad = (n: number, width: number): string => String(n).padStart(width, '0')
const time = (ms: number): string => pad(ms, 16)
const idx = (i: number): string => pad(i, 10)

const K = {
  account: (id: string) => `account:${id}`,
  email: (email: string) => `email:${email}`,
  session: (hash: string) => `session:${hash}`,
  sessionExp: (exp: number, hash: string) => `session-exp:${time(exp)}:${hash}`,
  node: (peerId: string) => `node:${peerId}`,
  order: (o: DeleteOrderRecord) => `order:${o.node}:${time(o.createdAt)}:${o.serial}`,
  orderSerial: (node: string, serial: string) => `order-serial:${node}:${serial}`,
  upload: (id: string) => `upload:${id}`,
  uploadExp: (exp: number, id: string) => `upload-exp:${time(exp)}:${id}`,
  uploadOwner: (u: UploadRecord) => `upload-owner:${u.owner}:${time(u.createdAt)}:${u.id}`,
  useg: (uploadId: string, index: number) => `useg:${uploadId}:${idx(index)}`,
  object: (id: string) => `object:${id}`,
  oseg: (objectId: string, index: number) => `oseg:${objectId}:${idx(index)}`,
  name: (owner: string, nameHash: string) => `name:${owner}:${nameHash}`,
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
  span: (objectId: string) => `span:${objectId}`,
  // Time-ordered per object; the random tail keeps two moves of one millisecond apart.
  move: (m: PieceMove) => `move:${m.objectId}:${time(m.at)}:${toHex(randomBytes(6))}`,
  invoice: (accountId: string, period: string) => `invoice:${accountId}:${period}`,
  payout: (node: string, period: string) => `payout:${node}:${period}`,
  ledger: (seq: number) => `ledger:${pad(seq, 16)}`
}

/** Bounds of all keys that start with `prefix` (';' is the character after ':'). */
function range(prefix: string): { gte: string; lt: string } {
  if (!prefix.endsWith(':')) throw new TypeError('prefix must end with ":"')
  return { gte: prefix, lt: `${prefix.slice(0, -1)};` }
}

/** The embedded store: one LevelDB folder, one process. */
export class LevelStore implements Store {
  readonly #location: string
  readonly #locks = new KeyedMutex()
  readonly #buckets = new MemoryBuckets()
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>()
  #db: Level<string, unknown> | undefined

  constructor(init: LevelStoreInit) {
    this.#location = init.location
  }

  async open(): Promise<void> {
    if (this.#db !== undefined) return
    const db = new Level<string, unknown>(this.#location, { valueEncoding: 'json' })
    await db.open()
    const schema = await db.get('meta:schema')
    if (schema === undefined) {
      await db.put('meta:schema', SCHEMA_VERSION)
    } else if (schema === 1) {
      await migrateFrom1(db)
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
    await this.#locks.drain()
    this.#db = undefined
    await db.close()
  }

  get #level(): Level<string, unknown> {
    if (this.#db === undefined) throw new ShoalError(ErrorCode.INTERNAL, 'store is not open')
    return this.#db
  }

  async #get<T>(key: string): Promise<T | undefined> {
    return (await this.#level.get(key)) as T | undefined
  }

  async #values<T>(prefix: string, limit = -1): Promise<T[]> {
    return (await this.#level.values({ ...range(prefix), limit }).all()) as T[]
  }

  async #batch(ops: Op[]): Promise<void> {
    if (ops.length > 0) await this.#level.batch(ops)
  }

  // Accounts and sessions

  createAccount(account: AccountRecord): Promise<void> {
    return this.#locks.run(K.email(account.email), async () => {
      if ((await this.#get(K.email(account.email))) !== undefined) {
        throw new ShoalError(ErrorCode.ACCOUNT_EXISTS, 'an account with this email already exists')
      }
      await this.#batch([
        { type: 'put', key: K.account(account.id), value: account },
        { type: 'put', key: K.email(account.email), value: account.id }
      ])
    })
  }

  getAccount(id: string): Promise<AccountRecord | undefined> {
    return this.#get(K.account(id))
  }

  async getAccountByEmail(email: string): Promise<AccountRecord | undefined> {
    const id = await this.#get<string>(K.email(email))
    return id === undefined ? undefined : this.getAccount(id)
  }

  async putSession(session: SessionRecord): Promise<void> {
    await this.#batch([
      { type: 'put', key: K.session(session.tokenHash), value: session },
      { type: 'put', key: K.sessionExp(session.expiresAt, session.tokenHash), value: session.tokenHash }
    ])
  }

  getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#get(K.session(tokenHash))
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const entries = await this.#level.iterator({ gte: 'session-exp:', lte: K.sessionExp(now, '~') }).all()
    const ops: Op[] = []
    for (const [key, hash] of entries) {
      ops.push({ type: 'del', key }, { type: 'del', key: K.session(hash as string) })
    }
    await this.#batch(ops)
    return entries.length
  }

  async deleteSessions(which: { tokenHash: string } | { accountId: string }): Promise<number> {
    // No index by account: a full walk, which is fine for the one process a level store serves.
    const sessions =
      'tokenHash' in which
        ? [await this.getSession(which.tokenHash)].filter((s): s is SessionRecord => s !== undefined)
        : ((await this.#values<SessionRecord>('session:')) as SessionRecord[]).filter(
            (s) => s.accountId === which.accountId
          )
    await this.#batch(
      sessions.flatMap((s): Op[] => [
        { type: 'del', key: K.session(s.tokenHash) },
        { type: 'del', key: K.sessionExp(s.expiresAt, s.tokenHash) }
      ])
    )
    return sessions.length
  }

  // Nodes and delete orders

  recordHeartbeat(node: NodeRecord, acknowledged: readonly string[]): Promise<boolean> {
    return this.#locks.run(K.node(node.peerId), async () => {
      const previous = await this.#get<NodeRecord>(K.node(node.peerId))
      if (previous !== undefined && node.lastAt <= previous.lastAt) return false
      const ops: Op[] = [{ type: 'put', key: K.node(node.peerId), value: node }]
      const serialKeys = acknowledged.map((serial) => K.orderSerial(node.peerId, serial))
      const orderKeys = serialKeys.length === 0 ? [] : await this.#level.getMany(serialKeys)
      serialKeys.forEach((serialKey, i) => {
        const orderKey = orderKeys[i]
        if (typeof orderKey !== 'string') return
        ops.push({ type: 'del', key: serialKey }, { type: 'del', key: orderKey })
      })
      await this.#batch(ops)
      return true
    })
  }

  getNode(peerId: string): Promise<NodeRecord | undefined> {
    return this.#get(K.node(peerId))
  }

  listNodes(): Promise<NodeRecord[]> {
    return this.#values('node:')
  }

  listDeleteOrders(node: string, limit: number): Promise<DeleteOrderRecord[]> {
    return this.#values(`order:${node}:`, limit)
  }

  #queue(ops: Op[], deletes: readonly DeleteOrderRecord[]): void {
    for (const order of deletes) {
      const key = K.order(order)
      ops.push(
        { type: 'put', key, value: order },
        { type: 'put', key: K.orderSerial(order.node, order.serial), value: key }
      )
    }
  }

  // Uploads

  beginUpload(upload: UploadRecord): Promise<void> {
    return this.#locks.run(K.account(upload.owner), async () => {
      const account = await this.#get<AccountRecord>(K.account(upload.owner))
      if (account === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
      const used = account.used + account.reserved
      if (used + upload.size > account.quota) {
        throw new ShoalError(ErrorCode.QUOTA_EXCEEDED, 'this upload would exceed the account quota', {
          details: { quota: account.quota, used, size: upload.size }
        })
      }
      await this.#batch([
        { type: 'put', key: K.account(account.id), value: { ...account, reserved: account.reserved + upload.size } },
        { type: 'put', key: K.upload(upload.id), value: upload },
        { type: 'put', key: K.uploadExp(upload.expiresAt, upload.id), value: upload.id },
        { type: 'put', key: K.uploadOwner(upload), value: upload.id }
      ])
    })
  }

  getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.#get(K.upload(id))
  }

  async listUploads(owner: string): Promise<UploadRecord[]> {
    const ids = await this.#values<string>(`upload-owner:${owner}:`)
    const uploads = await this.#level.getMany(ids.map(K.upload))
    return uploads.filter((u): u is UploadRecord => u !== undefined)
  }

  async listExpiredUploads(now: number, limit: number): Promise<UploadRecord[]> {
    const ids = (await this.#level.values({ gte: 'upload-exp:', lte: K.uploadExp(now, '~'), limit }).all()) as string[]
    const uploads = await this.#level.getMany(ids.map(K.upload))
    return uploads.filter((u): u is UploadRecord => u !== undefined)
  }

  getUploadSegment(uploadId: string, index: number): Promise<UploadSegmentRecord | undefined> {
    return this.#get(K.useg(uploadId, index))
  }

  listUploadSegments(uploadId: string): Promise<UploadSegmentRecord[]> {
    return this.#values(`useg:${uploadId}:`)
  }

  /** Runs `fn` under the lock of the upload's owner, with the upload re-read inside the lock. */
  async #withUpload<T>(uploadId: string, fn: (upload: UploadRecord) => Promise<T>): Promise<T> {
    const notFound = () => uploadNotFound(uploadId)
    const first = await this.getUpload(uploadId)
    if (first === undefined) throw notFound()
    return this.#locks.run(K.account(first.owner), async () => {
      const upload = await this.getUpload(uploadId)
      if (upload === undefined) throw notFound()
      return fn(upload)
    })
  }

  placeSegment(uploadId: string, segment: UploadSegmentRecord): Promise<void> {
    return this.#withUpload(uploadId, async () => {
      await this.#batch([{ type: 'put', key: K.useg(uploadId, segment.index), value: segment }])
    })
  }

  commitSegment(
    uploadId: string,
    index: number,
    placementId: string,
    pieces: PiecePlacement[]
  ): Promise<{ pieces: PiecePlacement[]; already: boolean }> {
    return this.#withUpload(uploadId, async () => {
      const segment = await this.getUploadSegment(uploadId, index)
      if (segment === undefined || segment.placement.id !== placementId) {
        throw new ShoalError(ErrorCode.CONFLICT, `segment ${index} was placed again while it was being committed`)
      }
      if (segment.committed !== undefined) return { pieces: segment.committed, already: true }
      await this.#batch([{ type: 'put', key: K.useg(uploadId, index), value: { ...segment, committed: pieces } }])
      return { pieces, already: false }
    })
  }

  commitUpload(commit: UploadCommit): Promise<void> {
    return this.#withUpload(commit.uploadId, async (upload) => {
      const { object } = commit
      const account = await this.#get<AccountRecord>(K.account(upload.owner))
      if (account === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
      const current = await this.#get<string>(K.name(upload.owner, object.nameHash))
      if (current !== commit.replaces) {
        throw new ShoalError(ErrorCode.CONFLICT, 'another object took this name while the upload was committing')
      }
      const ops: Op[] = []
      let used = account.used + object.size
      let objects = account.objects + 1
      if (commit.replaces !== undefined) {
        const old = await this.#get<ObjectRecord>(K.object(commit.replaces))
        if (old !== undefined) {
          used -= old.size
          objects -= 1
          ops.push(...(await this.#objectRemoval(old)), ...(await this.#endSpan(old.id, object.createdAt)))
        }
      }
      ops.push(
        this.#startSpan(object, commit.nodeBytes),
        {
          type: 'put',
          key: K.account(account.id),
          value: { ...account, used, objects, reserved: account.reserved - upload.size }
        },
        { type: 'put', key: K.object(object.id), value: object },
        { type: 'put', key: K.name(object.owner, object.nameHash), value: object.id },
        ...commit.segments.map((s): Op => ({ type: 'put', key: K.oseg(object.id, s.index), value: s })),
        ...(await this.#uploadRemoval(upload))
      )
      this.#queue(ops, commit.deletes)
      await this.#batch(ops)
    })
  }

  abortUpload(uploadId: string, deletes: readonly DeleteOrderRecord[]): Promise<void> {
    return this.#withUpload(uploadId, async (upload) => {
      const ops = await this.#uploadRemoval(upload)
      const account = await this.#get<AccountRecord>(K.account(upload.owner))
      if (account !== undefined) {
        ops.push({
          type: 'put',
          key: K.account(account.id),
          value: { ...account, reserved: account.reserved - upload.size }
        })
      }
      this.#queue(ops, deletes)
      await this.#batch(ops)
    })
  }

  async #uploadRemoval(upload: UploadRecord): Promise<Op[]> {
    const segmentKeys = await this.#level.keys(range(`useg:${upload.id}:`)).all()
    return [
      { type: 'del', key: K.upload(upload.id) },
      { type: 'del', key: K.uploadExp(upload.expiresAt, upload.id) },
      { type: 'del', key: K.uploadOwner(upload) },
      ...segmentKeys.map((key): Op => ({ type: 'del', key }))
    ]
  }

  // Objects

  getObject(id: string): Promise<ObjectRecord | undefined> {
    return this.#get(K.object(id))
  }

  async getObjectByName(owner: string, nameHash: string): Promise<ObjectRecord | undefined> {
    const id = await this.#get<string>(K.name(owner, nameHash))
    return id === undefined ? undefined : this.getObject(id)
  }

  async listObjects(owner: string): Promise<ObjectRecord[]> {
    const ids = await this.#values<string>(`name:${owner}:`)
    const objects = await this.#level.getMany(ids.map(K.object))
    return objects.filter((o): o is ObjectRecord => o !== undefined)
  }

  getObjectSegments(objectId: string, from: number, to: number): Promise<SegmentManifest[]> {
    if (to <= from) return Promise.resolve([])
    return this.#level.values({ gte: K.oseg(objectId, from), lt: K.oseg(objectId, to) }).all() as Promise<
      SegmentManifest[]
    >
  }

  async getObjectWithSegments(
    objectId: string,
    from: number,
    to: number
  ): Promise<{ object: ObjectRecord; segments: SegmentManifest[] } | undefined> {
    const [object, segments] = await Promise.all([this.getObject(objectId), this.getObjectSegments(objectId, from, to)])
    return object === undefined ? undefined : { object, segments }
  }

  async deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[], at = Date.now()): Promise<void> {
    const notFound = () => objectNotFound(objectId)
    const first = await this.getObject(objectId)
    if (first === undefined) throw notFound()
    await this.#locks.run(K.account(first.owner), async () => {
      const object = await this.getObject(objectId)
      if (object === undefined) throw notFound()
      const ops = [...(await this.#objectRemoval(object)), ...(await this.#endSpan(object.id, at))]
      const account = await this.#get<AccountRecord>(K.account(object.owner))
      if (account !== undefined) {
        ops.push({
          type: 'put',
          key: K.account(account.id),
          value: { ...account, used: account.used - object.size, objects: account.objects - 1 }
        })
      }
      this.#queue(ops, deletes)
      await this.#batch(ops)
    })
  }

  // Audits and repair

  async listSegments(after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]> {
    const bounds = range('oseg:')
    const from = after === undefined ? { gte: bounds.gte } : { gt: K.oseg(after.objectId, after.index) }
    const entries = await this.#level.iterator({ ...from, lt: bounds.lt, limit }).all()
    return entries.map(([key, value]) => ({
      objectId: key.slice('oseg:'.length, key.lastIndexOf(':')),
      segment: value as SegmentManifest
    }))
  }

  async updateSegmentPieces(
    key: SegmentKey,
    expected: readonly PiecePlacement[],
    pieces: readonly PiecePlacement[],
    deletes: readonly DeleteOrderRecord[],
    at = Date.now()
  ): Promise<boolean> {
    const notFound = () => segmentNotFound(key)
    const first = await this.getObject(key.objectId)
    if (first === undefined) throw notFound()
    return this.#locks.run(K.account(first.owner), async () => {
      const segment = await this.#get<SegmentManifest>(K.oseg(key.objectId, key.index))
      if (segment === undefined || (await this.getObject(key.objectId)) === undefined) throw notFound()
      if (!samePieces(segment.pieces, expected)) return false
      const object = (await this.getObject(key.objectId)) as ObjectRecord
      const ops: Op[] = [{ type: 'put', key: K.oseg(key.objectId, key.index), value: { ...segment, pieces } }]
      for (const move of pieceMoves(key.objectId, at, expected, pieces, pieceSize(object, key.index))) {
        ops.push({ type: 'put', key: K.move(move), value: move })
      }
      this.#queue(ops, deletes)
      await this.#batch(ops)
      return true
    })
  }

  async queueDeletes(deletes: readonly DeleteOrderRecord[]): Promise<void> {
    const ops: Op[] = []
    this.#queue(ops, deletes)
    await this.#batch(ops)
  }

  getReputation(peerId: string): Promise<NodeReputation | undefined> {
    return this.#get(K.rep(peerId))
  }

  listReputations(): Promise<NodeReputation[]> {
    return this.#values('rep:')
  }

  putReputation(record: NodeReputation): Promise<boolean> {
    return this.#locks.run(K.rep(record.peerId), async () => {
      const current = await this.#get<NodeReputation>(K.rep(record.peerId))
      if ((current?.version ?? 0) !== record.version - 1) return false
      await this.#batch([{ type: 'put', key: K.rep(record.peerId), value: record }])
      return true
    })
  }

  async renameObject(objectId: string, nameHash: string, meta: string): Promise<ObjectRecord> {
    const notFound = () => objectNotFound(objectId)
    const first = await this.getObject(objectId)
    if (first === undefined) throw notFound()
    return this.#locks.run(K.account(first.owner), async () => {
      const object = await this.getObject(objectId)
      if (object === undefined) throw notFound()
      const holder = await this.#get<string>(K.name(object.owner, nameHash))
      if (holder !== undefined && holder !== object.id) {
        throw new ShoalError(ErrorCode.CONFLICT, 'another file already has this name')
      }
      const renamed: ObjectRecord = { ...object, nameHash, meta }
      const ops: Op[] = []
      if ((await this.#get(K.name(object.owner, object.nameHash))) === object.id) {
        ops.push({ type: 'del', key: K.name(object.owner, object.nameHash) })
      }
      ops.push(
        { type: 'put', key: K.name(object.owner, nameHash), value: object.id },
        { type: 'put', key: K.object(object.id), value: renamed }
      )
      await this.#batch(ops)
      return renamed
    })
  }

  // Shares

  async createShare(share: ShareRecord): Promise<void> {
    await this.#batch([
      { type: 'put', key: K.share(share.id), value: share },
      { type: 'put', key: K.shareOwner(share), value: share.id }
    ])
  }

  getShare(id: string): Promise<ShareRecord | undefined> {
    return this.#get(K.share(id))
  }

  async listShares(owner: string): Promise<ShareRecord[]> {
    const ids = await this.#level.values({ ...range(`share-owner:${owner}:`), reverse: true }).all()
    const shares = await this.#level.getMany((ids as string[]).map(K.share))
    return shares.filter((s): s is ShareRecord => s !== undefined)
  }

  revokeShare(id: string, at: number): Promise<ShareRecord> {
    return this.#locks.run(K.share(id), async () => {
      const share = await this.getShare(id)
      if (share === undefined) throw shareNotFound(id)
      if (share.revokedAt !== undefined) return share
      const revoked = { ...share, revokedAt: at }
      await this.#batch([{ type: 'put', key: K.share(id), value: revoked }])
      return revoked
    })
  }

  // Plans, API keys, audit log, metering, ledger

  changePlan(accountId: string, plan: string, quota: number, audit: AuditRecord): Promise<AccountRecord> {
    return this.#locks.run(K.account(accountId), async () => {
      const account = await this.#get<AccountRecord>(K.account(accountId))
      if (account === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
      const used = account.used + account.reserved
      if (used > quota) {
        throw new ShoalError(ErrorCode.QUOTA_EXCEEDED, `the account stores more than the ${plan} plan's quota`, {
          details: { quota, used }
        })
      }
      const updated = { ...account, plan, quota }
      const change: PlanChange = {
        accountId,
        at: audit.at,
        ...(account.plan === undefined ? {} : { from: account.plan }),
        to: plan
      }
      await this.#batch([
        { type: 'put', key: K.account(accountId), value: updated },
        { type: 'put', key: K.audit(audit), value: audit },
        { type: 'put', key: K.planChange(accountId, audit), value: change }
      ])
      return updated
    })
  }

  async listPieceMoves(objectIds: readonly string[]): Promise<PieceMove[]> {
    const out: PieceMove[] = []
    for (const id of new Set(objectIds)) out.push(...(await this.#values<PieceMove>(`move:${id}:`)))
    return out.sort((a, b) => a.at - b.at)
  }

  async listPlanChanges(accountId: string, before: number): Promise<PlanChange[]> {
    const changes = await this.#values<PlanChange>(`planchange:${accountId}:`)
    return changes.filter((c) => c.at < before).sort((a, b) => a.at - b.at)
  }

  async createApiKey(key: ApiKeyRecord, audit: AuditRecord): Promise<void> {
    await this.#batch([
      { type: 'put', key: K.apiKey(key.hash), value: key },
      { type: 'put', key: K.apiKeyOwner(key), value: key.hash },
      { type: 'put', key: K.audit(audit), value: audit }
    ])
  }

  getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#get(K.apiKey(hash))
  }

  async listApiKeys(accountId: string): Promise<ApiKeyRecord[]> {
    const hashes = await this.#values<string>(`apikey-owner:${accountId}:`)
    const keys = await this.#level.getMany(hashes.map(K.apiKey))
    return keys.filter((k): k is ApiKeyRecord => k !== undefined)
  }

  revokeApiKey(accountId: string, id: string, at: number, audit: AuditRecord): Promise<boolean> {
    return this.#locks.run(K.account(accountId), async () => {
      const key = (await this.listApiKeys(accountId)).find((k) => k.id === id)
      if (key === undefined || key.revokedAt !== undefined) return false
      await this.#batch([
        { type: 'put', key: K.apiKey(key.hash), value: { ...key, revokedAt: at } },
        { type: 'put', key: K.audit(audit), value: audit }
      ])
      return true
    })
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    await this.#batch([{ type: 'put', key: K.audit(record), value: record }])
  }

  async listAudit(accountId: string, limit: number): Promise<AuditRecord[]> {
    return (await this.#level.values({ ...range(`audit:${accountId}:`), reverse: true, limit }).all()) as AuditRecord[]
  }

  settle(records: readonly SettlementRecord[]): Promise<string[]> {
    return this.#locks.run('money:settle', async () => {
      const existing = await this.#level.getMany(records.map((r) => K.settlement(r.serial)))
      const fresh = new Map<string, SettlementRecord>()
      records.forEach((r, i) => {
        if (existing[i] === undefined && !fresh.has(r.serial)) fresh.set(r.serial, r)
      })
      const ops: Op[] = []
      for (const r of fresh.values()) {
        ops.push(
          { type: 'put', key: K.settlement(r.serial), value: r },
          { type: 'put', key: K.settlementTime(r), value: r.serial }
        )
      }
      await this.#batch(ops)
      return [...fresh.keys()]
    })
  }

  async listSettlements(filter: {
    account?: string
    node?: string
    from: number
    to: number
  }): Promise<SettlementRecord[]> {
    const serials = (await this.#level
      .values({ gte: `settle-time:${time(filter.from)}:`, lt: `settle-time:${time(filter.to)}:` })
      .all()) as string[]
    const records = (await this.#level.getMany(serials.map(K.settlement))) as (SettlementRecord | undefined)[]
    return records.filter(
      (r): r is SettlementRecord =>
        r !== undefined &&
        (filter.account === undefined || r.account === filter.account) &&
        (filter.node === undefined || r.node === filter.node)
    )
  }

  async listStorageSpans(filter: { account?: string; from: number; to: number }): Promise<StorageSpan[]> {
    const spans = await this.#values<StorageSpan>('span:')
    return spans.filter(
      (s) =>
        (filter.account === undefined || s.account === filter.account) &&
        s.from < filter.to &&
        (s.to === undefined || s.to > filter.from)
    )
  }

  #startSpan(object: ObjectRecord, nodes: Record<string, number> = {}): Op {
    const span: StorageSpan = {
      objectId: object.id,
      account: object.owner,
      size: object.size,
      nodes,
      from: object.createdAt
    }
    return { type: 'put', key: K.span(object.id), value: span }
  }

  async #endSpan(objectId: string, at: number): Promise<Op[]> {
    const span = await this.#get<StorageSpan>(K.span(objectId))
    if (span === undefined || span.to !== undefined) return []
    return [{ type: 'put', key: K.span(objectId), value: { ...span, to: Math.max(at, span.from) } }]
  }

  /** Ledger entries get consecutive sequence numbers under the money lock, so their order is posting order. */
  async #post(ops: Op[], entries: readonly LedgerEntry[]): Promise<void> {
    let seq = ((await this.#get<number>('meta:ledger-seq')) ?? 0) as number
    for (const entry of entries) ops.push({ type: 'put', key: K.ledger(++seq), value: entry })
    ops.push({ type: 'put', key: 'meta:ledger-seq', value: seq })
  }

  closeInvoice(invoice: InvoiceRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#locks.run('money:ledger', async () => {
      const key = K.invoice(invoice.accountId, invoice.period)
      if ((await this.#get(key)) !== undefined) return false
      const ops: Op[] = [{ type: 'put', key, value: invoice }]
      await this.#post(ops, entries)
      await this.#batch(ops)
      return true
    })
  }

  getInvoice(accountId: string, period: string): Promise<InvoiceRecord | undefined> {
    return this.#get(K.invoice(accountId, period))
  }

  listInvoices(accountId: string): Promise<InvoiceRecord[]> {
    return this.#values(`invoice:${accountId}:`)
  }

  closePayout(payout: PayoutRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#locks.run('money:ledger', async () => {
      const key = K.payout(payout.node, payout.period)
      if ((await this.#get(key)) !== undefined) return false
      const ops: Op[] = [{ type: 'put', key, value: payout }]
      await this.#post(ops, entries)
      await this.#batch(ops)
      return true
    })
  }

  listPayouts(node: string): Promise<PayoutRecord[]> {
    return this.#values(`payout:${node}:`)
  }

  async listLedger(prefix = ''): Promise<LedgerEntry[]> {
    const entries = await this.#values<LedgerEntry>('ledger:')
    return entries.filter((e) => e.ledger.startsWith(prefix))
  }

  // Rate limits: one process owns a level database, so its buckets can stay in memory (a restart refills them).

  async takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number> {
    return this.#buckets.take(keys, now)
  }

  // Leases: in memory for the same reason (one process; the holder is always this process's own).

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    const lease = this.#leases.get(name)
    if (lease !== undefined && lease.holder !== holder && lease.expiresAt > now) return false
    this.#leases.set(name, { holder, expiresAt: now + ttlMs })
    return true
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.#leases.get(name)?.holder === holder) this.#leases.delete(name)
  }

  async #objectRemoval(object: ObjectRecord): Promise<Op[]> {
    const segmentKeys = await this.#level.keys(range(`oseg:${object.id}:`)).all()
    const ops: Op[] = [
      { type: 'del', key: K.object(object.id) },
      ...segmentKeys.map((key): Op => ({ type: 'del', key }))
    ]
    // Only unlink the name if it still points here (it always does while objects are replaced under the lock).
    if ((await this.#get(K.name(object.owner, object.nameHash))) === object.id) {
      ops.push({ type: 'del', key: K.name(object.owner, object.nameHash) })
    }
    return ops
  }
}

/** Schema 1 → 2: index the uploads in progress by owner, in one batch with the new schema number. */
async function migrateFrom1(db: Level<string, unknown>): Promise<void> {
  const uploads = (await db.values(range('upload:')).all()) as UploadRecord[]
  await db.batch([
    ...uploads.map((u): Op => ({ type: 'put', key: K.uploadOwner(u), value: u.id })),
    { type: 'put', key: 'meta:schema', value: SCHEMA_VERSION }
  ])
}
