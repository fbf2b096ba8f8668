import type { ApiKeyRecord, AuditRecord, PlanChange } from '../money-records.ts'
import type { AccountKeysUpdate, AccountRecord, PendingSignupRecord, SessionRecord, VersionPolicy } from '../records.ts'
import { accountExists, accountNotFound, checkPlanQuota, planChange, verificationFailed, withKeys } from '../rules.ts'
import type { AccountStore } from '../store.ts'
import { K, type LevelDb, type Op, range } from './level-db.ts'

export class LevelAccounts implements AccountStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  createAccount(account: AccountRecord): Promise<void> {
    return this.#db.locks.run(K.email(account.email), async () => {
      if ((await this.#db.get(K.email(account.email))) !== undefined) throw accountExists()
      await this.#db.batch([
        { type: 'put', key: K.account(account.id), value: account },
        { type: 'put', key: K.email(account.email), value: account.id }
      ])
    })
  }

  getAccount(id: string): Promise<AccountRecord | undefined> {
    return this.#db.get(K.account(id))
  }

  async getAccountByEmail(email: string): Promise<AccountRecord | undefined> {
    const id = await this.#db.get<string>(K.email(email))
    return id === undefined ? undefined : this.getAccount(id)
  }

  putPendingSignup(pending: PendingSignupRecord): Promise<void> {
    return this.#db.locks.run(K.email(pending.email), async () => {
      const old = await this.getPendingSignup(pending.email)
      await this.#db.batch([
        ...(old === undefined ? [] : [{ type: 'del' as const, key: K.signupExp(old.expiresAt, old.email) }]),
        { type: 'put', key: K.signup(pending.email), value: pending },
        { type: 'put', key: K.signupExp(pending.expiresAt, pending.email), value: pending.email }
      ])
    })
  }

  getPendingSignup(email: string): Promise<PendingSignupRecord | undefined> {
    return this.#db.get(K.signup(email))
  }

  confirmPendingSignup(email: string, codeHash: string): Promise<AccountRecord> {
    return this.#db.locks.run(K.email(email), async () => {
      const pending = await this.getPendingSignup(email)
      if (pending === undefined || pending.codeHash !== codeHash) throw verificationFailed()
      if ((await this.#db.get(K.email(email))) !== undefined) throw accountExists()
      const { account } = pending
      await this.#db.batch([
        { type: 'del', key: K.signup(email) },
        { type: 'del', key: K.signupExp(pending.expiresAt, email) },
        { type: 'put', key: K.account(account.id), value: account },
        { type: 'put', key: K.email(account.email), value: account.id }
      ])
      return account
    })
  }

  async deleteExpiredPendingSignups(now: number): Promise<number> {
    const entries = await this.#db.level.iterator({ gte: 'signup-exp:', lte: K.signupExp(now, '~') }).all()
    let deleted = 0
    for (const [key, email] of entries) {
      // Under the email's lock: a sign-up made meanwhile replaced this one and keeps its own expiry.
      await this.#db.locks.run(K.email(email as string), async () => {
        const pending = await this.getPendingSignup(email as string)
        const ops: Op[] = [{ type: 'del', key }]
        if (pending !== undefined && pending.expiresAt <= now) {
          ops.push({ type: 'del', key: K.signup(email as string) })
          deleted++
        }
        await this.#db.batch(ops)
      })
    }
    return deleted
  }

  getVersionPolicy(accountId: string): Promise<VersionPolicy | undefined> {
    return this.#db.get(K.versionPolicy(accountId))
  }

  async setVersionPolicy(accountId: string, policy: VersionPolicy): Promise<void> {
    await this.#db.batch([{ type: 'put', key: K.versionPolicy(accountId), value: policy }])
  }

  async putSession(session: SessionRecord): Promise<void> {
    await this.#db.batch([
      { type: 'put', key: K.session(session.tokenHash), value: session },
      { type: 'put', key: K.sessionExp(session.expiresAt, session.tokenHash), value: session.tokenHash }
    ])
  }

  getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#db.get(K.session(tokenHash))
  }

  async getSessionAccount(
    tokenHash: string
  ): Promise<{ session: SessionRecord; account: AccountRecord | undefined } | undefined> {
    const session = await this.getSession(tokenHash)
    return session === undefined ? undefined : { session, account: await this.getAccount(session.accountId) }
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const entries = await this.#db.level.iterator({ gte: 'session-exp:', lte: K.sessionExp(now, '~') }).all()
    const ops: Op[] = []
    for (const [key, hash] of entries) {
      ops.push({ type: 'del', key }, { type: 'del', key: K.session(hash as string) })
    }
    await this.#db.batch(ops)
    return entries.length
  }

  async deleteSessions(which: { tokenHash: string } | { accountId: string }): Promise<number> {
    // No index by account: a full walk, which is fine for the one process a level store serves.
    const sessions =
      'tokenHash' in which
        ? [await this.getSession(which.tokenHash)].filter((s): s is SessionRecord => s !== undefined)
        : (await this.#db.values<SessionRecord>('session:')).filter((s) => s.accountId === which.accountId)
    await this.#db.batch(
      sessions.flatMap((s): Op[] => [
        { type: 'del', key: K.session(s.tokenHash) },
        { type: 'del', key: K.sessionExp(s.expiresAt, s.tokenHash) }
      ])
    )
    return sessions.length
  }

  changePlan(accountId: string, plan: string, quota: number, audit: AuditRecord): Promise<AccountRecord> {
    return this.#db.locks.run(K.account(accountId), async () => {
      const account = await this.#db.get<AccountRecord>(K.account(accountId))
      if (account === undefined) throw accountNotFound()
      checkPlanQuota(account, plan, quota)
      const updated = { ...account, plan, quota }
      await this.#db.batch([
        { type: 'put', key: K.account(accountId), value: updated },
        { type: 'put', key: K.audit(audit), value: audit },
        { type: 'put', key: K.planChange(accountId, audit), value: planChange(account, plan, audit.at) }
      ])
      return updated
    })
  }

  async listPlanChanges(accountId: string, before: number): Promise<PlanChange[]> {
    const changes = await this.#db.values<PlanChange>(`planchange:${accountId}:`)
    return changes.filter((c) => c.at < before).sort((a, b) => a.at - b.at)
  }

  async createApiKey(key: ApiKeyRecord, audit: AuditRecord): Promise<void> {
    await this.#db.batch([
      { type: 'put', key: K.apiKey(key.hash), value: key },
      { type: 'put', key: K.apiKeyOwner(key), value: key.hash },
      { type: 'put', key: K.audit(audit), value: audit }
    ])
  }

  getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.#db.get(K.apiKey(hash))
  }

  async listApiKeys(accountId: string): Promise<ApiKeyRecord[]> {
    const hashes = await this.#db.values<string>(`apikey-owner:${accountId}:`)
    return this.#db.many(hashes.map(K.apiKey))
  }

  revokeApiKey(accountId: string, id: string, at: number, audit: AuditRecord): Promise<boolean> {
    return this.#db.locks.run(K.account(accountId), async () => {
      const key = (await this.listApiKeys(accountId)).find((k) => k.id === id)
      if (key === undefined || key.revokedAt !== undefined) return false
      await this.#db.batch([
        { type: 'put', key: K.apiKey(key.hash), value: { ...key, revokedAt: at } },
        { type: 'put', key: K.audit(audit), value: audit }
      ])
      return true
    })
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    await this.#db.batch([{ type: 'put', key: K.audit(record), value: record }])
  }

  async listAudit(accountId: string, limit: number): Promise<AuditRecord[]> {
    return (await this.#db.level
      .values({ ...range(`audit:${accountId}:`), reverse: true, limit })
      .all()) as AuditRecord[]
  }

  updateAccountKeys(accountId: string, update: AccountKeysUpdate, audit: AuditRecord): Promise<void> {
    return this.#db.locks.run(K.account(accountId), async () => {
      const account = await this.#db.get<AccountRecord>(K.account(accountId))
      if (account === undefined) throw accountNotFound()
      await this.#db.batch([
        { type: 'put', key: K.account(accountId), value: withKeys(account, update) },
        { type: 'put', key: K.audit(audit), value: audit }
      ])
    })
  }
}
