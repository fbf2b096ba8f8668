import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import { ErrorCode, pieceSize, ShoalError } from '@shoal/core'
import pg from 'pg'
import { type BucketKey, MAX_BUCKET_IDLE_MS, takeTokens } from '../../rate-limit.ts'
import { pieceMoves } from '../money-records.ts'
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
} from '../store.ts'
import { objectNotFound, samePieces, segmentNotFound, shareNotFound, uploadNotFound } from '../store.ts'
import { checkSchema, migrate } from './migrate.ts'

export interface PgStoreInit {
  /** postgres://user@host:port/database */
  url: string
  /** Pool size per process; default 10. */
  maxConnections?: number
  /**
   * Apply missing migrations on open (tests, the single-process default). Off, open() refuses a database that
   * is not at this code's schema and names the migrate command.
   */
  migrate?: boolean
}

const INT8_OID = 20
const NUMERIC_OID = 1700

/**
 * bigint columns hold milliseconds, bytes and micro-units, all far below 2^53: read them as numbers, and fail
 * loudly rather than round if one ever is not.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) {
      return (text: string) => {
        const n = Number(text)
        if (!Number.isSafeInteger(n)) throw new RangeError(`database value ${text} is not a safe integer`)
        return n
      }
    }
    return pg.types.getTypeParser(oid, format ?? 'text')
  }
} as unknown as pg.CustomTypesConfig

/** Names of prepared statements by their SQL (a fixed set: the store's own statements). */
const statementNames = new Map<string, string>()

/** Transient failures that a retried transaction is expected to get past. */
const RETRYABLE = new Set(['40001', '40P01'])
const MAX_ATTEMPTS = 5
/** How often (per process) idle rate-limit buckets are deleted. */
const BUCKET_SWEEP_MS = 60_000

type Db = pg.PoolClient

interface AccountRow {
  id: string
  email: string
  auth_salt: string
  auth_hash: string
  wrapped_master_key: string
  quota: number
  used: number
  reserved: number
  objects: number
  created_at: number
  plan: string | null
}

function toAccount(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    email: row.email,
    authSalt: row.auth_salt,
    authHash: row.auth_hash,
    wrappedMasterKey: row.wrapped_master_key,
    quota: row.quota,
    used: row.used,
    reserved: row.reserved,
    objects: row.objects,
    createdAt: row.created_at,
    ...(row.plan === null ? {} : { plan: row.plan })
  }
}

/**
 * The shared store: one PostgreSQL database that several tracker processes use at once. Every method is one
 * transaction (READ COMMITTED) that locks the rows its decision depends on with SELECT ... FOR UPDATE, always in
 * the order account → upload → object, so two trackers serialize on the same account and never deadlock.
 * Uniqueness (emails, names) is the database's own constraints; heartbeat order is one conditional upsert.
 */
export class PgStore implements Store {
  readonly #init: PgStoreInit
  #pool: pg.Pool | undefined
  #opening: Promise<void> | undefined
  readonly #inFlight = new Set<Promise<unknown>>()
  #bucketsSweptAt = 0

  constructor(init: PgStoreInit) {
    this.#init = init
  }

  /** Where it connects, without a password, for messages. */
  get where(): string {
    return redact(this.#init.url)
  }

  open(): Promise<void> {
    if (this.#pool !== undefined) return Promise.resolve()
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined
    })
    return this.#opening
  }

  async #open(): Promise<void> {
    const pool = new pg.Pool({
      connectionString: this.#init.url,
      max: this.#init.maxConnections ?? 10,
      types,
      connectionTimeoutMillis: 10_000
    })
    // An idle client losing its connection (the server restarted) must not crash the process: the pool drops it.
    pool.on('error', () => undefined)
    try {
      if (this.#init.migrate === true) await migrate(pool)
      else await checkSchema(pool, this.where)
    } catch (err) {
      await pool.end()
      throw connectionError(err, this.where)
    }
    this.#pool = pool
  }

  async close(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined)
    const pool = this.#pool
    if (pool === undefined) return
    this.#pool = undefined
    await Promise.allSettled([...this.#inFlight])
    await pool.end()
  }

  get #db(): pg.Pool {
    if (this.#pool === undefined) throw new ShoalError(ErrorCode.INTERNAL, 'store is not open')
    return this.#pool
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise)
    const forget = () => this.#inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  /**
   * Single statements outside transactions run as named prepared statements: each connection plans them once,
   * not on every request (the grant path is a few such reads per request).
   */
  async #query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    let name = statementNames.get(sql)
    if (name === undefined) {
      name = `shoal_${statementNames.size}`
      statementNames.set(sql, name)
    }
    return (await this.#track(this.#db.query<R>({ name, text: sql, values: params }))).rows
  }

  /** Runs `fn` in one transaction, retried from the start on a serialization failure or deadlock. */
  #tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.#track(this.#runTx(fn))
  }

