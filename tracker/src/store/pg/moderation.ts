import type { AbuseReport, ModerationAction, SuspensionRecord, TakedownRecord } from '../moderation-records.ts'
import type { ModerationStore } from '../store.ts'
import type { PgDb } from './pg-db.ts'

type Table = 'takedowns' | 'suspensions'

export class PgModeration implements ModerationStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  setTakedown(shareId: string, takedown: TakedownRecord | undefined, action: ModerationAction): Promise<boolean> {
    return this.#set('takedowns', shareId, takedown, action)
  }

  getTakedown(shareId: string): Promise<TakedownRecord | undefined> {
    return this.#get('takedowns', shareId)
  }

  setSuspension(
    accountId: string,
    suspension: SuspensionRecord | undefined,
    action: ModerationAction
  ): Promise<boolean> {
    return this.#set('suspensions', accountId, suspension, action)
  }

  getSuspension(accountId: string): Promise<SuspensionRecord | undefined> {
    return this.#get('suspensions', accountId)
  }

  async addReport(report: AbuseReport): Promise<void> {
    await this.#db.query('INSERT INTO abuse_reports (id, record) VALUES ($1, $2)', [report.id, JSON.stringify(report)])
  }

  async listReports(limit: number): Promise<AbuseReport[]> {
    const rows = await this.#db.query<{ record: AbuseReport }>(
      'SELECT record FROM abuse_reports ORDER BY id DESC LIMIT $1',
      [limit]
    )
    return rows.map((r) => r.record)
  }

  async listActions(limit: number): Promise<ModerationAction[]> {
    const rows = await this.#db.query<{ record: ModerationAction }>(
      'SELECT record FROM moderation_log ORDER BY id DESC LIMIT $1',
      [limit]
    )
    return rows.map((r) => r.record)
  }

  async #get<T>(table: Table, id: string): Promise<T | undefined> {
    const [row] = await this.#db.query<{ record: T }>(`SELECT record FROM ${table} WHERE id = $1`, [id])
    return row?.record
  }

  /** Inserts or deletes one row and logs the action in one transaction; false (nothing logged) if no row changed. */
  #set(table: Table, id: string, value: unknown, action: ModerationAction): Promise<boolean> {
    return this.#db.tx(async (db) => {
      const { rowCount } =
        value === undefined
          ? await db.query(`DELETE FROM ${table} WHERE id = $1`, [id])
          : await db.query(`INSERT INTO ${table} (id, record) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [
              id,
              JSON.stringify(value)
            ])
      if (rowCount !== 1) return false
      await db.query('INSERT INTO moderation_log (id, record) VALUES ($1, $2)', [action.id, JSON.stringify(action)])
      return true
    })
  }
}
