import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import { pieceSize } from '@shoal/core'
import { pieceMoves } from '../money-records.ts'
import type {
  AccountRecord,
  DeleteOrderRecord,
  ObjectRecord,
  SegmentKey,
  StoredSegment,
  VersionKey,
  WalkedObject
} from '../records.ts'
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
import type { ObjectStore } from '../store.ts'
import { endSpanOps, moveOps } from './ledger.ts'
import { K, type LevelDb, type Op, range, segmentNodeOps } from './level-db.ts'
import { queueOps } from './nodes.ts'

/** The writes of one committed segment: the manifest and its `nseg:` entries (those of `previous` it drops). */
export function segmentPutOps(objectId: string, segment: SegmentManifest, previous?: SegmentManifest): Op[] {
  return [
    { type: 'put', key: K.oseg(objectId, segment.index), value: segment },
    ...segmentNodeOps(objectId, segment, previous)
  ]
}

/** The writes that remove an object, its segments and its name (if it still points here) or version entry. */
async function objectRemovalOps(db: LevelDb, object: ObjectRecord): Promise<Op[]> {
  const segments = (await db.values<SegmentManifest>(`oseg:${object.id}:`)) as SegmentManifest[]
  const ops: Op[] = [{ type: 'del', key: K.object(object.id) }]
  for (const segment of segments) {
    ops.push({ type: 'del', key: K.oseg(object.id, segment.index) })
    for (const node of new Set(segment.pieces.map((p) => p.node))) {
      ops.push({ type: 'del', key: K.nodeSeg(node, object.id, segment.index) })
    }
  }
  const version = versionKey(object)
  if (version !== undefined) ops.push({ type: 'del', key: K.version(version) })
  // Only unlink the name if it still points here (it always does while objects are replaced under the lock).
  else if ((await db.get(K.name(object.owner, object.nameHash))) === object.id) {
    ops.push({ type: 'del', key: K.name(object.owner, object.nameHash) })
  }
  return ops
}

const versionKey = (o: ObjectRecord): VersionKey | undefined =>
  o.supersededAt === undefined
    ? undefined
    : { owner: o.owner, nameHash: o.nameHash, supersededAt: o.supersededAt, id: o.id }

/**
 * The writes that make the current object of a name an older version at `at` (a commit over it, a restore):
 * the caller points the name at the new current object in the same batch.
 */
export function supersedeOps(object: ObjectRecord, at: number): Op[] {
  const version = superseded(object, at)
  const key = versionKey(version)
  if (key === undefined) throw new TypeError('a superseded object has a supersededAt')
  return [
    { type: 'put', key: K.object(object.id), value: version },
    { type: 'put', key: K.version(key), value: object.id }
  ]
}

/** Ids of the versions in [gt|gte, lt) of the version index, newest first. */
async function versionIds(db: LevelDb, bounds: { gt?: string; gte?: string; lt: string }, limit: number) {
  return (await db.level.values({ ...bounds, reverse: true, limit }).all()) as string[]
}

