import { type BucketKey, MemoryBuckets } from '../../rate-limit.ts'
import type { RepairItem, ScanCursor, SegmentKey } from '../records.ts'
import type { CoordinationStore } from '../store.ts'
import { K, type LevelDb, range } from './level-db.ts'

/**
 * One process owns a level database, so its rate-limit buckets, leases and repair claims can stay in memory: a
 * restart refills the buckets, the holder of a lease is always this process's own, and a claim dies with the
 * process that held it (its item is free again at once). The cursors and the repair queue are on disk.
 */
export class LevelCoordination implements CoordinationStore {
  readonly #db: LevelDb
  readonly #buckets = new MemoryBuckets()
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>()
  /** Claimed repair items by `repair:` key. */
  readonly #claims = new Map<string, { holder: string; until: number }>()

  constructor(db: LevelDb) {
    this.#db = db
  }

  async takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number> {
    return this.#buckets.take(keys, now)
  }

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    const lease = this.#leases.get(name)
    if (lease !== undefined && lease.holder !== holder && lease.expiresAt > now) return false
    this.#leases.set(name, { holder, expiresAt: now + ttlMs })
    return true
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.#leases.get(name)?.holder === holder) this.#leases.delete(name)
  }

  getCursor(name: string): Promise<ScanCursor | undefined> {
    return this.#db.get(K.cursor(name))
  }

  putCursor(name: string, cursor: ScanCursor): Promise<boolean> {
    return this.#db.locks.run(K.cursor(name), async () => {
      const current = await this.#db.get<ScanCursor>(K.cursor(name))
      if ((current?.version ?? 0) !== cursor.version - 1) return false
      await this.#db.batch([{ type: 'put', key: K.cursor(name), value: cursor }])
      return true
    })
  }

  queueRepairs(items: readonly RepairItem[]): Promise<void> {
    return this.#db.locks.run('repair-queue', async () => {
      const keys = items.map(K.repair)
      const current = keys.length === 0 ? [] : ((await this.#db.level.getMany(keys)) as (RepairItem | undefined)[])
      await this.#db.batch(
        items.flatMap((item, i) => {
          const old = current[i]
          const queued = { ...item, queuedAt: old?.queuedAt ?? item.queuedAt }
          return [
            ...(old === undefined ? [] : [{ type: 'del' as const, key: K.repairOrder(old) }]),
            { type: 'put' as const, key: K.repair(item), value: queued },
            { type: 'put' as const, key: K.repairOrder(item), value: K.repair(item) }
          ]
        })
      )
    })
  }

  claimRepairs(holder: string, now: number, ttlMs: number, limit: number): Promise<RepairItem[]> {
    return this.#db.locks.run('repair-queue', async () => {
      const keys: string[] = []
      for await (const key of this.#db.level.values(range('repair-order:')) as AsyncIterable<string>) {
        if (keys.length >= limit) break
        const claim = this.#claims.get(key)
        if (claim === undefined || claim.until <= now) keys.push(key)
      }
      for (const key of keys) this.#claims.set(key, { holder, until: now + ttlMs })
      return this.#db.many<RepairItem>(keys)
    })
  }

  finishRepair(key: SegmentKey, holder: string): Promise<void> {
    return this.#db.locks.run('repair-queue', async () => {
      const id = K.repair(key)
      if (this.#claims.get(id)?.holder !== holder) return
      this.#claims.delete(id)
      const item = await this.#db.get<RepairItem>(id)
      if (item === undefined) return
      await this.#db.batch([
        { type: 'del', key: id },
        { type: 'del', key: K.repairOrder(item) }
      ])
    })
  }

  async countRepairs(): Promise<number> {
    let n = 0
    for await (const _ of this.#db.level.keys(range('repair:'))) n++
    return n
  }
}
