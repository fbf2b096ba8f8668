import { ErrorCode, type PiecePlacement, ShoalError } from '@shoal/core'
import type {
  AccountRecord,
  DeleteOrderRecord,
  ImportedObject,
  UploadCommit,
  UploadRecord,
  UploadSegmentRecord
} from '../records.ts'
import {
  accountNotFound,
  afterImport,
  checkUploadQuota,
  nameChangedDuringCommit,
  nameInUse,
  nameTaken,
  openSpan,
  segmentCommit,
  totalsAfterAbort,
  uploadNotFound
} from '../rules.ts'
import type { UploadStore } from '../store.ts'
import { type AccountRow, lockAccount, setTotals, toAccount } from './accounts.ts'
import { startSpans } from './ledger.ts'
import { queueDeletes } from './nodes.ts'
import type { Db, PgDb } from './pg-db.ts'

export class PgUploads implements UploadStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  /**
   * One statement (one round trip) when the quota allows and the name is free (or overwritten): the name
   * looked up, the reservation and the upload in one step, the quota rule (`checkUploadQuota`) written as its
   * condition. When it writes nothing, the account is read to say why with the rule's own error, quota before
   * name as the level store checks them; if that finds room and no name after all (an upload ended meanwhile),
   * it tries again.
   */
  async beginUpload(upload: UploadRecord): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [result] = await this.#db.query<{ taken: string | null; begun: boolean }>(
        `WITH n AS (
           SELECT id FROM objects WHERE owner = $2 AND name_hash = $7 AND superseded_at IS NULL AND NOT $8::boolean
         ),
         a AS (
           UPDATE accounts SET reserved = reserved + $3
           WHERE id = $2 AND used + reserved + $3 <= quota AND NOT EXISTS (SELECT 1 FROM n) RETURNING id
         ),
         i AS (
           INSERT INTO uploads (id, owner, created_at, expires_at, record) SELECT $1, a.id, $4, $5, $6 FROM a
           RETURNING 1
         )
         SELECT (SELECT id FROM n) AS taken, EXISTS (SELECT 1 FROM i) AS begun`,
        [
          upload.id,
          upload.owner,
          upload.size,
          upload.createdAt,
          upload.expiresAt,
          JSON.stringify(upload),
          upload.nameHash,
          upload.overwrite
        ]
      )
      if (result?.begun === true) return
      const [row] = await this.#db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [upload.owner])
      if (row === undefined) throw accountNotFound()
      checkUploadQuota(toAccount(row), upload.size)
      if (typeof result?.taken === 'string') throw nameInUse(result.taken)
      if (attempt === MAX_BEGIN_ATTEMPTS) throw new ShoalError(ErrorCode.CONFLICT, 'the account kept changing')
    }
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const [row] = await this.#db.query<{ record: UploadRecord }>('SELECT record FROM uploads WHERE id = $1', [id])
    return row?.record
  }

  async listUploads(owner: string): Promise<UploadRecord[]> {
    const rows = await this.#db.query<{ record: UploadRecord }>(
      'SELECT record FROM uploads WHERE owner = $1 ORDER BY created_at, id',
      [owner]
    )
    return rows.map((r) => r.record)
  }

  async listExpiredUploads(
    now: number,
    limit: number,
    after?: { expiresAt: number; id: string }
  ): Promise<UploadRecord[]> {
    // One statement per shape: a generic plan of "$3 IS NULL OR ..." would not use the index's order.
    const rows =
      after === undefined
        ? await this.#db.query<{ record: UploadRecord }>(
            'SELECT record FROM uploads WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2',
            [now, limit]
          )
        : await this.#db.query<{ record: UploadRecord }>(
            `SELECT record FROM uploads WHERE expires_at <= $1 AND (expires_at, id) > ($3, $4)
             ORDER BY expires_at, id LIMIT $2`,
            [now, limit, after.expiresAt, after.id]
          )
    return rows.map((r) => r.record)
  }

  async getUploadSegment(uploadId: string, index: number): Promise<UploadSegmentRecord | undefined> {
    const [row] = await this.#db.query<{ record: UploadSegmentRecord }>(
      'SELECT record FROM upload_segments WHERE upload_id = $1 AND idx = $2',
      [uploadId, index]
    )
    return row?.record
  }

  async listUploadSegments(uploadId: string): Promise<UploadSegmentRecord[]> {
    const rows = await this.#db.query<{ record: UploadSegmentRecord }>(
      'SELECT record FROM upload_segments WHERE upload_id = $1 ORDER BY idx',
      [uploadId]
    )
    return rows.map((r) => r.record)
  }

  async getUploadWithSegments(
    id: string,
    index?: number
  ): Promise<{ upload: UploadRecord; segments: UploadSegmentRecord[] } | undefined> {
    // One statement per shape: the one-segment read stays a primary-key lookup.
    const [row] =
      index === undefined
        ? await this.#db.query<{ record: UploadRecord; segments: UploadSegmentRecord[] | null }>(
            `SELECT u.record,
               (SELECT json_agg(s.record ORDER BY s.idx) FROM upload_segments s WHERE s.upload_id = u.id) AS segments
             FROM uploads u WHERE u.id = $1`,
            [id]
          )
        : await this.#db.query<{ record: UploadRecord; segments: UploadSegmentRecord[] | null }>(
            `SELECT u.record,
               (SELECT json_agg(s.record) FROM upload_segments s WHERE s.upload_id = u.id AND s.idx = $2) AS segments
             FROM uploads u WHERE u.id = $1`,
            [id, index]
          )
    return row === undefined ? undefined : { upload: row.record, segments: row.segments ?? [] }
  }

  /** One statement (one round trip): the upload held FOR SHARE while its segment is written, if it is there. */
  async placeSegment(uploadId: string, segment: UploadSegmentRecord): Promise<void> {
    const { rowCount } = await this.#db.run(
      `WITH u AS (SELECT id FROM uploads WHERE id = $1 FOR SHARE)
       INSERT INTO upload_segments (upload_id, idx, record) SELECT id, $2, $3 FROM u
       ON CONFLICT (upload_id, idx) DO UPDATE SET record = EXCLUDED.record`,
      [uploadId, segment.index, JSON.stringify(segment)]
    )
    if (rowCount !== 1) throw uploadNotFound(uploadId)
  }

  /**
   * One statement: the upload held FOR SHARE, the segment locked and read, and written only where
   * `segmentCommit` (rules.ts) says a commit writes (this placement, not committed yet). The rule then decides
   * the answer from the row as it was locked, so the SQL condition and the rule cannot answer differently
   * unnoticed: a write the rule did not expect is an internal error.
   */
  async commitSegment(
    uploadId: string,
    index: number,
    placementId: string,
    pieces: PiecePlacement[]
  ): Promise<{ pieces: PiecePlacement[]; already: boolean }> {
    const [row] = await this.#db.queryRetried<{ held: boolean; record: UploadSegmentRecord | null; written: boolean }>(
      `WITH u AS (SELECT id FROM uploads WHERE id = $1 FOR SHARE),
       s AS (
         SELECT us.record FROM upload_segments us JOIN u ON us.upload_id = u.id WHERE us.idx = $2 FOR UPDATE OF us
       ),
       w AS (
         UPDATE upload_segments SET record = s.record || jsonb_build_object('committed', $4::jsonb) FROM s
         WHERE upload_id = $1 AND idx = $2 AND s.record->'placement'->>'id' = $3 AND NOT s.record ? 'committed'
         RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM u) AS held, (SELECT record FROM s) AS record, EXISTS (SELECT 1 FROM w) AS written`,
      [uploadId, index, placementId, JSON.stringify(pieces)]
    )
    if (row === undefined || !row.held) throw uploadNotFound(uploadId)
    const result = segmentCommit(row.record ?? undefined, index, placementId, pieces)
    if (result.already === row.written) {
      throw new ShoalError(ErrorCode.INTERNAL, `segment ${index}'s commit and the first-commit rule disagree`)
    }
    return result
  }

  /**
   * One round trip: `shoal_commit_upload` (migrations 17 and 19) runs the commit's statements inside the server,
   * in the global lock order, finds the object it replaces, and answers why it wrote nothing when it did not.
   */
  async commitUpload(commit: UploadCommit): Promise<{ replaced?: string }> {
    const { object } = commit
    const [row] = await this.#db.queryRetried<{ outcome: string; current_object: string | null }>(
      `SELECT outcome, current_object
       FROM shoal_commit_upload($1, $2::jsonb, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::boolean)`,
      [
        commit.uploadId,
        JSON.stringify(object),
        commit.replaces ?? null,
        JSON.stringify(commit.segments),
        JSON.stringify(openSpan(object, commit.nodeBytes)),
        JSON.stringify(commit.deletes),
        commit.overwrite === true
      ]
    )
    const current = row?.current_object ?? undefined
    switch (row?.outcome) {
      case 'ok':
        return current === undefined ? {} : { replaced: current }
      case 'upload':
        throw uploadNotFound(commit.uploadId)
      case 'account':
        throw accountNotFound()
      case 'name':
        throw nameChangedDuringCommit(current)
      default:
        throw new ShoalError(ErrorCode.INTERNAL, `shoal_commit_upload answered ${String(row?.outcome)}`)
    }
  }

  /**
   * One transaction of five statements whatever the batch size: the owners locked in id order (the global lock
   * order, and two imports never wait on each other in a circle), then objects, segments and spans inserted
   * from one jsonb array each (the rows commitUpload writes, records as they are), then the owners' totals.
   */
  importObjects(objects: readonly ImportedObject[]): Promise<void> {
    if (objects.length === 0) return Promise.resolve()
    return this.#db.tx(async (db) => {
      const owners = [...new Set(objects.map((o) => o.object.owner))].sort()
      const { rows } = await db.query<AccountRow>(
        'SELECT * FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
        [owners]
      )
      const accounts = new Map(rows.map((r) => [r.id, toAccount(r)]))
      for (const { object } of objects) {
        const account = accounts.get(object.owner)
        if (account === undefined) throw accountNotFound()
        accounts.set(account.id, afterImport(account, object))
      }
      try {
        await db.query(
          `INSERT INTO objects (id, owner, name_hash, size, created_at, record)
           SELECT e->>'id', e->>'owner', e->>'nameHash', (e->>'size')::bigint, (e->>'createdAt')::bigint, e
           FROM jsonb_array_elements($1::jsonb) AS e`,
          [JSON.stringify(objects.map((o) => o.object))]
        )
      } catch (err) {
        // The current-name index (or the id key): a name taken, or given twice in the batch.
        if ((err as { code?: unknown }).code === UNIQUE_VIOLATION) throw nameTaken()
        throw err
      }
      await db.query(
        `INSERT INTO object_segments (object_id, idx, manifest)
         SELECT o->>0, (s->>'index')::integer, s FROM jsonb_array_elements($1::jsonb) AS o,
           jsonb_array_elements(o->1) AS s`,
        [JSON.stringify(objects.map((o) => [o.object.id, o.segments]))]
      )
      await startSpans(
        db,
        objects.map((o) => openSpan(o.object, o.nodeBytes))
      )
      const totals = [...accounts.values()]
      await db.query(
        `UPDATE accounts AS a SET used = t.used, objects = t.objects, reserved = t.reserved
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS t(id, used, objects, reserved)
         WHERE a.id = t.id`,
        [
          totals.map((a) => a.id),
          totals.map((a) => a.used),
          totals.map((a) => a.objects),
          totals.map((a) => a.reserved)
        ]
      )
    })
  }

  abortUpload(uploadId: string, deletes: readonly DeleteOrderRecord[]): Promise<void> {
    return this.#db.tx(async (db) => {
      const { upload, account } = await lockUploadWithOwner(db, uploadId)
      if (account !== undefined) await setTotals(db, account.id, totalsAfterAbort(account, upload.size))
      await db.query('DELETE FROM uploads WHERE id = $1', [upload.id])
      await queueDeletes(db, deletes)
    })
  }
}

