import type { ApiKeyRecord, AuditRecord, PlanChange } from '../money-records.ts'
import type {
  AccountKeysUpdate,
  AccountRecord,
  PendingSignupRecord,
  RecoveryRecord,
  SessionRecord,
  VersionPolicy
} from '../records.ts'
import { accountExists, accountNotFound, checkPlanQuota, verificationFailed } from '../rules.ts'
import type { AccountStore } from '../store.ts'
import type { Db, PgDb } from './pg-db.ts'

export interface AccountRow {
  id: string
  email: string
  auth_salt: string
  auth_hash: string
  wrapped_master_key: string
  quota: number
  used: number
  reserved: number
  objects: number
  created_at: number
  plan: string | null
  /** Migration 10; a RecoveryRecord. */
  recovery: RecoveryRecord | null
}

export function toAccount(row: AccountRow): AccountRecord {
  return {
    id: row.id,
    email: row.email,
    authSalt: row.auth_salt,
    authHash: row.auth_hash,
    wrappedMasterKey: row.wrapped_master_key,
    quota: row.quota,
    used: row.used,
    reserved: row.reserved,
    objects: row.objects,
    createdAt: row.created_at,
    ...(row.plan === null ? {} : { plan: row.plan }),
    ...(row.recovery === null || row.recovery === undefined ? {} : { recovery: row.recovery })
  }
}

