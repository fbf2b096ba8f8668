import { ErrorCode, ShoalError } from '@shoal/core'
import type pg from 'pg'
import { MIGRATIONS, type Migration, SCHEMA_VERSION } from './migrations.ts'

/** Any key will do as long as every tracker uses the same one: it serializes migrations across processes. */
const MIGRATION_LOCK = 0x5e0a1_01

export interface MigrationResult {
  from: number
  to: number
  applied: { version: number; name: string }[]
}

/** Versions applied so far (0 on an empty database). */
export async function schemaVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('shoal_migrations')::text AS t`)
  if (exists.rows[0]?.t == null) return 0
  const row = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM shoal_migrations')
  return row.rows[0]?.v ?? 0
}

/**
 * The versions applied so far. Migrations written on parallel branches can land out of order (14 before 13),
 * so a database is up to date when every known version is applied, not when the newest one is.
 */
async function appliedVersions(db: pg.Pool | pg.PoolClient): Promise<Set<number>> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('shoal_migrations')::text AS t`)
  if (exists.rows[0]?.t == null) return new Set()
  const rows = await db.query<{ version: number }>('SELECT version FROM shoal_migrations')
  return new Set(rows.rows.map((r) => r.version))
}

/**
 * Brings the database to `SCHEMA_VERSION`. Safe to run from several processes at once: an advisory lock makes
 * them take turns, and the later ones find nothing left to do. Refuses a database written by newer code.
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS shoal_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`
      )
      const from = await schemaVersion(client)
      const newest = migrations.at(-1)?.version ?? 0
      if (from > newest) throw newerSchema(from, newest)
      const done = await appliedVersions(client)
      const applied: MigrationResult['applied'] = []
      for (const migration of migrations) {
        if (done.has(migration.version)) continue
        await client.query('BEGIN')
        try {
          await client.query(migration.sql)
          await client.query('INSERT INTO shoal_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name
          ])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK')
          throw new ShoalError(
            ErrorCode.INTERNAL,
            `migration ${migration.version} (${migration.name}) failed: ${(err as Error).message}`,
            { cause: err }
          )
        }
        applied.push({ version: migration.version, name: migration.name })
      }
      return { from, to: Math.max(from, newest), applied }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
    }
  } finally {
    client.release()
  }
}

/** Throws unless the database has exactly the migrations this code knows. */
export async function checkSchema(pool: pg.Pool, where: string): Promise<void> {
  const version = await schemaVersion(pool)
  if (version > SCHEMA_VERSION) throw newerSchema(version, SCHEMA_VERSION)
  const missing = version === 0 ? MIGRATIONS.length : await missingMigrations(pool)
  if (missing === 0) return
  throw new ShoalError(
    ErrorCode.INTERNAL,
    `the PostgreSQL database ${where} is at schema ${version} and lacks ${missing} migration(s) this tracker needs (up to ${SCHEMA_VERSION}): run "shoal-tracker migrate --postgres URL" first`,
    { details: { schema: version, needed: SCHEMA_VERSION, missing } }
  )
}

/** Known migrations the database has not recorded (one merged below a version it already has). */
async function missingMigrations(pool: pg.Pool): Promise<number> {
  const done = await appliedVersions(pool)
  return MIGRATIONS.filter((m) => !done.has(m.version)).length
}

function newerSchema(found: number, known: number): ShoalError {
  return new ShoalError(
    ErrorCode.INTERNAL,
    `the PostgreSQL database is at schema ${found}, newer than this tracker knows (${known}): upgrade the tracker`,
    { details: { schema: found, known } }
  )
}
