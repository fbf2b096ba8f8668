import { ErrorCode } from '@shoal/core'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { migrate, schemaVersion } from '../src/store/pg/migrate.ts'
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/pg/migrations.ts'
import { PgStore } from '../src/store/pg/pg-store.ts'
import { createTestDatabase, testPool } from './pg-harness.ts'
import { accountRecord, runStoreCompliance } from './store-compliance.ts'

runStoreCompliance('PgStore', async () => {
  const db = await createTestDatabase()
  return {
    create: async () => new PgStore({ url: db.url, migrate: true, maxConnections: 4 }),
    destroy: () => db.drop()
  }
})

describe('PgStore schema', () => {
  async function database() {
    const db = await createTestDatabase()
    const pool = testPool(db, 4)
    onTestFinished(async () => {
      await pool.end()
      await db.drop()
    })
    return { db, pool }
  }

  it('refuses an unmigrated database and names the migrate command', async () => {
    const { db } = await database()
    const store = new PgStore({ url: db.url })
    await expect(store.open()).rejects.toMatchObject({
      code: ErrorCode.INTERNAL,
      message: expect.stringContaining('shoal-tracker migrate --postgres')
    })
  })

  it('migrates once even when several processes race, and refuses a newer schema', async () => {
    const { db, pool } = await database()
    const pools = [pool, testPool(db, 2), testPool(db, 2)]
    onTestFinished(async () => {
      await pools[1]?.end()
      await pools[2]?.end()
    })
    const results = await Promise.all(pools.map((p) => migrate(p)))
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, MIGRATIONS.length])
    expect(await schemaVersion(pool)).toBe(SCHEMA_VERSION)
    expect((await migrate(pool)).applied).toEqual([])

    const store = new PgStore({ url: db.url })
    await store.open()
    const account = accountRecord()
    await store.accounts.createAccount(account)
    expect(await store.accounts.getAccount(account.id)).toEqual(account)
    await store.close()

    await pool.query(`INSERT INTO shoal_migrations (version, name) VALUES ($1, 'from the future')`, [
      SCHEMA_VERSION + 1
    ])
    await expect(new PgStore({ url: db.url }).open()).rejects.toMatchObject({
      message: expect.stringContaining('newer than this tracker knows')
    })
    await expect(migrate(pool)).rejects.toMatchObject({ message: expect.stringContaining('newer') })
  })

  it('a failed migration leaves the database at the previous version', async () => {
    const { pool } = await database()
    const broken = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'broken', sql: 'CREATE TABLE x (; nonsense' }]
    await expect(migrate(pool, broken)).rejects.toMatchObject({ message: expect.stringContaining('broken') })
    expect(await schemaVersion(pool)).toBe(SCHEMA_VERSION)
  })

  it('applies a migration merged below the database version (numbers are taken by branches in parallel)', async () => {
    const { db, pool } = await database()
    const late = MIGRATIONS.at(-2) as (typeof MIGRATIONS)[number]
    await migrate(
      pool,
      MIGRATIONS.filter((m) => m !== late)
    )
    expect(await schemaVersion(pool)).toBe(SCHEMA_VERSION)
    await expect(new PgStore({ url: db.url }).open()).rejects.toMatchObject({
      message: expect.stringContaining('lacks 1 migration')
    })
    expect((await migrate(pool)).applied).toEqual([{ version: late.version, name: late.name }])
    const store = new PgStore({ url: db.url })
    await store.open()
    await store.close()
  })

  it('applies a migration numbered below one already applied (branches merged out of order)', async () => {
    const { pool } = await database()
    const later = { version: SCHEMA_VERSION + 2, name: 'later branch', sql: 'CREATE TABLE later_branch (id int)' }
    const earlier = { version: SCHEMA_VERSION + 1, name: 'earlier branch', sql: 'CREATE TABLE earlier_branch (id int)' }
    await migrate(pool, [...MIGRATIONS, later])
    const merged = [...MIGRATIONS, earlier, later]
    expect((await migrate(pool, merged)).applied).toEqual([{ version: earlier.version, name: earlier.name }])
    expect((await migrate(pool, merged)).applied).toEqual([])
    expect((await pool.query(`SELECT to_regclass('earlier_branch')::text AS t`)).rows[0]?.t).toBe('earlier_branch')
  })

  it('keeps its connections open through a lull (their backends and prepared statements with them)', async () => {
    const { db, pool } = await database()
    await migrate(pool)
    const store = new PgStore({ url: db.url, maxConnections: 4 })
    await store.open()
    onTestFinished(() => store.close())
    const backends = async () =>
      (
        await pool.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY pid',
          [db.name]
        )
      ).rows.map((r) => r.pid)
    const before = await backends()
    // Four reads at once: four connections, each released idle when its read ends.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => void vi.useRealTimers())
    await Promise.all(Array.from({ length: 4 }, (_, i) => store.accounts.getAccount(`nobody${i}`)))
    const opened = (await backends()).filter((pid) => !before.includes(pid))
    expect(opened.length).toBeGreaterThanOrEqual(1)
    // A minute without a request (pg's own default closes idle connections after 10 s): still the same backends.
    vi.advanceTimersByTime(60_000)
    await store.accounts.getAccount('nobody')
    expect((await backends()).filter((pid) => opened.includes(pid))).toEqual(opened)
  })

  it('says clearly when the server cannot be reached', async () => {
    const store = new PgStore({ url: 'postgres://postgres@127.0.0.1:1/nothing' })
    await expect(store.open()).rejects.toMatchObject({ message: expect.stringContaining('cannot reach PostgreSQL') })
  })
})