const UNIQUE_VIOLATION = '23505'
/** A begin that found room on reading the account but not in its statement tries this often. */
const MAX_BEGIN_ATTEMPTS = 3

/** Locks an upload row (segment changes only need the upload to stay put); ERR_UPLOAD_NOT_FOUND if gone. */
async function _lockUpload(db: Db, id: string): Promise<void> {
  const { rowCount } = await db.query('SELECT 1 FROM uploads WHERE id = $1 FOR SHARE', [id])
  if (rowCount !== 1) throw uploadNotFound(id)
}

/**
 * Locks the owner's account, then the upload (the global lock order), re-reading the upload after the account
 * lock: it may have been committed or aborted while this transaction waited. Returns both as they are now.
 */
async function lockUploadWithOwner(
  db: Db,
  id: string
): Promise<{ upload: UploadRecord; account: AccountRecord | undefined }> {
  const first = await db.query<{ owner: string }>('SELECT owner FROM uploads WHERE id = $1', [id])
  const owner = first.rows[0]?.owner
  if (owner === undefined) throw uploadNotFound(id)
  const account = await lockAccount(db, owner)
  const { rows } = await db.query<{ record: UploadRecord }>('SELECT record FROM uploads WHERE id = $1 FOR UPDATE', [id])
  const upload = rows[0]?.record
  if (upload === undefined) throw uploadNotFound(id)
  return { upload, account }
}
