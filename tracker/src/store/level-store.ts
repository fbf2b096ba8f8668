import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import { ErrorCode, ShoalError } from '@shoal/core'
import { Level } from 'level'
import { KeyedMutex } from './keyed-mutex.ts'
import type {
  AccountRecord,
  DeleteOrderRecord,
  NodeRecord,
  ObjectRecord,
  SessionRecord,
  Store,
  UploadCommit,
  UploadRecord,
  UploadSegmentRecord
} from './store.ts'

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
  name: (owner: string, nameHash: string) => `name:${owner}:${nameHash}`
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
    const notFound = () => new ShoalError(ErrorCode.UPLOAD_NOT_FOUND, `upload ${uploadId} does not exist`)
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
          ops.push(...(await this.#objectRemoval(old)))
        }
      }
      ops.push(
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

  async deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[]): Promise<void> {
    const notFound = () => new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `object ${objectId} does not exist`)
    const first = await this.getObject(objectId)
    if (first === undefined) throw notFound()
    await this.#locks.run(K.account(first.owner), async () => {
      const object = await this.getObject(objectId)
      if (object === undefined) throw notFound()
      const ops = await this.#objectRemoval(object)
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