  async #runTx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const client = await this.#db.connect()
    try {
      for (let attempt = 1; ; attempt++) {
        await client.query('BEGIN')
        try {
          const result = await fn(client)
          await client.query('COMMIT')
          return result
        } catch (err) {
          await client.query('ROLLBACK')
          const code = (err as { code?: unknown }).code
          if (typeof code === 'string' && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue
          throw err
        }
      }
    } finally {
      client.release()
    }
  }

  // Accounts and sessions

  async createAccount(a: AccountRecord): Promise<void> {
    try {
      await this.#query(
        `INSERT INTO accounts (id, email, auth_salt, auth_hash, wrapped_master_key, quota, used, reserved, objects,
           created_at, plan) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          a.id,
          a.email,
          a.authSalt,
          a.authHash,
          a.wrappedMasterKey,
          a.quota,
          a.used,
          a.reserved,
          a.objects,
          a.createdAt,
          a.plan ?? null
        ]
      )
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505') {
        throw new ShoalError(ErrorCode.ACCOUNT_EXISTS, 'an account with this email already exists')
      }
      throw err
    }
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const [row] = await this.#query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id])
    return row === undefined ? undefined : toAccount(row)
  }

  async getAccountByEmail(email: string): Promise<AccountRecord | undefined> {
    const [row] = await this.#query<AccountRow>('SELECT * FROM accounts WHERE email = $1', [email])
    return row === undefined ? undefined : toAccount(row)
  }

  async putSession(s: SessionRecord): Promise<void> {
    await this.#query(
      `INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO UPDATE SET account_id = EXCLUDED.account_id, created_at = EXCLUDED.created_at,
         expires_at = EXCLUDED.expires_at`,
      [s.tokenHash, s.accountId, s.createdAt, s.expiresAt]
    )
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    const [row] = await this.#query<{ token_hash: string; account_id: string; created_at: number; expires_at: number }>(
      'SELECT * FROM sessions WHERE token_hash = $1',
      [tokenHash]
    )
    return row === undefined
      ? undefined
      : { tokenHash: row.token_hash, accountId: row.account_id, createdAt: row.created_at, expiresAt: row.expires_at }
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const result = await this.#track(this.#db.query('DELETE FROM sessions WHERE expires_at <= $1', [now]))
    return result.rowCount ?? 0
  }

  async deleteSessions(which: { tokenHash: string } | { accountId: string }): Promise<number> {
    const rows =
      'tokenHash' in which
        ? await this.#query<{ token_hash: string }>('DELETE FROM sessions WHERE token_hash = $1 RETURNING token_hash', [
            which.tokenHash
          ])
        : await this.#query<{ token_hash: string }>('DELETE FROM sessions WHERE account_id = $1 RETURNING token_hash', [
            which.accountId
          ])
    return rows.length
  }

  // Nodes and delete orders

  recordHeartbeat(node: NodeRecord, acknowledged: readonly string[]): Promise<boolean> {
    return this.#tx(async (db) => {
      // One conditional upsert: the row lock it takes makes the "newer than the last" check exact under races.
      const accepted = await db.query(
        `INSERT INTO nodes (peer_id, last_at, record) VALUES ($1, $2, $3)
         ON CONFLICT (peer_id) DO UPDATE SET last_at = EXCLUDED.last_at, record = EXCLUDED.record
         WHERE nodes.last_at < EXCLUDED.last_at`,
        [node.peerId, node.lastAt, JSON.stringify(node)]
      )
      if (accepted.rowCount !== 1) return false
      if (acknowledged.length > 0) {
        await db.query('DELETE FROM delete_orders WHERE node = $1 AND serial = ANY($2::text[])', [
          node.peerId,
          acknowledged
        ])
      }
      return true
    })
  }

  async getNode(peerId: string): Promise<NodeRecord | undefined> {
    const [row] = await this.#query<{ record: NodeRecord }>('SELECT record FROM nodes WHERE peer_id = $1', [peerId])
    return row?.record
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.#query<{ record: NodeRecord }>('SELECT record FROM nodes ORDER BY peer_id')).map((r) => r.record)
  }

  async listDeleteOrders(node: string, limit: number): Promise<DeleteOrderRecord[]> {
    const rows = await this.#query<{ record: DeleteOrderRecord }>(
      'SELECT record FROM delete_orders WHERE node = $1 ORDER BY created_at, serial LIMIT $2',
      [node, limit]
    )
    return rows.map((r) => r.record)
  }

  async #queue(db: Db, deletes: readonly DeleteOrderRecord[]): Promise<void> {
    if (deletes.length === 0) return
    await db.query(
      `INSERT INTO delete_orders (node, serial, created_at, record)
       SELECT e->>'node', e->>'serial', (e->>'createdAt')::bigint, e FROM jsonb_array_elements($1::jsonb) AS e
       ON CONFLICT (node, serial) DO NOTHING`,
      [JSON.stringify(deletes)]
    )
  }

  // Uploads

  beginUpload(upload: UploadRecord): Promise<void> {
    return this.#tx(async (db) => {
      const account = await lockAccount(db, upload.owner)
      if (account === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
      const used = account.used + account.reserved
      if (used + upload.size > account.quota) {
        throw new ShoalError(ErrorCode.QUOTA_EXCEEDED, 'this upload would exceed the account quota', {
          details: { quota: account.quota, used, size: upload.size }
        })
      }
      await db.query('UPDATE accounts SET reserved = reserved + $2 WHERE id = $1', [account.id, upload.size])
      await db.query('INSERT INTO uploads (id, owner, created_at, expires_at, record) VALUES ($1, $2, $3, $4, $5)', [
        upload.id,
        upload.owner,
        upload.createdAt,
        upload.expiresAt,
        JSON.stringify(upload)
      ])
    })
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const [row] = await this.#query<{ record: UploadRecord }>('SELECT record FROM uploads WHERE id = $1', [id])
    return row?.record
  }

  async listUploads(owner: string): Promise<UploadRecord[]> {
    const rows = await this.#query<{ record: UploadRecord }>(
      'SELECT record FROM uploads WHERE owner = $1 ORDER BY created_at, id',
      [owner]
    )
    return rows.map((r) => r.record)
  }

  async listExpiredUploads(now: number, limit: number): Promise<UploadRecord[]> {
    const rows = await this.#query<{ record: UploadRecord }>(
      'SELECT record FROM uploads WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2',
      [now, limit]
    )
    return rows.map((r) => r.record)
  }

  async getUploadSegment(uploadId: string, index: number): Promise<UploadSegmentRecord | undefined> {
    const [row] = await this.#query<{ record: UploadSegmentRecord }>(
      'SELECT record FROM upload_segments WHERE upload_id = $1 AND idx = $2',
      [uploadId, index]
    )
    return row?.record
  }

  async listUploadSegments(uploadId: string): Promise<UploadSegmentRecord[]> {
    const rows = await this.#query<{ record: UploadSegmentRecord }>(
      'SELECT record FROM upload_segments WHERE upload_id = $1 ORDER BY idx',
      [uploadId]
    )
    return rows.map((r) => r.record)
  }

  placeSegment(uploadId: string, segment: UploadSegmentRecord): Promise<void> {
    return this.#tx(async (db) => {
      await lockUpload(db, uploadId)
      await db.query(
        `INSERT INTO upload_segments (upload_id, idx, record) VALUES ($1, $2, $3)
         ON CONFLICT (upload_id, idx) DO UPDATE SET record = EXCLUDED.record`,
        [uploadId, segment.index, JSON.stringify(segment)]
      )
    })
  }

  commitSegment(
    uploadId: string,
    index: number,
    placementId: string,
    pieces: PiecePlacement[]
  ): Promise<{ pieces: PiecePlacement[]; already: boolean }> {
    return this.#tx(async (db) => {
      await lockUpload(db, uploadId)
      const { rows } = await db.query<{ record: UploadSegmentRecord }>(
        'SELECT record FROM upload_segments WHERE upload_id = $1 AND idx = $2 FOR UPDATE',
        [uploadId, index]
      )
      const segment = rows[0]?.record
      if (segment === undefined || segment.placement.id !== placementId) {
        throw new ShoalError(ErrorCode.CONFLICT, `segment ${index} was placed again while it was being committed`)
      }
      if (segment.committed !== undefined) return { pieces: segment.committed, already: true }
      await db.query('UPDATE upload_segments SET record = $3 WHERE upload_id = $1 AND idx = $2', [
        uploadId,
        index,
        JSON.stringify({ ...segment, committed: pieces })
      ])
      return { pieces, already: false }
    })
  }

  commitUpload(commit: UploadCommit): Promise<void> {
    return this.#tx(async (db) => {
      const upload = await lockUploadWithOwner(db, commit.uploadId)
      const { object } = commit
      const account = await this.#accountOf(db, upload.owner)
      const { rows } = await db.query<{ id: string; size: number }>(
        'SELECT id, size FROM objects WHERE owner = $1 AND name_hash = $2 FOR UPDATE',
        [upload.owner, object.nameHash]
      )
      const current = rows[0]
      if (current?.id !== commit.replaces) {
        throw new ShoalError(ErrorCode.CONFLICT, 'another object took this name while the upload was committing')
      }
      let used = account.used + object.size
      let objects = account.objects + 1
      if (current !== undefined) {
        used -= current.size
        objects -= 1
        await db.query('DELETE FROM objects WHERE id = $1', [current.id])
        await endSpan(db, current.id, object.createdAt)
      }
      const span: StorageSpan = {
        objectId: object.id,
        account: object.owner,
        size: object.size,
        nodes: commit.nodeBytes ?? {},
        from: object.createdAt
      }
      await db.query('INSERT INTO storage_spans (object_id, account, from_at, record) VALUES ($1, $2, $3, $4)', [
        object.id,
        object.owner,
        object.createdAt,
        JSON.stringify(span)
      ])
      await db.query(
        'INSERT INTO objects (id, owner, name_hash, size, created_at, record) VALUES ($1, $2, $3, $4, $5, $6)',
        [object.id, object.owner, object.nameHash, object.size, object.createdAt, JSON.stringify(object)]
      )
      if (commit.segments.length > 0) {
        await db.query(
          `INSERT INTO object_segments (object_id, idx, manifest)
           SELECT $1, (e->>'index')::integer, e FROM jsonb_array_elements($2::jsonb) AS e`,
          [object.id, JSON.stringify(commit.segments)]
        )
      }
      await db.query('UPDATE accounts SET used = $2, objects = $3, reserved = reserved - $4 WHERE id = $1', [
        account.id,
        used,
        objects,
        upload.size
      ])
      await db.query('DELETE FROM uploads WHERE id = $1', [upload.id])
      await this.#queue(db, commit.deletes)
    })
  }

  abortUpload(uploadId: string, deletes: readonly DeleteOrderRecord[]): Promise<void> {
    return this.#tx(async (db) => {
      const upload = await lockUploadWithOwner(db, uploadId)
      await db.query('UPDATE accounts SET reserved = reserved - $2 WHERE id = $1', [upload.owner, upload.size])
      await db.query('DELETE FROM uploads WHERE id = $1', [upload.id])
      await this.#queue(db, deletes)
    })
  }

  /** The owner's account, already locked by lockUploadWithOwner. */
  async #accountOf(db: Db, id: string): Promise<AccountRecord> {
    const { rows } = await db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id])
    const row = rows[0]
    if (row === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
    return toAccount(row)
  }

  // Objects

  async getObject(id: string): Promise<ObjectRecord | undefined> {
    const [row] = await this.#query<{ record: ObjectRecord }>('SELECT record FROM objects WHERE id = $1', [id])
    return row?.record
  }

  async getObjectByName(owner: string, nameHash: string): Promise<ObjectRecord | undefined> {
    const [row] = await this.#query<{ record: ObjectRecord }>(
      'SELECT record FROM objects WHERE owner = $1 AND name_hash = $2',
      [owner, nameHash]
    )
    return row?.record
  }

  async listObjects(owner: string): Promise<ObjectRecord[]> {
    const rows = await this.#query<{ record: ObjectRecord }>(
      'SELECT record FROM objects WHERE owner = $1 ORDER BY name_hash',
      [owner]
    )
    return rows.map((r) => r.record)
  }

  async getObjectSegments(objectId: string, from: number, to: number): Promise<SegmentManifest[]> {
    if (to <= from) return []
    const rows = await this.#query<{ manifest: SegmentManifest }>(
      'SELECT manifest FROM object_segments WHERE object_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx',
      [objectId, from, to]
    )
    return rows.map((r) => r.manifest)
  }

  async getObjectWithSegments(
    objectId: string,
    from: number,
    to: number
  ): Promise<{ object: ObjectRecord; segments: SegmentManifest[] } | undefined> {
    const [row] = await this.#query<{ record: ObjectRecord; segments: SegmentManifest[] | null }>(
      `SELECT o.record,
         (SELECT json_agg(s.manifest ORDER BY s.idx) FROM object_segments s
           WHERE s.object_id = o.id AND s.idx >= $2 AND s.idx < $3) AS segments
       FROM objects o WHERE o.id = $1`,
      [objectId, from, to]
    )
    return row === undefined ? undefined : { object: row.record, segments: row.segments ?? [] }
  }

  renameObject(objectId: string, nameHash: string, meta: string): Promise<ObjectRecord> {
    return this.#tx(async (db) => {
      const first = await db.query<{ owner: string }>('SELECT owner FROM objects WHERE id = $1', [objectId])
      const owner = first.rows[0]?.owner
      if (owner === undefined) throw objectNotFound(objectId)
      await lockAccount(db, owner)
      const { rows } = await db.query<{ record: ObjectRecord }>('SELECT record FROM objects WHERE id = $1 FOR UPDATE', [
        objectId
      ])
      const object = rows[0]?.record
      if (object === undefined) throw objectNotFound(objectId)
      const taken = await db.query<{ id: string }>('SELECT id FROM objects WHERE owner = $1 AND name_hash = $2', [
        owner,
        nameHash
      ])
      const holder = taken.rows[0]?.id
      if (holder !== undefined && holder !== objectId) {
        throw new ShoalError(ErrorCode.CONFLICT, 'another file already has this name')
      }
      const renamed: ObjectRecord = { ...object, nameHash, meta }
      await db.query('UPDATE objects SET name_hash = $2, record = $3 WHERE id = $1', [
        objectId,
        nameHash,
        JSON.stringify(renamed)
      ])
      return renamed
    })
  }

  async createShare(share: ShareRecord): Promise<void> {
    await this.#query('INSERT INTO shares (id, owner, created_at, record) VALUES ($1, $2, $3, $4)', [
      share.id,
      share.owner,
      share.createdAt,
      JSON.stringify(share)
    ])
  }

  async getShare(id: string): Promise<ShareRecord | undefined> {
    const [row] = await this.#query<{ record: ShareRecord }>('SELECT record FROM shares WHERE id = $1', [id])
    return row?.record
  }

  async listShares(owner: string): Promise<ShareRecord[]> {
    const rows = await this.#query<{ record: ShareRecord }>(
      'SELECT record FROM shares WHERE owner = $1 ORDER BY created_at DESC, id DESC',
      [owner]
    )
    return rows.map((r) => r.record)
  }

  revokeShare(id: string, at: number): Promise<ShareRecord> {
    return this.#tx(async (db) => {
      const { rows } = await db.query<{ record: ShareRecord }>('SELECT record FROM shares WHERE id = $1 FOR UPDATE', [
        id
      ])
      const share = rows[0]?.record
      if (share === undefined) throw shareNotFound(id)
      if (share.revokedAt !== undefined) return share
      const revoked = { ...share, revokedAt: at }
      await db.query('UPDATE shares SET record = $2 WHERE id = $1', [id, JSON.stringify(revoked)])
      return revoked
    })
  }

  deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[], at = Date.now()): Promise<void> {
    return this.#tx(async (db) => {
      const first = await db.query<{ owner: string }>('SELECT owner FROM objects WHERE id = $1', [objectId])
      const owner = first.rows[0]?.owner
      if (owner === undefined) throw objectNotFound(objectId)
      await lockAccount(db, owner)
      const { rows } = await db.query<{ size: number }>('SELECT size FROM objects WHERE id = $1 FOR UPDATE', [objectId])
      const object = rows[0]
      if (object === undefined) throw objectNotFound(objectId)
      await db.query('DELETE FROM objects WHERE id = $1', [objectId])
      await endSpan(db, objectId, at)
      await db.query('UPDATE accounts SET used = used - $2, objects = objects - 1 WHERE id = $1', [owner, object.size])
      await this.#queue(db, deletes)
    })
  }

  // Plans, API keys, audit log, metering, ledger

  changePlan(accountId: string, plan: string, quota: number, audit: AuditRecord): Promise<AccountRecord> {
    return this.#tx(async (db) => {
      const account = await lockAccount(db, accountId)
      if (account === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
      const used = account.used + account.reserved
      if (used > quota) {
        throw new ShoalError(ErrorCode.QUOTA_EXCEEDED, `the account stores more than the ${plan} plan's quota`, {
          details: { quota, used }
        })
      }
      await db.query('UPDATE accounts SET plan = $2, quota = $3 WHERE id = $1', [accountId, plan, quota])
      await db.query('INSERT INTO plan_changes (account_id, at, from_plan, to_plan) VALUES ($1, $2, $3, $4)', [
        accountId,
        audit.at,
        account.plan ?? null,
        plan
      ])
      await insertAudit(db, audit)
      return { ...account, plan, quota }
    })
  }

  async listPieceMoves(objectIds: readonly string[]): Promise<PieceMove[]> {
    if (objectIds.length === 0) return []
    const rows = await this.#query<{
      object_id: string
      at: number
      from_node: string | null
      to_node: string | null
      bytes: number
    }>(
      'SELECT object_id, at, from_node, to_node, bytes FROM piece_moves WHERE object_id = ANY($1::text[]) ORDER BY at, seq',
      [[...new Set(objectIds)]]
    )
    return rows.map((r) => ({
      objectId: r.object_id,
      at: r.at,
      ...(r.from_node === null ? {} : { from: r.from_node }),
      ...(r.to_node === null ? {} : { to: r.to_node }),
      bytes: r.bytes
    }))
  }

  async listPlanChanges(accountId: string, before: number): Promise<PlanChange[]> {
    const rows = await this.#query<{ at: number; from_plan: string | null; to_plan: string }>(
      'SELECT at, from_plan, to_plan FROM plan_changes WHERE account_id = $1 AND at < $2 ORDER BY at, seq',
      [accountId, before]
    )
    return rows.map((r) => ({
      accountId,
      at: r.at,
      ...(r.from_plan === null ? {} : { from: r.from_plan }),
      to: r.to_plan
    }))
  }

  createApiKey(key: ApiKeyRecord, audit: AuditRecord): Promise<void> {
    return this.#tx(async (db) => {
      await db.query('INSERT INTO api_keys (hash, id, account_id, created_at, record) VALUES ($1, $2, $3, $4, $5)', [
        key.hash,
        key.id,
        key.accountId,
        key.createdAt,
        JSON.stringify(key)
      ])
      await insertAudit(db, audit)
    })
  }

  async getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const [row] = await this.#query<{ record: ApiKeyRecord }>('SELECT record FROM api_keys WHERE hash = $1', [hash])
    return row?.record
  }

  async listApiKeys(accountId: string): Promise<ApiKeyRecord[]> {
    const rows = await this.#query<{ record: ApiKeyRecord }>(
      'SELECT record FROM api_keys WHERE account_id = $1 ORDER BY created_at, id COLLATE "C"',
      [accountId]
    )
    return rows.map((r) => r.record)
  }

  revokeApiKey(accountId: string, id: string, at: number, audit: AuditRecord): Promise<boolean> {
    return this.#tx(async (db) => {
      const result = await db.query(
        `UPDATE api_keys SET revoked_at = $3, record = jsonb_set(record, '{revokedAt}', to_jsonb($3::bigint))
         WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL`,
        [accountId, id, at]
      )
      if (result.rowCount !== 1) return false
      await insertAudit(db, audit)
      return true
    })
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    await this.#tx((db) => insertAudit(db, record))
  }

  async listAudit(accountId: string, limit: number): Promise<AuditRecord[]> {
    const rows = await this.#query<{ record: AuditRecord }>(
      'SELECT record FROM audit_log WHERE account_id = $1 ORDER BY id COLLATE "C" DESC LIMIT $2',
      [accountId, limit]
    )
    return rows.map((r) => r.record)
  }

  settle(records: readonly SettlementRecord[]): Promise<string[]> {
    if (records.length === 0) return Promise.resolve([])
    // One statement: the primary key on serial decides, across every tracker, which settlement is first.
    return this.#tx(async (db) => {
      const { rows } = await db.query<{ serial: string }>(
        `INSERT INTO settlements (serial, node, account, bytes, settled_at, record)
         SELECT e->>'serial', e->>'node', e->>'account', (e->>'bytes')::bigint, (e->>'settledAt')::bigint, e
         FROM jsonb_array_elements($1::jsonb) AS e
         ON CONFLICT (serial) DO NOTHING RETURNING serial`,
        [JSON.stringify(uniqueBySerial(records))]
      )
      const fresh = new Set(rows.map((r) => r.serial))
      return [...new Set(records.map((r) => r.serial))].filter((s) => fresh.has(s))
    })
  }

  async listSettlements(filter: {
    account?: string
    node?: string
    from: number
    to: number
  }): Promise<SettlementRecord[]> {
    const rows = await this.#query<{ record: SettlementRecord }>(
      `SELECT record FROM settlements WHERE settled_at >= $1 AND settled_at < $2
         AND ($3::text IS NULL OR account = $3) AND ($4::text IS NULL OR node = $4)
       ORDER BY settled_at, serial COLLATE "C"`,
      [filter.from, filter.to, filter.account ?? null, filter.node ?? null]
    )
    return rows.map((r) => r.record)
  }

  async listStorageSpans(filter: { account?: string; from: number; to: number }): Promise<StorageSpan[]> {
    const rows = await this.#query<{ record: StorageSpan }>(
      `SELECT record FROM storage_spans WHERE from_at < $2 AND (to_at IS NULL OR to_at > $1)
         AND ($3::text IS NULL OR account = $3)
       ORDER BY object_id COLLATE "C"`,
      [filter.from, filter.to, filter.account ?? null]
    )
    return rows.map((r) => r.record)
  }

  closeInvoice(invoice: InvoiceRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#tx(async (db) => {
      // The primary key (account, period) is the lock: a second tracker's insert waits, then finds the row.
      const { rowCount } = await db.query(
        'INSERT INTO invoices (account_id, period, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [invoice.accountId, invoice.period, JSON.stringify(invoice)]
      )
      if (rowCount !== 1) return false
      await postEntries(db, entries)
      return true
    })
  }

  async getInvoice(accountId: string, period: string): Promise<InvoiceRecord | undefined> {
    const [row] = await this.#query<{ record: InvoiceRecord }>(
      'SELECT record FROM invoices WHERE account_id = $1 AND period = $2',
      [accountId, period]
    )
    return row?.record
  }

  async listInvoices(accountId: string): Promise<InvoiceRecord[]> {
    const rows = await this.#query<{ record: InvoiceRecord }>(
      'SELECT record FROM invoices WHERE account_id = $1 ORDER BY period',
      [accountId]
    )
    return rows.map((r) => r.record)
  }

  closePayout(payout: PayoutRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#tx(async (db) => {
      const { rowCount } = await db.query(
        'INSERT INTO payouts (node, period, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [payout.node, payout.period, JSON.stringify(payout)]
      )
      if (rowCount !== 1) return false
      await postEntries(db, entries)
      return true
    })
  }

  async listPayouts(node: string): Promise<PayoutRecord[]> {
    const rows = await this.#query<{ record: PayoutRecord }>(
      'SELECT record FROM payouts WHERE node = $1 ORDER BY period',
      [node]
    )
    return rows.map((r) => r.record)
  }

  async listLedger(prefix = ''): Promise<LedgerEntry[]> {
    const rows = await this.#query<LedgerEntry>(
      'SELECT txn, ledger, amount, at, memo FROM ledger_entries WHERE starts_with(ledger, $1) ORDER BY seq',
      [prefix]
    )
    return rows.map((r) => ({ txn: r.txn, ledger: r.ledger, amount: r.amount, at: r.at, memo: r.memo }))
  }

  // Rate limits

  takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0)
    return this.#tx(async (db) => {
      // Rows exist before they are locked, so two trackers racing on a new key both wait on the same row; the
      // keys are locked in one order so they never wait on each other in a cycle.
      const names = [...new Set(keys.map((k) => k.key))].sort()
      await db.query(
        `INSERT INTO rate_buckets (key, tokens, at) SELECT unnest($1::text[]), 'Infinity'::float8, $2
         ON CONFLICT (key) DO NOTHING`,
        [names, now]
      )
      const { rows } = await db.query<{ key: string; tokens: number; at: number }>(
        'SELECT key, tokens, at FROM rate_buckets WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE',
        [names]
      )
      const byKey = new Map(rows.map((r) => [r.key, r]))
      // A fresh row says Infinity: full, whatever the rule's burst.
      const stored = keys.map(({ key }) => {
        const row = byKey.get(key)
        return row === undefined || !Number.isFinite(row.tokens) ? undefined : { tokens: row.tokens, at: row.at }
      })
      const { wait, buckets } = takeTokens(keys, stored, now)
      if (wait > 0) return wait
      await db.query(
        'UPDATE rate_buckets b SET tokens = v.tokens, at = v.at FROM unnest($1::text[], $2::float8[], $3::bigint[]) AS v(key, tokens, at) WHERE b.key = v.key',
        [keys.map((k) => k.key), buckets.map((b) => b.tokens), buckets.map((b) => b.at)]
      )
      if (now - this.#bucketsSweptAt > BUCKET_SWEEP_MS) {
        this.#bucketsSweptAt = now
        // Buckets idle this long are full again: forgetting them changes nothing and keeps the table small.
        await db.query('DELETE FROM rate_buckets WHERE at < $1', [now - MAX_BUCKET_IDLE_MS])
      }
      return 0
    })
  }

  // Leases

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    // One statement decides, across every tracker: the row is taken over only when free, expired or ours.
    const rows = await this.#query<{ holder: string }>(
      `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4
       RETURNING holder`,
      [name, holder, now + ttlMs, now]
    )
    return rows.length === 1
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.#query('DELETE FROM leases WHERE name = $1 AND holder = $2', [name, holder])
  }

  // Audits and repair

  async listSegments(after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]> {
    const rows = await this.#query<{ object_id: string; manifest: SegmentManifest }>(
      after === undefined
        ? 'SELECT object_id, manifest FROM object_segments ORDER BY object_id COLLATE "C", idx LIMIT $1'
        : `SELECT object_id, manifest FROM object_segments
           WHERE (object_id COLLATE "C", idx) > ($2 COLLATE "C", $3)
           ORDER BY object_id COLLATE "C", idx LIMIT $1`,
      after === undefined ? [limit] : [limit, after.objectId, after.index]
    )
    return rows.map((r) => ({ objectId: r.object_id, segment: r.manifest }))
  }

  updateSegmentPieces(
    key: SegmentKey,
    expected: readonly PiecePlacement[],
    pieces: readonly PiecePlacement[],
    deletes: readonly DeleteOrderRecord[],
    at = Date.now()
  ): Promise<boolean> {
    const notFound = () => segmentNotFound(key)
    return this.#tx(async (db) => {
      const first = await db.query<{ owner: string; record: ObjectRecord }>(
        'SELECT owner, record FROM objects WHERE id = $1',
        [key.objectId]
      )
      const owner = first.rows[0]?.owner
      const object = first.rows[0]?.record
      if (owner === undefined || object === undefined) throw notFound()
      await lockAccount(db, owner)
      const { rows } = await db.query<{ manifest: SegmentManifest }>(
        'SELECT manifest FROM object_segments WHERE object_id = $1 AND idx = $2 FOR UPDATE',
        [key.objectId, key.index]
      )
      const segment = rows[0]?.manifest
      if (segment === undefined) throw notFound()
      if (!samePieces(segment.pieces, expected)) return false
      await db.query('UPDATE object_segments SET manifest = $3 WHERE object_id = $1 AND idx = $2', [
        key.objectId,
        key.index,
        JSON.stringify({ ...segment, pieces })
      ])
      const moves = pieceMoves(key.objectId, at, expected, pieces, pieceSize(object, key.index))
      if (moves.length > 0) {
        await db.query(
          `INSERT INTO piece_moves (object_id, at, from_node, to_node, bytes)
           SELECT $1, $2, f, t, b FROM unnest($3::text[], $4::text[], $5::bigint[]) AS m(f, t, b)`,
          [
            key.objectId,
            at,
            moves.map((m) => m.from ?? null),
            moves.map((m) => m.to ?? null),
            moves.map((m) => m.bytes)
          ]
        )
      }
      await this.#queue(db, deletes)
      return true
    })
  }

  queueDeletes(deletes: readonly DeleteOrderRecord[]): Promise<void> {
    return this.#tx((db) => this.#queue(db, deletes))
  }

  async getReputation(peerId: string): Promise<NodeReputation | undefined> {
    const [row] = await this.#query<{ record: NodeReputation }>(
      'SELECT record FROM node_reputations WHERE peer_id = $1',
      [peerId]
    )
    return row?.record
  }

  async listReputations(): Promise<NodeReputation[]> {
    const rows = await this.#query<{ record: NodeReputation }>(
      'SELECT record FROM node_reputations ORDER BY peer_id COLLATE "C"'
    )
    return rows.map((r) => r.record)
  }

  async putReputation(record: NodeReputation): Promise<boolean> {
    const rows = await this.#query(
      record.version === 1
        ? 'INSERT INTO node_reputations (peer_id, version, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1'
        : `UPDATE node_reputations SET version = $2, record = $3 WHERE peer_id = $1 AND version = $2 - 1 RETURNING 1`,
      [record.peerId, record.version, JSON.stringify(record)]
    )
    return rows.length === 1
  }
}

