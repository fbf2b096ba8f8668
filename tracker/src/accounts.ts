import { createHash, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import {
  type AccountView,
  type ChangePasswordRequest,
  ErrorCode,
  fromBase64Url,
  type LoginRequest,
  type RecoveryRequest,
  type RecoveryResetRequest,
  type RecoveryResponse,
  type RecoveryWrap,
  randomBytes,
  type SessionResponse,
  type SetRecoveryRequest,
  ShoalError,
  type SignupRequest,
  toBase64Url
} from '@shoal/core'
import { accountIdForApiKey } from './api-keys.ts'
import { auditRecord } from './audit-log.ts'
import { FREE_PLAN } from './billing/plans.ts'
import type { TrackerConfig } from './config.ts'
import { AUTH_SCRYPT, TOKEN_BYTES } from './constants.ts'
import { randomId } from './grants.ts'
import type { ModerationGate } from './moderation.ts'
import type { Need } from './scopes.ts'
import type { AccountRecord, RecoveryRecord, SessionRecord, StoreParts } from './store/store.ts'

/** Sessions remembered per process (see Accounts.#session); the oldest are forgotten first. */
const MAX_CACHED_SESSIONS = 50_000
/**
 * How long a remembered session is trusted before the store is asked again: a session logged out through
 * another tracker stops working here within this time (through this tracker, at once).
 */
const SESSION_RECHECK_MS = 30_000

const scrypt = promisify(scryptCallback) as (
  password: Uint8Array,
  salt: Uint8Array,
  keylen: number,
  options: { N: number; r: number; p: number }
) => Promise<Buffer>

export async function hashAuthKey(authKey: string, salt: Uint8Array): Promise<Uint8Array> {
  const { N, r, p, keyLength } = AUTH_SCRYPT
  return scrypt(fromBase64Url(authKey), salt, keyLength, { N, r, p })
}

export function hashToken(token: string): string {
  return toBase64Url(createHash('sha256').update(token).digest())
}

export interface AccountsComponents {
  store: StoreParts<'accounts'>
  config: TrackerConfig
  /** Suspended accounts (moderation.ts); default none. */
  gate?: Pick<ModerationGate, 'checkAccount'>
}

/** Sign-up, login and bearer sessions. The tracker holds a salted hash of the auth key, never the password. */
export class Accounts {
  readonly #store: StoreParts<'accounts'>
  readonly #config: TrackerConfig
  readonly #gate: Pick<ModerationGate, 'checkAccount'> | undefined
  /** Hashed against when the email is unknown, so a miss costs as much time as a wrong password. */
  readonly #decoySalt = randomBytes(AUTH_SCRYPT.saltLength)
  readonly #sessions = new Map<string, { session: SessionRecord; checkedAt: number }>()

  constructor(components: AccountsComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#gate = components.gate
  }

  async signup(request: SignupRequest): Promise<SessionResponse> {
    const now = this.#config.clock.now()
    const salt = randomBytes(AUTH_SCRYPT.saltLength)
    const account: AccountRecord = {
      id: randomId(),
      email: request.email,
      authSalt: toBase64Url(salt),
      authHash: toBase64Url(await hashAuthKey(request.authKey, salt)),
      wrappedMasterKey: request.wrappedMasterKey,
      quota: this.#config.defaultQuota,
      used: 0,
      reserved: 0,
      objects: 0,
      createdAt: now,
      ...(request.recovery === undefined ? {} : { recovery: await recoveryRecord(request.recovery, now) })
    }
    await this.#store.accounts.createAccount(account)
    this.#config.logger.info({ account: account.id }, 'account created')
    return this.#openSession(account)
  }

  async login(request: LoginRequest): Promise<SessionResponse> {
    const account = await this.#store.accounts.getAccountByEmail(request.email)
    await this.#checkPassword(account, request.authKey)
    await this.#gate?.checkAccount((account as AccountRecord).id)
    return this.#openSession(account as AccountRecord)
  }

  /** ERR_WRONG_PASSWORD unless `authKey` is the account's; one error for an unknown account, and the same time. */
  async #checkPassword(account: AccountRecord | undefined, authKey: string): Promise<void> {
    if (!(await matches(authKey, account?.authSalt, account?.authHash, this.#decoySalt))) {
      throw new ShoalError(ErrorCode.WRONG_PASSWORD, 'wrong email or password')
    }
  }

  /** The account whose recovery key `recoveryAuthKey` comes from, or ERR_WRONG_RECOVERY_KEY (one error for all). */
  async #checkRecovery(request: RecoveryRequest): Promise<AccountRecord & { recovery: RecoveryRecord }> {
    const account = await this.#store.accounts.getAccountByEmail(request.email)
    const recovery = account?.recovery
    if (!(await matches(request.recoveryAuthKey, recovery?.authSalt, recovery?.authHash, this.#decoySalt))) {
      throw new ShoalError(ErrorCode.WRONG_RECOVERY_KEY, 'wrong email or recovery key')
    }
    return account as AccountRecord & { recovery: RecoveryRecord }
  }

  /**
   * A new password, proven by the current one (a stolen session alone cannot change it): the master key comes
   * rewrapped under the new password's key, made on the client. Every session of the account ends, other
   * devices included; the answer is a new session for this one.
   */
  async changePassword(accountId: string, request: ChangePasswordRequest): Promise<SessionResponse> {
    const account = await this.#store.accounts.getAccount(accountId)
    await this.#checkPassword(account, request.authKey)
    return this.#setPassword(account as AccountRecord, request.newAuthKey, request.wrappedMasterKey, 'password-changed')
  }

  /** A new recovery key (its wrap of the master key) replaces the old, proven by the current password. */
  async setRecovery(accountId: string, request: SetRecoveryRequest): Promise<AccountView> {
    const account = await this.#store.accounts.getAccount(accountId)
    await this.#checkPassword(account, request.authKey)
    const now = this.#config.clock.now()
    const recovery = await recoveryRecord(request.recovery, now)
    await this.#store.accounts.updateAccountKeys(
      accountId,
      { recovery },
      auditRecord(accountId, now, 'recovery-key-set', {})
    )
    return accountView({ ...(account as AccountRecord), recovery })
  }

  /** The recovery copy of the master key, sealed under the recovery key's own key: useless without it. */
  async recoveryWrap(request: RecoveryRequest): Promise<RecoveryResponse> {
    return { wrappedMasterKey: (await this.#checkRecovery(request)).recovery.wrappedMasterKey }
  }

  /** A forgotten password replaced with the recovery key: like changePassword, with the recovery key as proof. */
  async recoveryReset(request: RecoveryResetRequest): Promise<SessionResponse> {
    const account = await this.#checkRecovery(request)
    // A suspended account stays suspended: a recovery key does not reopen it.
    await this.#gate?.checkAccount(account.id)
    return this.#setPassword(account, request.authKey, request.wrappedMasterKey, 'password-reset-with-recovery-key')
  }

  async #setPassword(
    account: AccountRecord,
    authKey: string,
    wrappedMasterKey: string,
    action: string
  ): Promise<SessionResponse> {
    const now = this.#config.clock.now()
    const salt = randomBytes(AUTH_SCRYPT.saltLength)
    const auth = {
      authSalt: toBase64Url(salt),
      authHash: toBase64Url(await hashAuthKey(authKey, salt)),
      wrappedMasterKey
    }
    await this.#store.accounts.updateAccountKeys(account.id, { auth }, auditRecord(account.id, now, action, {}))
    await this.#store.accounts.deleteSessions({ accountId: account.id })
    for (const [hash, { session }] of this.#sessions) if (session.accountId === account.id) this.#sessions.delete(hash)
    this.#config.logger.info({ account: account.id, action }, 'account password set')
    return this.#openSession({ ...account, ...auth })
  }

  async #openSession(account: AccountRecord): Promise<SessionResponse> {
    const now = this.#config.clock.now()
    const token = toBase64Url(randomBytes(TOKEN_BYTES))
    const expiresAt = now + this.#config.sessionTtlMs
    await this.#store.accounts.putSession({
      tokenHash: hashToken(token),
      accountId: account.id,
      createdAt: now,
      expiresAt
    })
    return { token, expiresAt, account: accountView(account), wrappedMasterKey: account.wrappedMasterKey }
  }

  /**
   * The account behind an `Authorization: Bearer <token>` header, or ERR_UNAUTHORIZED. The token is a password
   * session (any need) or an API key, which must carry `need` (else ERR_FORBIDDEN).
   */
  async authenticate(header: string | undefined, need: Need = 'session'): Promise<AccountRecord> {
    const account = await this.#store.accounts.getAccount(await this.authenticateId(header, need))
    if (account === undefined)
      throw new ShoalError(ErrorCode.UNAUTHORIZED, 'the session is invalid or has expired: log in again')
    return account
  }

  /**
   * Like `authenticate`, but only the account id, without reading the account: for hot routes (download grants)
   * that need no more than to check who owns what. A session costs no database read once this process has seen
   * it; an API key costs one (it can be revoked at any moment).
   */
  async authenticateId(header: string | undefined, need: Need = 'session'): Promise<string> {
    const unauthorized = (why: string) => new ShoalError(ErrorCode.UNAUTHORIZED, why)
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header)
    if (match === null) throw unauthorized('log in first: this call needs an "Authorization: Bearer <token>" header')
    const tokenHash = hashToken(match[1] as string)
    const session = await this.#session(tokenHash)
    if (session === undefined) {
      const accountId = await accountIdForApiKey(this.#store, tokenHash, need)
      // Sessions of a suspended account are dropped when it is suspended; keys stay and are refused here.
      await this.#gate?.checkAccount(accountId)
      return accountId
    }
    if (session.expiresAt <= this.#config.clock.now()) {
      throw unauthorized('the session is invalid or has expired: log in again')
    }
    return session.accountId
  }

  /**
   * Sessions never change once written: they expire (checked against the clock on every use) or are logged out.
   * Each process keeps the ones it has seen and asks the store again after SESSION_RECHECK_MS: one database
   * read less on nearly every authenticated request, and a logout through another tracker still takes hold.
   */
  async #session(tokenHash: string): Promise<SessionRecord | undefined> {
    const now = this.#config.clock.now()
    const cached = this.#sessions.get(tokenHash)
    if (cached !== undefined && now - cached.checkedAt >= 0 && now - cached.checkedAt < SESSION_RECHECK_MS) {
      return cached.session
    }
    const session = await this.#store.accounts.getSession(tokenHash)
    this.#sessions.delete(tokenHash)
    if (session !== undefined) {
      if (this.#sessions.size >= MAX_CACHED_SESSIONS) {
        const oldest = this.#sessions.keys().next().value
        if (oldest !== undefined) this.#sessions.delete(oldest)
      }
      this.#sessions.set(tokenHash, { session, checkedAt: now })
    }
    return session
  }

  /**
   * Ends the caller's password session (log out), or every session of its account (`everywhere`: a lost
   * device, a leaked token). API keys are revoked on their own route, never here.
   */
  async logout(header: string | undefined, everywhere: boolean): Promise<{ loggedOut: number }> {
    const accountId = await this.authenticateId(header, 'session')
    const tokenHash = hashToken(/^Bearer (.+)$/.exec(header as string)?.[1] as string)
    const loggedOut = await this.#store.accounts.deleteSessions(everywhere ? { accountId } : { tokenHash })
    for (const [hash, { session }] of this.#sessions) {
      if (everywhere ? session.accountId === accountId : hash === tokenHash) this.#sessions.delete(hash)
    }
    const now = this.#config.clock.now()
    await this.#store.accounts.appendAudit(
      auditRecord(accountId, now, everywhere ? 'logout-everywhere' : 'logout', { sessions: loggedOut })
    )
    return { loggedOut }
  }

  /** Ends every session of an account, here and in the store (a suspension). */
  async dropSessions(accountId: string): Promise<number> {
    for (const [hash, { session }] of this.#sessions) if (session.accountId === accountId) this.#sessions.delete(hash)
    return this.#store.accounts.deleteSessions({ accountId })
  }

  async view(accountId: string): Promise<AccountView> {
    const account = await this.#store.accounts.getAccount(accountId)
    if (account === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'account does not exist')
    return accountView(account)
  }
}

