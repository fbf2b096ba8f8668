import type { ShareRecord } from '../records.ts'
import { revoked, shareNotFound, withExpiry } from '../rules.ts'
import type { ShareStore } from '../store.ts'
import { K, type LevelDb, range } from './level-db.ts'

export class LevelShares implements ShareStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  async createShare(share: ShareRecord): Promise<void> {
    await this.#db.batch([
      { type: 'put', key: K.share(share.id), value: share },
      { type: 'put', key: K.shareOwner(share), value: share.id }
    ])
  }

  getShare(id: string): Promise<ShareRecord | undefined> {
    return this.#db.get(K.share(id))
  }

  async listShares(owner: string): Promise<ShareRecord[]> {
    const ids = (await this.#db.level.values({ ...range(`share-owner:${owner}:`), reverse: true }).all()) as string[]
    return this.#db.many(ids.map(K.share))
  }

  revokeShare(id: string, at: number): Promise<ShareRecord> {
    return this.#db.locks.run(K.share(id), async () => {
      const share = await this.getShare(id)
      if (share === undefined) throw shareNotFound(id)
      const after = revoked(share, at)
      if (after !== share) await this.#db.batch([{ type: 'put', key: K.share(id), value: after }])
      return after
    })
  }

  updateShareExpiry(id: string, expiresAt: number | undefined): Promise<ShareRecord> {
    return this.#db.locks.run(K.share(id), async () => {
      const share = await this.getShare(id)
      if (share === undefined) throw shareNotFound(id)
      const after = withExpiry(share, expiresAt)
      await this.#db.batch([{ type: 'put', key: K.share(id), value: after }])
      return after
    })
  }

  countShareDownload(id: string): Promise<void> {
    return this.#db.locks.run(K.share(id), async () => {
      const share = await this.getShare(id)
      if (share === undefined) throw shareNotFound(id)
      await this.#db.batch([
        { type: 'put', key: K.share(id), value: { ...share, downloads: (share.downloads ?? 0) + 1 } }
      ])
    })
  }
}
