import { createHash, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import {
  type AccountView,
  ErrorCode,
  fromBase64Url,
  type LoginRequest,
  randomBytes,
  type SessionResponse,
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
import type { Need } from './scopes.ts'
import type { AccountRecord, SessionRecord, StoreParts } from './store/store.ts'

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
}

/** Sign-up, login and bearer sessions. The tracker holds a salted hash of the auth key, never the password. */
export class Accounts {
  readonly #store: StoreParts<'accounts'>
  readonly #config: TrackerConfig
  /** Hashed against when the email is unknown, so a miss costs as much time as a wrong password. */
  readonly #decoySalt = randomBytes(AUTH_SCRYPT.saltLength)
  readonly #sessions = new Map<string, { session: SessionRecord; checkedAt: number }>()

  constructor(components: AccountsComponents) {
    this.#store = components.store
    this.#config = components.config
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
      createdAt: now
    }
    await this.#store.accounts.createAccount(account)
    this.#config.logger.info({ account: account.id }, 'account created')
    return this.#openSession(account)
  }

  async login(request: LoginRequest): Promise<SessionResponse> {
    const account = await this.#store.accounts.getAccountByEmail(request.email)
    const hash = await hashAuthKey(
      request.authKey,
      account === undefined ? this.#decoySalt : fromBase64Url(account.authSalt)
    )
    const expected = account === undefined ? undefined : fromBase64Url(account.authHash)
    // One error for a wrong key and an unknown email, so nobody can probe which emails have accounts.
    if (expected === undefined || expected.byteLength !== hash.byteLength || !timingSafeEqual(expected, hash)) {
      throw new ShoalError(ErrorCode.WRONG_PASSWORD, 'wrong email or password')
    }
    return this.#openSession(account as AccountRecord)
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
    if (session === undefined) return accountIdForApiKey(this.#store, tokenHash, need)
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
    plan: account.plan ?? FREE_PLAN
  }
}
