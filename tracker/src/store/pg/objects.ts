import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import { pieceSize } from '@shoal/core'
import { pieceMoves } from '../money-records.ts'
import type { DeleteOrderRecord, ObjectRecord, SegmentKey, StoredSegment, VersionKey } from '../records.ts'
import {
  nameTaken,
  objectNotFound,
  restored,
  samePieces,
  segmentNotFound,
  superseded,
  totalsAfterDelete,
  versionNotFound
} from '../rules.ts'
import type { ObjectStore, WalkedObject } from '../store.ts'
import { lockAccount, setTotals } from './accounts.ts'
import { endSpan, recordMoves } from './ledger.ts'
import { queueDeletes } from './nodes.ts'
import type { Db, PgDb } from './pg-db.ts'

/**
 * Makes the current object of a name an older version at `at` (a commit over it, a restore); the caller then
 * gives the name its new current object in the same transaction (the unique index covers current objects only).
 */
export async function supersede(db: Db, object: ObjectRecord, at: number): Promise<void> {
  const version = superseded(object, at)
  await db.query('UPDATE objects SET superseded_at = $2, record = $3 WHERE id = $1', [
    object.id,
    version.supersededAt,
    JSON.stringify(version)
  ])
}

// Versions in the index objects_versions' order (migration 14): grouped by owner and name, newest first.
const VERSION_ORDER = 'owner COLLATE "C" DESC, name_hash COLLATE "C" DESC, superseded_at DESC, id COLLATE "C" DESC'