export class LevelObjects implements ObjectStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  getObject(id: string): Promise<ObjectRecord | undefined> {
    return this.#db.get(K.object(id))
  }

  async getObjectByName(owner: string, nameHash: string): Promise<ObjectRecord | undefined> {
    const id = await this.#db.get<string>(K.name(owner, nameHash))
    return id === undefined ? undefined : this.getObject(id)
  }

  async listObjects(owner: string, page: { after?: string; limit: number }): Promise<ObjectRecord[]> {
    const bounds = range(`name:${owner}:`)
    const from = page.after === undefined ? { gte: bounds.gte } : { gt: K.name(owner, page.after) }
    const ids = (await this.#db.level.values({ ...from, lt: bounds.lt, limit: page.limit }).all()) as string[]
    return this.#db.many(ids.map(K.object))
  }

  getObjectSegments(objectId: string, from: number, to: number): Promise<SegmentManifest[]> {
    if (to <= from) return Promise.resolve([])
    return this.#db.level.values({ gte: K.oseg(objectId, from), lt: K.oseg(objectId, to) }).all() as Promise<
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

  #withObject<T>(objectId: string, notFound: () => Error, fn: (object: ObjectRecord) => Promise<T>): Promise<T> {
    return this.#db.underOwner(() => this.getObject(objectId), notFound, fn)
  }

  deleteObject(objectId: string, deletes: readonly DeleteOrderRecord[], at: number): Promise<void> {
    return this.#withObject(
      objectId,
      () => objectNotFound(objectId),
      async (object) => {
        const ops = [...(await objectRemovalOps(this.#db, object)), ...(await endSpanOps(this.#db, object.id, at))]
        const account = await this.#db.get<AccountRecord>(K.account(object.owner))
        if (account !== undefined) {
          ops.push({
            type: 'put',
            key: K.account(account.id),
            value: { ...account, ...totalsAfterDelete(account, object) }
          })
        }
        queueOps(ops, deletes)
        await this.#db.batch(ops)
      }
    )
  }

  renameObject(objectId: string, nameHash: string, meta: string): Promise<ObjectRecord> {
    return this.#withObject(
      objectId,
      () => objectNotFound(objectId),
      async (object) => {
        if (object.supersededAt !== undefined) throw objectNotFound(objectId)
        const holder = await this.#db.get<string>(K.name(object.owner, nameHash))
        if (holder !== undefined && holder !== object.id) throw nameTaken()
        const renamed: ObjectRecord = { ...object, nameHash, meta }
        const ops: Op[] = []
        if ((await this.#db.get(K.name(object.owner, object.nameHash))) === object.id) {
          ops.push({ type: 'del', key: K.name(object.owner, object.nameHash) })
          ops.push(...(await this.#moveVersionsOps(object.owner, object.nameHash, nameHash)))
        }
        ops.push(
          { type: 'put', key: K.name(object.owner, nameHash), value: object.id },
          { type: 'put', key: K.object(object.id), value: renamed }
        )
        await this.#db.batch(ops)
        return renamed
      }
    )
  }

  /** The older versions of a name follow its file to another name hash (a rename, a move to trash and back). */
  async #moveVersionsOps(owner: string, from: string, to: string): Promise<Op[]> {
    if (from === to) return []
    const ids = (await this.#db.level.values(range(`version:${owner}:${from}:`)).all()) as string[]
    const versions = await this.#db.many<ObjectRecord>(ids.map(K.object))
    return versions.flatMap((v): Op[] => {
      const moved = { ...v, nameHash: to }
      const was = versionKey(v)
      const now = versionKey(moved)
      if (was === undefined || now === undefined) return []
      return [
        { type: 'del', key: K.version(was) },
        { type: 'put', key: K.version(now), value: v.id },
        { type: 'put', key: K.object(v.id), value: moved }
      ]
    })
  }

  async listVersions(
    owner: string,
    nameHash: string,
    page: { after?: Pick<VersionKey, 'supersededAt' | 'id'>; limit: number }
  ): Promise<ObjectRecord[]> {
    const bounds = range(`version:${owner}:${nameHash}:`)
    const upper = page.after === undefined ? bounds.lt : K.version({ owner, nameHash, ...page.after })
    return this.#db.many((await versionIds(this.#db, { gte: bounds.gte, lt: upper }, page.limit)).map(K.object))
  }

  async listAllVersions(after: VersionKey | undefined, limit: number): Promise<ObjectRecord[]> {
    const bounds = range('version:')
    const upper = after === undefined ? bounds.lt : K.version(after)
    return this.#db.many((await versionIds(this.#db, { gte: bounds.gte, lt: upper }, limit)).map(K.object))
  }

  restoreVersion(versionId: string, meta: string, at: number): Promise<ObjectRecord> {
    return this.#withObject(
      versionId,
      () => versionNotFound(versionId),
      async (version) => {
        const key = versionKey(version)
        if (key === undefined) throw versionNotFound(versionId)
        const current = await this.getObjectByName(version.owner, version.nameHash)
        const now = restored(version, meta)
        await this.#db.batch([
          ...(current === undefined ? [] : supersedeOps(current, at)),
          { type: 'del', key: K.version(key) },
          { type: 'put', key: K.object(now.id), value: now },
          { type: 'put', key: K.name(now.owner, now.nameHash), value: now.id }
        ])
        return now
      }
    )
  }

  async versionUsage(owner: string): Promise<{ versions: number; bytes: number }> {
    let versions = 0
    let bytes = 0
    // A page at a time: memory stays bounded however many versions an account keeps.
    let after: VersionKey | undefined
    for (;;) {
      const bounds = range(`version:${owner}:`)
      const upper = after === undefined ? bounds.lt : K.version(after)
      const page = await this.#db.many<ObjectRecord>(
        (await versionIds(this.#db, { gte: bounds.gte, lt: upper }, 500)).map(K.object)
      )
      for (const v of page) {
        versions++
        bytes += v.size
      }
      const last = page.at(-1)
      after = last === undefined ? undefined : versionKey(last)
      if (page.length < 500 || after === undefined) return { versions, bytes }
    }
  }

  async listSegments(after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]> {
    const bounds = range('oseg:')
    const from = after === undefined ? { gte: bounds.gte } : { gt: K.oseg(after.objectId, after.index) }
    const entries = await this.#db.level.iterator({ ...from, lt: bounds.lt, limit }).all()
    const ids = [...new Set(entries.map(([key]) => key.slice('oseg:'.length, key.lastIndexOf(':'))))]
    const objects = await this.#walkedObjects(ids)
    return entries.map(([key, value]) => {
      const objectId = key.slice('oseg:'.length, key.lastIndexOf(':'))
      return { objectId, segment: value as SegmentManifest, object: objects.get(objectId) }
    })
  }

  async listSegmentsOnNode(node: string, after: SegmentKey | undefined, limit: number): Promise<StoredSegment[]> {
    const bounds = range(`nseg:${node}:`)
    const from = after === undefined ? { gte: bounds.gte } : { gt: K.nodeSeg(node, after.objectId, after.index) }
    const keys = await this.#db.level.keys({ ...from, lt: bounds.lt, limit }).all()
    const segmentKeys = keys.map((key) => `oseg:${key.slice(bounds.gte.length)}`)
    const manifests = (await this.#db.level.getMany(segmentKeys)) as (SegmentManifest | undefined)[]
    const ids = [...new Set(segmentKeys.map((key) => key.slice('oseg:'.length, key.lastIndexOf(':'))))]
    const objects = await this.#walkedObjects(ids)
    const out: StoredSegment[] = []
    for (const [i, key] of segmentKeys.entries()) {
      const segment = manifests[i]
      // Removed between the two reads: skip it, as a walk past a deleted object would.
      if (segment === undefined) continue
      const objectId = key.slice('oseg:'.length, key.lastIndexOf(':'))
      out.push({ objectId, segment, object: objects.get(objectId) })
    }
    return out
  }

  /** Objects by id without what only their owner reads (a walk needs their layout only). */
  async #walkedObjects(ids: readonly string[]): Promise<Map<string, WalkedObject>> {
    return new Map(
      (await this.#db.many<ObjectRecord>(ids.map(K.object))).map(({ meta: _m, wrappedKey: _k, nonce: _n, ...o }) => [
        o.id,
        o as WalkedObject
      ])
    )
  }

  updateSegmentPieces(
    key: SegmentKey,
    expected: readonly PiecePlacement[],
    pieces: readonly PiecePlacement[],
    deletes: readonly DeleteOrderRecord[],
    at: number
  ): Promise<boolean> {
    return this.#withObject(
      key.objectId,
      () => segmentNotFound(key),
      async (object) => {
        const segment = await this.#db.get<SegmentManifest>(K.oseg(key.objectId, key.index))
        if (segment === undefined) throw segmentNotFound(key)
        if (!samePieces(segment.pieces, expected)) return false
        const ops: Op[] = [
          ...segmentPutOps(key.objectId, { ...segment, pieces: [...pieces] }, segment),
          ...moveOps(pieceMoves(key.objectId, at, expected, pieces, pieceSize(object, key.index)))
        ]
        queueOps(ops, deletes)
        await this.#db.batch(ops)
        return true
      }
    )
  }
}