export function accountView(account: AccountRecord): AccountView {
  return {
    id: account.id,
    email: account.email,
    quota: account.quota,
    used: account.used + account.reserved,
    objects: account.objects,
    createdAt: account.createdAt,
    plan: account.plan ?? FREE_PLAN,
    recovery: account.recovery !== undefined
  }
}

async function recoveryRecord(wrap: RecoveryWrap, now: number): Promise<RecoveryRecord> {
  const salt = randomBytes(AUTH_SCRYPT.saltLength)
  return {
    authSalt: toBase64Url(salt),
    authHash: toBase64Url(await hashAuthKey(wrap.authKey, salt)),
    wrappedMasterKey: wrap.wrappedMasterKey,
    createdAt: now
  }
}

/**
 * Whether `authKey` hashes to `hash` under `salt`. Without a salt (no such account, no recovery key), the decoy
 * salt is hashed against anyway: a miss costs as much time as a wrong key, so timing does not tell them apart.
 */
async function matches(
  authKey: string,
  salt: string | undefined,
  hash: string | undefined,
  decoySalt: Uint8Array
): Promise<boolean> {
  const got = await hashAuthKey(authKey, salt === undefined ? decoySalt : fromBase64Url(salt))
  const expected = hash === undefined ? undefined : fromBase64Url(hash)
  return (
    expected !== undefined &&
    salt !== undefined &&
    expected.byteLength === got.byteLength &&
    timingSafeEqual(expected, got)
  )
}
