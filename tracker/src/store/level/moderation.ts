import type { AbuseReport, ModerationAction, SuspensionRecord, TakedownRecord } from '../moderation-records.ts'
import type { ModerationStore } from '../store.ts'
import { type LevelDb, type Op, range } from './level-db.ts'

/*
 * Keys (written only here):
 *   takedown:<shareId>       -> TakedownRecord
 *   suspension:<accountId>   -> SuspensionRecord
 *   modlog:<actionId>        -> ModerationAction (ids sort by time)
 *   report:<reportId>        -> AbuseReport (ids sort by time)
 */
const key = {
  takedown: (id: string) => `takedown:${id}`,
  suspension: (id: string) => `suspension:${id}`,
  action: (id: string) => `modlog:${id}`,
  report: (id: string) => `report:${id}`
}

export class LevelModeration implements ModerationStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  setTakedown(shareId: string, takedown: TakedownRecord | undefined, action: ModerationAction): Promise<boolean> {
    return this.#set(key.takedown(shareId), takedown, action)
  }

  getTakedown(shareId: string): Promise<TakedownRecord | undefined> {
    return this.#db.get(key.takedown(shareId))
  }

  setSuspension(
    accountId: string,
    suspension: SuspensionRecord | undefined,
    action: ModerationAction
  ): Promise<boolean> {
    return this.#set(key.suspension(accountId), suspension, action)
  }

  getSuspension(accountId: string): Promise<SuspensionRecord | undefined> {
    return this.#db.get(key.suspension(accountId))
  }

  async addReport(report: AbuseReport): Promise<void> {
    await this.#db.batch([{ type: 'put', key: key.report(report.id), value: report }])
  }

  listReports(limit: number): Promise<AbuseReport[]> {
    return this.#newest('report:', limit)
  }

  listActions(limit: number): Promise<ModerationAction[]> {
    return this.#newest('modlog:', limit)
  }

  async #newest<T>(prefix: string, limit: number): Promise<T[]> {
    return (await this.#db.level.values({ ...range(prefix), reverse: true, limit }).all()) as T[]
  }

  /** Sets or clears one record and logs the action, under the record's lock; false if nothing changes. */
  #set(recordKey: string, value: unknown, action: ModerationAction): Promise<boolean> {
    return this.#db.locks.run(recordKey, async () => {
      const present = (await this.#db.get(recordKey)) !== undefined
      if (present === (value !== undefined)) return false
      const ops: Op[] = [
        value === undefined ? { type: 'del', key: recordKey } : { type: 'put', key: recordKey, value },
        { type: 'put', key: key.action(action.id), value: action }
      ]
      await this.#db.batch(ops)
      return true
    })
  }
}