async function insertAccount(db: Db, a: AccountRecord): Promise<void> {
  await db.query(
    `INSERT INTO accounts (id, email, auth_salt, auth_hash, wrapped_master_key, quota, used, reserved, objects,
       created_at, plan, recovery) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      a.id,
      a.email,
      a.authSalt,
      a.authHash,
      a.wrappedMasterKey,
      a.quota,
      a.used,
      a.reserved,
      a.objects,
      a.createdAt,
      a.plan ?? null,
      a.recovery === undefined ? null : JSON.stringify(a.recovery)
    ]
  )
}

/** Locks an account row: every decision on an account's quota holds this lock first. */
export async function lockAccount(db: Db, id: string): Promise<AccountRecord | undefined> {
  const { rows } = await db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1 FOR UPDATE', [id])
  const row = rows[0]
  return row === undefined ? undefined : toAccount(row)
}

/** Writes an account's totals (its row is locked by the caller). */
export async function setTotals(
  db: Db,
  id: string,
  totals: Pick<AccountRecord, 'used' | 'objects' | 'reserved'>
): Promise<void> {
  await db.query('UPDATE accounts SET used = $2, objects = $3, reserved = $4 WHERE id = $1', [
    id,
    totals.used,
    totals.objects,
    totals.reserved
  ])
}

/** Appends to the audit log inside a transaction. */
export async function insertAudit(db: Db, record: AuditRecord): Promise<void> {
  await db.query('INSERT INTO audit_log (account_id, id, record) VALUES ($1, $2, $3)', [
    record.accountId,
    record.id,
    JSON.stringify(record)
  ])
}

export class PgAccounts implements AccountStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  async createAccount(a: AccountRecord): Promise<void> {
    try {
      await this.#db.tx((db) => insertAccount(db, a))
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505') throw accountExists()
      throw err
    }
  }

  async putPendingSignup(p: PendingSignupRecord): Promise<void> {
    await this.#db.query(
      `INSERT INTO pending_signups (email, expires_at, record) VALUES ($1, $2, $3)
       ON CONFLICT (email) DO UPDATE SET expires_at = EXCLUDED.expires_at, record = EXCLUDED.record`,
      [p.email, p.expiresAt, JSON.stringify(p)]
    )
  }

  async getPendingSignup(email: string): Promise<PendingSignupRecord | undefined> {
    const [row] = await this.#db.query<{ record: PendingSignupRecord }>(
      'SELECT record FROM pending_signups WHERE email = $1',
      [email]
    )
    return row?.record
  }

  async confirmPendingSignup(email: string, codeHash: string): Promise<AccountRecord> {
    try {
      return await this.#db.tx(async (db) => {
        // Deleting only the record with this code: a sign-up that replaced it meanwhile stays.
        const { rows } = await db.query<{ record: PendingSignupRecord }>(
          `DELETE FROM pending_signups WHERE email = $1 AND record->>'codeHash' = $2 RETURNING record`,
          [email, codeHash]
        )
        const pending = rows[0]?.record
        if (pending === undefined) throw verificationFailed()
        await insertAccount(db, pending.account)
        return pending.account
      })
    } catch (err) {
      // The unique email: the transaction rolled back, so the sign-up is still waiting.
      if ((err as { code?: unknown }).code === '23505') throw accountExists()
      throw err
    }
  }

  async deleteExpiredPendingSignups(now: number): Promise<number> {
    const result = await this.#db.run('DELETE FROM pending_signups WHERE expires_at <= $1', [now])
    return result.rowCount ?? 0
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const [row] = await this.#db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id])
    return row === undefined ? undefined : toAccount(row)
  }

  async getVersionPolicy(accountId: string): Promise<VersionPolicy | undefined> {
    const [row] = await this.#db.query<{ policy: VersionPolicy }>(
      'SELECT policy FROM version_policies WHERE account_id = $1',
      [accountId]
    )
    return row?.policy
  }

  async setVersionPolicy(accountId: string, policy: VersionPolicy): Promise<void> {
    await this.#db.query(
      `INSERT INTO version_policies (account_id, policy) VALUES ($1, $2)
       ON CONFLICT (account_id) DO UPDATE SET policy = EXCLUDED.policy`,
      [accountId, JSON.stringify(policy)]
    )
  }

  async getAccountByEmail(email: string): Promise<AccountRecord | undefined> {
    const [row] = await this.#db.query<AccountRow>('SELECT * FROM accounts WHERE email = $1', [email])
    return row === undefined ? undefined : toAccount(row)
  }

  async putSession(s: SessionRecord): Promise<void> {
    await this.#db.query(
      `INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO UPDATE SET account_id = EXCLUDED.account_id, created_at = EXCLUDED.created_at,
         expires_at = EXCLUDED.expires_at`,
      [s.tokenHash, s.accountId, s.createdAt, s.expiresAt]
    )
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    const [row] = await this.#db.query<{
      token_hash: string
      account_id: string
      created_at: number
      expires_at: number
    }>('SELECT * FROM sessions WHERE token_hash = $1', [tokenHash])
    return row === undefined
      ? undefined
      : { tokenHash: row.token_hash, accountId: row.account_id, createdAt: row.created_at, expiresAt: row.expires_at }
  }

  async getSessionAccount(
    tokenHash: string
  ): Promise<{ session: SessionRecord; account: AccountRecord | undefined } | undefined> {
    // The session's columns under names of their own beside the account's row (accounts has created_at too).
    const [row] = await this.#db.query<
      { session_account: string; session_created: number; session_expires: number } & (
        | AccountRow
        | { [K in keyof AccountRow]: null }
      )
    >(
      `SELECT s.account_id AS session_account, s.created_at AS session_created, s.expires_at AS session_expires, a.*
       FROM sessions s LEFT JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1`,
      [tokenHash]
    )
    if (row === undefined) return undefined
    const session: SessionRecord = {
      tokenHash,
      accountId: row.session_account,
      createdAt: row.session_created,
      expiresAt: row.session_expires
    }
    return { session, account: row.id === null ? undefined : toAccount(row) }
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const result = await this.#db.run('DELETE FROM sessions WHERE expires_at <= $1', [now])
    return result.rowCount ?? 0
  }

  async deleteSessions(which: { tokenHash: string } | { accountId: string }): Promise<number> {
    const rows =
      'tokenHash' in which
        ? await this.#db.query<{ token_hash: string }>(
            'DELETE FROM sessions WHERE token_hash = $1 RETURNING token_hash',
            [which.tokenHash]
          )
        : await this.#db.query<{ token_hash: string }>(
            'DELETE FROM sessions WHERE account_id = $1 RETURNING token_hash',
            [which.accountId]
          )
    return rows.length
  }

  changePlan(accountId: string, plan: string, quota: number, audit: AuditRecord): Promise<AccountRecord> {
    return this.#db.tx(async (db) => {
      const account = await lockAccount(db, accountId)
      if (account === undefined) throw accountNotFound()
      checkPlanQuota(account, plan, quota)
      await db.query('UPDATE accounts SET plan = $2, quota = $3 WHERE id = $1', [accountId, plan, quota])
      await db.query('INSERT INTO plan_changes (account_id, at, from_plan, to_plan) VALUES ($1, $2, $3, $4)', [
        accountId,
        audit.at,
        account.plan ?? null,
        plan
      ])
      await insertAudit(db, audit)
      return { ...account, plan, quota }
    })
  }

  async listPlanChanges(accountId: string, before: number): Promise<PlanChange[]> {
    const rows = await this.#db.query<{ at: number; from_plan: string | null; to_plan: string }>(
      'SELECT at, from_plan, to_plan FROM plan_changes WHERE account_id = $1 AND at < $2 ORDER BY at, seq',
      [accountId, before]
    )
    return rows.map((r) => ({
      accountId,
      at: r.at,
      ...(r.from_plan === null ? {} : { from: r.from_plan }),
      to: r.to_plan
    }))
  }

  createApiKey(key: ApiKeyRecord, audit: AuditRecord): Promise<void> {
    return this.#db.tx(async (db) => {
      await db.query('INSERT INTO api_keys (hash, id, account_id, created_at, record) VALUES ($1, $2, $3, $4, $5)', [
        key.hash,
        key.id,
        key.accountId,
        key.createdAt,
        JSON.stringify(key)
      ])
      await insertAudit(db, audit)
    })
  }

  async getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const [row] = await this.#db.query<{ record: ApiKeyRecord }>('SELECT record FROM api_keys WHERE hash = $1', [hash])
    return row?.record
  }

  async listApiKeys(accountId: string): Promise<ApiKeyRecord[]> {
    const rows = await this.#db.query<{ record: ApiKeyRecord }>(
      'SELECT record FROM api_keys WHERE account_id = $1 ORDER BY created_at, id COLLATE "C"',
      [accountId]
    )
    return rows.map((r) => r.record)
  }

  revokeApiKey(accountId: string, id: string, at: number, audit: AuditRecord): Promise<boolean> {
    return this.#db.tx(async (db) => {
      const result = await db.query(
        `UPDATE api_keys SET revoked_at = $3, record = jsonb_set(record, '{revokedAt}', to_jsonb($3::bigint))
         WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL`,
        [accountId, id, at]
      )
      if (result.rowCount !== 1) return false
      await insertAudit(db, audit)
      return true
    })
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    await this.#db.tx((db) => insertAudit(db, record))
  }

  async listAudit(accountId: string, limit: number): Promise<AuditRecord[]> {
    const rows = await this.#db.query<{ record: AuditRecord }>(
      'SELECT record FROM audit_log WHERE account_id = $1 ORDER BY id COLLATE "C" DESC LIMIT $2',
      [accountId, limit]
    )
    return rows.map((r) => r.record)
  }

  updateAccountKeys(accountId: string, update: AccountKeysUpdate, audit: AuditRecord): Promise<void> {
    return this.#db.tx(async (db) => {
      if ((await lockAccount(db, accountId)) === undefined) throw accountNotFound()
      if (update.auth !== undefined) {
        await db.query('UPDATE accounts SET auth_salt = $2, auth_hash = $3, wrapped_master_key = $4 WHERE id = $1', [
          accountId,
          update.auth.authSalt,
          update.auth.authHash,
          update.auth.wrappedMasterKey
        ])
      }
      if (update.recovery !== undefined) {
        await db.query('UPDATE accounts SET recovery = $2 WHERE id = $1', [accountId, JSON.stringify(update.recovery)])
      }
      await insertAudit(db, audit)
    })
  }
}