async function insertAudit(db: Db, record: AuditRecord): Promise<void> {
  await db.query('INSERT INTO audit_log (account_id, id, record) VALUES ($1, $2, $3)', [
    record.accountId,
    record.id,
    JSON.stringify(record)
  ])
}

async function postEntries(db: Db, entries: readonly LedgerEntry[]): Promise<void> {
  if (entries.length === 0) return
  await db.query(
    `INSERT INTO ledger_entries (txn, ledger, amount, at, memo)
     SELECT e->>'txn', e->>'ledger', (e->>'amount')::bigint, (e->>'at')::bigint, e->>'memo'
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n`,
    [JSON.stringify(entries)]
  )
}

/** Closes an object's storage span at `at` (never before it began); a closed span stays as it is. */
async function endSpan(db: Db, objectId: string, at: number): Promise<void> {
  await db.query(
    `UPDATE storage_spans SET to_at = GREATEST($2::bigint, from_at),
       record = jsonb_set(record, '{to}', to_jsonb(GREATEST($2::bigint, from_at)))
     WHERE object_id = $1 AND to_at IS NULL`,
    [objectId, at]
  )
}

async function lockAccount(db: Db, id: string): Promise<AccountRecord | undefined> {
  const { rows } = await db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1 FOR UPDATE', [id])
  const row = rows[0]
  return row === undefined ? undefined : toAccount(row)
}

