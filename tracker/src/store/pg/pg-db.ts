import { ErrorCode, ShoalError } from '@shoal/core'
import pg from 'pg'
import { checkSchema, migrate } from './migrate.ts'

export interface PgStoreInit {
  /** postgres://user@host:port/database */
  url: string
  /** Pool size per process; default 10. */
  maxConnections?: number
  /**
   * Apply missing migrations on open (tests, the single-process default). Off, open() refuses a database that
   * is not at this code's schema and names the migrate command.
   */
  migrate?: boolean
}

const INT8_OID = 20
const NUMERIC_OID = 1700

/**
 * bigint columns hold milliseconds, bytes and micro-units, all far below 2^53: read them as numbers, and fail
 * loudly rather than round if one ever is not.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) {
      return (text: string) => {
        const n = Number(text)
        if (!Number.isSafeInteger(n)) throw new RangeError(`database value ${text} is not a safe integer`)
        return n
      }
    }
    return pg.types.getTypeParser(oid, format ?? 'text')
  }
} as unknown as pg.CustomTypesConfig

/** Names of prepared statements by their SQL (a fixed set: the store's own statements). */
const statementNames = new Map<string, string>()

/**
 * How long a pooled connection may sit unused before it is closed. pg's default, 10 s, closed connections
 * whenever the load dipped below the pool's size, and the next busy second opened them again: a backend
 * started (a process, its caches cold) and every named statement parsed and planned again on it, CPU on both
 * sides for nothing. Ten connections per tracker are cheap to keep; a tracker idle for minutes lets them go.
 */
const IDLE_CONNECTION_MS = 5 * 60_000

/** Transient failures that a retried transaction is expected to get past. */
const RETRYABLE = new Set(['40001', '40P01'])
const MAX_ATTEMPTS = 5

/**
 * A connection inside one transaction. Its statements are named prepared statements too, as `PgDb.query`'s:
 * each connection parses and plans one once, not on every call (the upload path is mostly transactions).
 */
export interface Db {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>
}

/** The name of a statement's SQL (a fixed set: the store's own statements). */
function statementName(sql: string): string {
  let name = statementNames.get(sql)
  if (name === undefined) {
    name = `shoal_${statementNames.size}`
    statementNames.set(sql, name)
  }
  return name
}

/**
 * The pool the domain parts of a PgStore share. Every store method is one statement (`query`) or one
 * transaction (`tx`), READ COMMITTED, locking the rows its decision depends on with SELECT ... FOR UPDATE, always
 * in the order account → upload → object, so two trackers serialize on the same account and never deadlock.
 * close() waits for every statement and transaction in flight.
 */
export class PgDb {
  readonly #init: PgStoreInit
  #pool: pg.Pool | undefined
  #opening: Promise<void> | undefined
  readonly #inFlight = new Set<Promise<unknown>>()

  constructor(init: PgStoreInit) {
    this.#init = init
  }

  /** Where it connects, without a password, for messages. */
  get where(): string {
    return redact(this.#init.url)
  }

  open(): Promise<void> {
    if (this.#pool !== undefined) return Promise.resolve()
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined
    })
    return this.#opening
  }

  async #open(): Promise<void> {
    const pool = new pg.Pool({
      connectionString: this.#init.url,
      max: this.#init.maxConnections ?? 10,
      types,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: IDLE_CONNECTION_MS
    })
    // An idle client losing its connection (the server restarted) must not crash the process: the pool drops it.
    pool.on('error', () => undefined)
    try {
      if (this.#init.migrate === true) await migrate(pool)
      else await checkSchema(pool, this.where)
    } catch (err) {
      await pool.end()
      throw connectionError(err, this.where)
    }
    this.#pool = pool
  }

  async close(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined)
    const pool = this.#pool
    if (pool === undefined) return
    this.#pool = undefined
    await Promise.allSettled([...this.#inFlight])
    await pool.end()
  }

  get #db(): pg.Pool {
    if (this.#pool === undefined) throw new ShoalError(ErrorCode.INTERNAL, 'store is not open')
    return this.#pool
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise)
    const forget = () => this.#inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  /**
   * Single statements outside transactions run as named prepared statements: each connection plans them once,
   * not on every request (the grant path is a few such reads per request).
   */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.run<R>(sql, params)).rows
  }

  /** Same as query, with the whole result (rowCount). */
  run<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.#track(this.#db.query<R>({ name: statementName(sql), text: sql, values: params }))
  }

  /**
   * A single statement that takes row locks (a function such as shoal_commit_upload), retried as a transaction
   * is on a serialization failure or deadlock.
   */
  async queryRetried<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.query<R>(sql, params)
      } catch (err) {
        const code = (err as { code?: unknown }).code
        if (typeof code === 'string' && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue
        throw err
      }
    }
  }

  /** Runs `fn` in one transaction, retried from the start on a serialization failure or deadlock. */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.#track(this.#runTx(fn))
  }

  async #runTx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const client = await this.#db.connect()
    const db: Db = {
      query: <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
        client.query<R>({ name: statementName(sql), text: sql, values: params })
    }
    try {
      for (let attempt = 1; ; attempt++) {
        await client.query('BEGIN')
        try {
          const result = await fn(db)
          await client.query('COMMIT')
          return result
        } catch (err) {
          await client.query('ROLLBACK')
          const code = (err as { code?: unknown }).code
          if (typeof code === 'string' && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue
          throw err
        }
      }
    } finally {
      client.release()
    }
  }
}

/** A connection URL without its password. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable PostgreSQL URL)'
  }
}

function connectionError(err: unknown, where: string): unknown {
  const code = (err as { code?: unknown }).code
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '3D000' || code === '28000' || code === '28P01') {
    return new ShoalError(
      ErrorCode.INTERNAL,
      `cannot reach PostgreSQL at ${where}: ${(err as Error).message} (is the server running, does the database exist?)`,
      { cause: err }
    )
  }
  return err
}
