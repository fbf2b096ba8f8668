import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * PostgreSQL for tests: the server at 127.0.0.1:5432 (trust auth, user postgres) unless SHOAL_TEST_POSTGRES
 * names another admin URL. Every harness gets a database of its own, created empty and dropped afterwards, so
 * test files running in parallel never see each other's rows.
 */
export const ADMIN_URL = process.env.SHOAL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres'

const HOW_TO =
  'The PostgreSQL store tests need a server: start it with ' +
  '"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" (trust auth for user postgres on ' +
  '127.0.0.1:5432), or point SHOAL_TEST_POSTGRES at an admin URL of another server. See README, "PostgreSQL".'

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${ADMIN_URL} (${(err as Error).message}). ${HOW_TO}`)
  }
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export interface TestDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

/** A new, empty database; `drop` removes it (closing connections that are left). */
export async function createTestDatabase(prefix = 'shoal_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(6).toString('hex')}`
  await admin((c) => c.query(`CREATE DATABASE ${name}`))
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  }
}

/**
 * A pool on a test database. Dropping the database (WITH FORCE) ends every connection still open with
 * "terminating connection due to administrator command" (57P01), which reaches an idle client of a pool that
 * has not finished closing as an 'error' event; that one is expected and ignored, any other is thrown.
 */
export function testPool(db: TestDatabase, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, max })
  pool.on('error', (err) => {
    if ((err as { code?: unknown }).code !== '57P01') throw err
  })
  return pool
}
