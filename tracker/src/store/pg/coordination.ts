import { type BucketKey, MAX_BUCKET_IDLE_MS, takeTokens } from '../../rate-limit.ts'
import type { RepairItem, ScanCursor, SegmentKey } from '../records.ts'
import type { CoordinationStore } from '../store.ts'
import type { PgDb } from './pg-db.ts'

/** How often (per process) idle rate-limit buckets are deleted. */
const BUCKET_SWEEP_MS = 60_000

export class PgCoordination implements CoordinationStore {
  readonly #db: PgDb
  #bucketsSweptAt = 0

  constructor(db: PgDb) {
    this.#db = db
  }

  takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0)
    return this.#db.tx(async (db) => {
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

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    // One statement decides, across every tracker: the row is taken over only when free, expired or ours.
    const rows = await this.#db.query<{ holder: string }>(
      `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4
       RETURNING holder`,
      [name, holder, now + ttlMs, now]
    )
    return rows.length === 1
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.#db.query('DELETE FROM leases WHERE name = $1 AND holder = $2', [name, holder])
  }

  async getCursor(name: string): Promise<ScanCursor | undefined> {
    const [row] = await this.#db.query<{ record: ScanCursor }>('SELECT record FROM scan_cursors WHERE name = $1', [
      name
    ])
    return row?.record
  }

  async putCursor(name: string, cursor: ScanCursor): Promise<boolean> {
    const params = [name, cursor.version, JSON.stringify(cursor)]
    // One statement decides: the first write only inserts, every later one only updates over version - 1.
    const rows = await this.#db.query<{ name: string }>(
      cursor.version === 1
        ? 'INSERT INTO scan_cursors (name, version, record) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING name'
        : 'UPDATE scan_cursors SET version = $2, record = $3 WHERE name = $1 AND version = $2 - 1 RETURNING name',
      params
    )
    return rows.length === 1
  }

  async queueRepairs(items: readonly RepairItem[]): Promise<void> {
    if (items.length === 0) return
    await this.#db.query(
      `INSERT INTO repair_queue (object_id, idx, healthy, queued_at)
       SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[])
       ON CONFLICT (object_id, idx) DO UPDATE SET healthy = EXCLUDED.healthy`,
      [
        items.map((i) => i.objectId),
        items.map((i) => i.index),
        items.map((i) => i.healthy),
        items.map((i) => i.queuedAt)
      ]
    )
  }

  async claimRepairs(holder: string, now: number, ttlMs: number, limit: number): Promise<RepairItem[]> {
    // SKIP LOCKED: two trackers claiming at once each get other rows, neither waits for the other.
    const rows = await this.#db.query<{ object_id: string; idx: number; healthy: number; queued_at: number }>(
      `UPDATE repair_queue q SET holder = $1, claimed_until = $2
       FROM (SELECT object_id, idx FROM repair_queue WHERE claimed_until IS NULL OR claimed_until <= $3
             ORDER BY healthy, object_id, idx LIMIT $4 FOR UPDATE SKIP LOCKED) c
       WHERE q.object_id = c.object_id AND q.idx = c.idx
       RETURNING q.object_id, q.idx, q.healthy, q.queued_at`,
      [holder, now + ttlMs, now, limit]
    )
    return rows
      .map((r) => ({ objectId: r.object_id, index: r.idx, healthy: r.healthy, queuedAt: r.queued_at }))
      .sort((a, b) => a.healthy - b.healthy)
  }

  async finishRepair(key: SegmentKey, holder: string): Promise<void> {
    await this.#db.query('DELETE FROM repair_queue WHERE object_id = $1 AND idx = $2 AND holder = $3', [
      key.objectId,
      key.index,
      holder
    ])
  }

  async countRepairs(): Promise<number> {
    const [row] = await this.#db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM repair_queue')
    return row?.n ?? 0
  }
}