/** Locks an upload row (segment changes only need the upload to stay put); ERR_UPLOAD_NOT_FOUND if gone. */
async function lockUpload(db: Db, id: string): Promise<void> {
  const { rowCount } = await db.query('SELECT 1 FROM uploads WHERE id = $1 FOR SHARE', [id])
  if (rowCount !== 1) throw uploadNotFound(id)
}

/**
 * Locks the owner's account, then the upload (the global lock order), re-reading the upload after the account
 * lock: it may have been committed or aborted while this transaction waited.
 */
async function lockUploadWithOwner(db: Db, id: string): Promise<UploadRecord> {
  const first = await db.query<{ owner: string }>('SELECT owner FROM uploads WHERE id = $1', [id])
  const owner = first.rows[0]?.owner
  if (owner === undefined) throw uploadNotFound(id)
  await lockAccount(db, owner)
  const { rows } = await db.query<{ record: UploadRecord }>('SELECT record FROM uploads WHERE id = $1 FOR UPDATE', [id])
  const upload = rows[0]?.record
  if (upload === undefined) throw uploadNotFound(id)
  return upload
}

/** A connection URL without its password. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable PostgreSQL URL)'
  }
}

function connectionError(err: unknown, where: string): unknown {
  const code = (err as { code?: unknown }).code
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '3D000' || code === '28000' || code === '28P01') {
    return new ShoalError(
      ErrorCode.INTERNAL,
      `cannot reach PostgreSQL at ${where}: ${(err as Error).message} (is the server running, does the database exist?)`,
      { cause: err }
    )
  }
  return err
}

/** The first record of each serial: one INSERT may not touch the same key twice. */
function uniqueBySerial(records: readonly SettlementRecord[]): SettlementRecord[] {
  const seen = new Map<string, SettlementRecord>()
  for (const r of records) if (!seen.has(r.serial)) seen.set(r.serial, r)
  return [...seen.values()]
}
