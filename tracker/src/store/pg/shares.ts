import type { ShareRecord } from '../records.ts'
import { revoked, shareNotFound, withExpiry } from '../rules.ts'
import type { ShareStore } from '../store.ts'
import type { PgDb } from './pg-db.ts'

export class PgShares implements ShareStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  async createShare(share: ShareRecord): Promise<void> {
    await this.#db.query('INSERT INTO shares (id, owner, created_at, record) VALUES ($1, $2, $3, $4)', [
      share.id,
      share.owner,
      share.createdAt,
      JSON.stringify(share)
    ])
  }

  async getShare(id: string): Promise<ShareRecord | undefined> {
    const [row] = await this.#db.query<{ record: ShareRecord }>('SELECT record FROM shares WHERE id = $1', [id])
    return row?.record
  }

  async listShares(owner: string): Promise<ShareRecord[]> {
    const rows = await this.#db.query<{ record: ShareRecord }>(
      'SELECT record FROM shares WHERE owner = $1 ORDER BY created_at DESC, id DESC',
      [owner]
    )
    return rows.map((r) => r.record)
  }

  revokeShare(id: string, at: number): Promise<ShareRecord> {
    return this.#db.tx(async (db) => {
      const { rows } = await db.query<{ record: ShareRecord }>('SELECT record FROM shares WHERE id = $1 FOR UPDATE', [
        id
      ])
      const share = rows[0]?.record
      if (share === undefined) throw shareNotFound(id)
      const after = revoked(share, at)
      if (after !== share) await db.query('UPDATE shares SET record = $2 WHERE id = $1', [id, JSON.stringify(after)])
      return after
    })
  }

  updateShareExpiry(id: string, expiresAt: number | undefined): Promise<ShareRecord> {
    return this.#db.tx(async (db) => {
      const { rows } = await db.query<{ record: ShareRecord }>('SELECT record FROM shares WHERE id = $1 FOR UPDATE', [
        id
      ])
      const share = rows[0]?.record
      if (share === undefined) throw shareNotFound(id)
      const after = withExpiry(share, expiresAt)
      await db.query('UPDATE shares SET record = $2 WHERE id = $1', [id, JSON.stringify(after)])
      return after
    })
  }

  async countShareDownload(id: string): Promise<void> {
    // One statement: trackers counting the same share at once each add their one.
    const result = await this.#db.run(
      `UPDATE shares SET record = jsonb_set(record, '{downloads}', to_jsonb(COALESCE((record->>'downloads')::bigint, 0) + 1))
       WHERE id = $1`,
      [id]
    )
    if (result.rowCount === 0) throw shareNotFound(id)
  }
}
