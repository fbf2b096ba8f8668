import type { PiecePlacement } from '@shoal/core'
import type {
  AccountRecord,
  DeleteOrderRecord,
  ImportedObject,
  ObjectRecord,
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
  segmentCommit,
  totalsAfterAbort,
  totalsAfterCommit,
  uploadNotFound
} from '../rules.ts'
import type { UploadStore } from '../store.ts'
import { startSpanOps } from './ledger.ts'
import { K, type LevelDb, type Op, range } from './level-db.ts'
import { queueOps } from './nodes.ts'
import { segmentPutOps, supersedeOps } from './objects.ts'

export class LevelUploads implements UploadStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  beginUpload(upload: UploadRecord): Promise<void> {
    return this.#db.locks.run(K.account(upload.owner), async () => {
      const account = await this.#db.get<AccountRecord>(K.account(upload.owner))
      if (account === undefined) throw accountNotFound()
      checkUploadQuota(account, upload.size)
      if (!upload.overwrite) {
        const current = await this.#db.get<string>(K.name(upload.owner, upload.nameHash))
        if (current !== undefined) throw nameInUse(current)
      }
      await this.#db.batch([
        { type: 'put', key: K.account(account.id), value: { ...account, reserved: account.reserved + upload.size } },
        { type: 'put', key: K.upload(upload.id), value: upload },
        { type: 'put', key: K.uploadExp(upload.expiresAt, upload.id), value: upload.id },
        { type: 'put', key: K.uploadOwner(upload), value: upload.id }
      ])
    })
  }

  getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.#db.get(K.upload(id))
  }

  async listUploads(owner: string): Promise<UploadRecord[]> {
    const ids = await this.#db.values<string>(`upload-owner:${owner}:`)
    return this.#db.many(ids.map(K.upload))
  }

  async listExpiredUploads(
    now: number,
    limit: number,
    after?: { expiresAt: number; id: string }
  ): Promise<UploadRecord[]> {
    const from = after === undefined ? { gte: 'upload-exp:' } : { gt: K.uploadExp(after.expiresAt, after.id) }
    const ids = (await this.#db.level.values({ ...from, lte: K.uploadExp(now, '~'), limit }).all()) as string[]
    return this.#db.many(ids.map(K.upload))
  }

  getUploadSegment(uploadId: string, index: number): Promise<UploadSegmentRecord | undefined> {
    return this.#db.get(K.useg(uploadId, index))
  }

  listUploadSegments(uploadId: string): Promise<UploadSegmentRecord[]> {
    return this.#db.values(`useg:${uploadId}:`)
  }

  async getUploadWithSegments(
    id: string,
    index?: number
  ): Promise<{ upload: UploadRecord; segments: UploadSegmentRecord[] } | undefined> {
    const upload = await this.getUpload(id)
    if (upload === undefined) return undefined
    if (index === undefined) return { upload, segments: await this.listUploadSegments(id) }
    const segment = await this.getUploadSegment(id, index)
    return { upload, segments: segment === undefined ? [] : [segment] }
  }

  #withUpload<T>(uploadId: string, fn: (upload: UploadRecord) => Promise<T>): Promise<T> {
    return this.#db.underOwner(
      () => this.getUpload(uploadId),
      () => uploadNotFound(uploadId),
      fn
    )
  }

  placeSegment(uploadId: string, segment: UploadSegmentRecord): Promise<void> {
    return this.#withUpload(uploadId, async () => {
      await this.#db.batch([{ type: 'put', key: K.useg(uploadId, segment.index), value: segment }])
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
      const result = segmentCommit(segment, index, placementId, pieces)
      if (!result.already && segment !== undefined) {
        await this.#db.batch([{ type: 'put', key: K.useg(uploadId, index), value: { ...segment, committed: pieces } }])
      }
      return result
    })
  }

  commitUpload(commit: UploadCommit): Promise<{ replaced?: string }> {
    return this.#withUpload(commit.uploadId, async (upload) => {
      const { object } = commit
      const account = await this.#db.get<AccountRecord>(K.account(upload.owner))
      if (account === undefined) throw accountNotFound()
      const current = await this.#db.get<string>(K.name(upload.owner, object.nameHash))
      if (commit.overwrite !== true && current !== commit.replaces) throw nameChangedDuringCommit(current)
      const ops: Op[] = []
      const old = current === undefined ? undefined : await this.#db.get<ObjectRecord>(K.object(current))
      if (old !== undefined) ops.push(...supersedeOps(old, object.createdAt))
      ops.push(
        ...startSpanOps(object, commit.nodeBytes),
        {
          type: 'put',
          key: K.account(account.id),
          value: { ...account, ...totalsAfterCommit(account, object, upload.size, old) }
        },
        { type: 'put', key: K.object(object.id), value: object },
        { type: 'put', key: K.name(object.owner, object.nameHash), value: object.id },
        ...commit.segments.flatMap((s) => segmentPutOps(object.id, s)),
        ...(await this.#uploadRemoval(upload))
      )
      queueOps(ops, commit.deletes)
      await this.#db.batch(ops)
      return current === undefined ? {} : { replaced: current }
    })
  }

  /** One batch of the keys commitUpload writes, under the locks of every owner in the import. */
  importObjects(objects: readonly ImportedObject[]): Promise<void> {
    const owners = [...new Set(objects.map((o) => o.object.owner))]
    return this.#db.locks.runAll(owners.map(K.account), async () => {
      const found = await this.#db.level.getMany(owners.map(K.account))
      const accounts = new Map<string, AccountRecord>()
      for (const [i, owner] of owners.entries()) {
        const account = found[i] as AccountRecord | undefined
        if (account === undefined) throw accountNotFound()
        accounts.set(owner, account)
      }
      const names = objects.map((o) => K.name(o.object.owner, o.object.nameHash))
      if (new Set(names).size < names.length || (await this.#db.many(names)).length > 0) throw nameTaken()
      const ops: Op[] = []
      for (const { object, segments, nodeBytes } of objects) {
        const account = accounts.get(object.owner) as AccountRecord
        accounts.set(object.owner, afterImport(account, object))
        ops.push(
          ...startSpanOps(object, nodeBytes),
          { type: 'put', key: K.object(object.id), value: object },
          { type: 'put', key: K.name(object.owner, object.nameHash), value: object.id },
          ...segments.flatMap((s) => segmentPutOps(object.id, s))
        )
      }
      for (const account of accounts.values()) ops.push({ type: 'put', key: K.account(account.id), value: account })
      await this.#db.batch(ops)
    })
  }

  abortUpload(uploadId: string, deletes: readonly DeleteOrderRecord[]): Promise<void> {
    return this.#withUpload(uploadId, async (upload) => {
      const ops = await this.#uploadRemoval(upload)
      const account = await this.#db.get<AccountRecord>(K.account(upload.owner))
      if (account !== undefined) {
        ops.push({
          type: 'put',
          key: K.account(account.id),
          value: { ...account, ...totalsAfterAbort(account, upload.size) }
        })
      }
      queueOps(ops, deletes)
      await this.#db.batch(ops)
    })
  }

  async #uploadRemoval(upload: UploadRecord): Promise<Op[]> {
    const segmentKeys = await this.#db.level.keys(range(`useg:${upload.id}:`)).all()
    return [
      { type: 'del', key: K.upload(upload.id) },
      { type: 'del', key: K.uploadExp(upload.expiresAt, upload.id) },
      { type: 'del', key: K.uploadOwner(upload) },
      ...segmentKeys.map((key): Op => ({ type: 'del', key }))
    ]
  }
}