export class PgObjects implements ObjectStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  async getObject(id: string): Promise<ObjectRecord | undefined> {
    const [row] = await this.#db.query<{ record: ObjectRecord }>('SELECT record FROM objects WHERE id = $1', [id])
    return row?.record
  }

  async getObjectByName(owner: string, nameHash: string): Promise<ObjectRecord | undefined> {
    const [row] = await this.#db.query<{ record: ObjectRecord }>(
      'SELECT record FROM objects WHERE owner = $1 AND name_hash = $2 AND superseded_at IS NULL',
      [owner, nameHash]
    )
    return row?.record
  }

  async listObjects(owner: string, page: { after?: string; limit: number }): Promise<ObjectRecord[]> {
    // Bytewise ("C") order, as level keys sort, on the index objects_owner_name (migration 10).
    const rows = await this.#db.query<{ record: ObjectRecord }>(
      `SELECT record FROM objects
       WHERE owner = $1 AND superseded_at IS NULL AND ($2::text IS NULL OR name_hash COLLATE "C" > $2)
       ORDER BY name_hash COLLATE "C" LIMIT $3`,
      [owner, page.after ?? null, page.limit]
    )
    return rows.map((r) => r.record)
  }

  async getObjectSegments(objectId: string, from: number, to: number): Promise<SegmentManifest[]> {
    if (to <= from) return []
    const rows = await this.#db.query<{ manifest: SegmentManifest }>(
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
    const [row] = await this.#db.query<{ record: ObjectRecord; segments: SegmentManifest[] | null }>(
      `SELECT o.record,
         (SELECT json_agg(s.manifest ORDER BY s.idx) FROM object_segments s
           WHERE s.object_id = o.id AND s.idx >= $2 AND s.idx < $3) AS segments
       FROM objects o WHERE o.id = $1`,
      [objectId, from, to]
    )
    return row === undefined ? undefined : { object: row.record, segments: row.segments ?? [] }
  }

  deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[], at: number): Promise<void> {
    return this.#db.tx(async (db) => {
      const first = await db.query<{ owner: string }>('SELECT owner FROM objects WHERE id = $1', [objectId])
      const owner = first.rows[0]?.owner
      if (owner === undefined) throw objectNotFound(objectId)
      const account = await lockAccount(db, owner)
      const { rows } = await db.query<{ record: ObjectRecord }>('SELECT record FROM objects WHERE id = $1 FOR UPDATE', [
        objectId
      ])
      const object = rows[0]?.record
      if (object === undefined) throw objectNotFound(objectId)
      await db.query('DELETE FROM objects WHERE id = $1', [objectId])
      await endSpan(db, objectId, at)
      if (account !== undefined) await setTotals(db, owner, totalsAfterDelete(account, object))
      await queueDeletes(db, deletes)
    })
  }

  renameObject(objectId: string, nameHash: string, meta: string): Promise<ObjectRecord> {
    return this.#db.tx(async (db) => {
      const first = await db.query<{ owner: string }>('SELECT owner FROM objects WHERE id = $1', [objectId])
      const owner = first.rows[0]?.owner
      if (owner === undefined) throw objectNotFound(objectId)
      await lockAccount(db, owner)
      const { rows } = await db.query<{ record: ObjectRecord }>('SELECT record FROM objects WHERE id = $1 FOR UPDATE', [
        objectId
      ])
      const object = rows[0]?.record
      if (object === undefined || object.supersededAt !== undefined) throw objectNotFound(objectId)
      const taken = await db.query<{ id: string }>(
        'SELECT id FROM objects WHERE owner = $1 AND name_hash = $2 AND superseded_at IS NULL',
        [owner, nameHash]
      )
      const holder = taken.rows[0]?.id
      if (holder !== undefined && holder !== objectId) throw nameTaken()
      const renamed: ObjectRecord = { ...object, nameHash, meta }
      await db.query('UPDATE objects SET name_hash = $2, record = $3 WHERE id = $1', [
        objectId,
        nameHash,
        JSON.stringify(renamed)
      ])
      // The older versions follow their file (their sealed metadata stays).
      await db.query(
        `UPDATE objects SET name_hash = $3, record = jsonb_set(record, '{nameHash}', to_jsonb($3::text))
         WHERE owner = $1 AND name_hash = $2 AND superseded_at IS NOT NULL`,
        [owner, object.nameHash, nameHash]
      )
      return renamed
    })
  }

  async listVersions(
    owner: string,
    nameHash: string,
    page: { after?: Pick<VersionKey, 'supersededAt' | 'id'>; limit: number }
  ): Promise<ObjectRecord[]> {
    const rows = await this.#db.query<{ record: ObjectRecord }>(
      page.after === undefined
        ? `SELECT record FROM objects WHERE owner = $1 AND name_hash = $2 AND superseded_at IS NOT NULL
           ORDER BY ${VERSION_ORDER} LIMIT $3`
        : `SELECT record FROM objects WHERE owner = $1 AND name_hash = $2 AND superseded_at IS NOT NULL
             AND (superseded_at, id COLLATE "C") < ($4, $5 COLLATE "C")
           ORDER BY ${VERSION_ORDER} LIMIT $3`,
      page.after === undefined
        ? [owner, nameHash, page.limit]
        : [owner, nameHash, page.limit, page.after.supersededAt, page.after.id]
    )
    return rows.map((r) => r.record)
  }

  async listAllVersions(after: VersionKey | undefined, limit: number): Promise<ObjectRecord[]> {
    const rows = await this.#db.query<{ record: ObjectRecord }>(
      after === undefined
        ? `SELECT record FROM objects WHERE superseded_at IS NOT NULL ORDER BY ${VERSION_ORDER} LIMIT $1`
        : `SELECT record FROM objects WHERE superseded_at IS NOT NULL
             AND (owner COLLATE "C", name_hash COLLATE "C", superseded_at, id COLLATE "C")
               < ($2 COLLATE "C", $3 COLLATE "C", $4, $5 COLLATE "C")
           ORDER BY ${VERSION_ORDER} LIMIT $1`,
      after === undefined ? [limit] : [limit, after.owner, after.nameHash, after.supersededAt, after.id]
    )
    return rows.map((r) => r.record)
  }

  restoreVersion(versionId: string, meta: string, at: number): Promise<ObjectRecord> {
    return this.#db.tx(async (db) => {
      const first = await db.query<{ owner: string }>('SELECT owner FROM objects WHERE id = $1', [versionId])
      const owner = first.rows[0]?.owner
      if (owner === undefined) throw versionNotFound(versionId)
      await lockAccount(db, owner)
      const { rows } = await db.query<{ record: ObjectRecord }>('SELECT record FROM objects WHERE id = $1 FOR UPDATE', [
        versionId
      ])
      const version = rows[0]?.record
      if (version?.supersededAt === undefined) throw versionNotFound(versionId)
      const current = await db.query<{ record: ObjectRecord }>(
        'SELECT record FROM objects WHERE owner = $1 AND name_hash = $2 AND superseded_at IS NULL FOR UPDATE',
        [owner, version.nameHash]
      )
      const was = current.rows[0]?.record
      if (was !== undefined) await supersede(db, was, at)
      const now = restored(version, meta)
      await db.query('UPDATE objects SET superseded_at = NULL, record = $2 WHERE id = $1', [
        versionId,
        JSON.stringify(now)
      ])
      return now
    })
  }

  async versionUsage(owner: string): Promise<{ versions: number; bytes: number }> {
    const [row] = await this.#db.query<{ versions: string; bytes: string | null }>(
      'SELECT count(*) AS versions, sum(size) AS bytes FROM objects WHERE owner = $1 AND superseded_at IS NOT NULL',
      [owner]
    )
    return { versions: Number(row?.versions ?? 0), bytes: Number(row?.bytes ?? 0) }
  }

  async listSegments(after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]> {
    // One statement per page, the objects joined in (a statement sees one snapshot: never a segment without
    // its object).
    // The object without what only its owner reads (WalkedObject): it may be 64 KiB of sealed metadata.
    const rows = await this.#db.query<{ object_id: string; manifest: SegmentManifest; record: WalkedObject }>(
      after === undefined
        ? `SELECT s.object_id, s.manifest, o.record - 'meta' - 'wrappedKey' - 'nonce' AS record
           FROM object_segments s JOIN objects o ON o.id = s.object_id
           ORDER BY s.object_id COLLATE "C", s.idx LIMIT $1`
        : `SELECT s.object_id, s.manifest, o.record - 'meta' - 'wrappedKey' - 'nonce' AS record
           FROM object_segments s JOIN objects o ON o.id = s.object_id
           WHERE (s.object_id COLLATE "C", s.idx) > ($2 COLLATE "C", $3)
           ORDER BY s.object_id COLLATE "C", s.idx LIMIT $1`,
      after === undefined ? [limit] : [limit, after.objectId, after.index]
    )
    return rows.map((r) => ({ objectId: r.object_id, segment: r.manifest, object: r.record }))
  }

  async listSegmentsOnNode(node: string, after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]> {
    // The node's segments through the index of node ids (migration 18), materialized so the planner cannot mix
    // in the walk index's range (2.7M rows: seconds per page); sorted here, a node's share of the network (about
    // 9,000 segments of 3M on 1,000 nodes: ~90 ms a page when cached), then the page's objects joined.
    const rows = await this.#db.query<{ object_id: string; manifest: SegmentManifest; record: WalkedObject }>(
      `WITH mine AS MATERIALIZED (
         SELECT object_id, idx, manifest FROM object_segments
         WHERE jsonb_path_query_array(manifest, '$.pieces[*].node') @> jsonb_build_array($2::text)
       ),
       page AS (
         SELECT object_id, idx, manifest FROM mine
         WHERE $3::text IS NULL OR (object_id COLLATE "C", idx) > ($3 COLLATE "C", $4)
         ORDER BY object_id COLLATE "C", idx LIMIT $1
       )
       SELECT p.object_id, p.manifest, o.record - 'meta' - 'wrappedKey' - 'nonce' AS record
       FROM page p JOIN objects o ON o.id = p.object_id
       ORDER BY p.object_id COLLATE "C", p.idx`,
      [limit, node, after?.objectId ?? null, after?.index ?? 0]
    )
    return rows.map((r) => ({ objectId: r.object_id, segment: r.manifest, object: r.record }))
  }

  updateSegmentPieces(
    key: SegmentKey,
    expected: readonly PiecePlacement[],
    pieces: readonly PiecePlacement[],
    deletes: readonly DeleteOrderRecord[],
    at: number
  ): Promise<boolean> {
    const notFound = () => segmentNotFound(key)
    return this.#db.tx(async (db) => {
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
      await recordMoves(
        db,
        key.objectId,
        at,
        pieceMoves(key.objectId, at, expected, pieces, pieceSize(object, key.index))
      )
      await queueDeletes(db, deletes)
      return true
    })
  }
}
