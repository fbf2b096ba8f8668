import { createHash } from 'node:crypto'
import { ErrorCode, ShoalError, toBase64Url } from '@shoal/core'
import type { Clock } from './config.ts'
import type { ModerationGate } from './moderation.ts'
import type { Need } from './scopes.ts'
import type { AccountRecord, SessionRecord, StoreParts } from './store/store.ts'

/** Sessions remembered per process (see Authenticator.#session); the oldest are forgotten first. */
const MAX_CACHED_SESSIONS = 50_000
/**
 * How long a remembered session is trusted before the store is asked again: a session logged out through
 * another tracker stops working here within this time (through this tracker, at once).
 */
const SESSION_RECHECK_MS = 30_000

/** Sessions and API keys are stored by this hash of their bearer token, never as the token itself. */
export function hashToken(token: string): string {
  return toBase64Url(createHash('sha256').update(token).digest())
}

/** The token of an `Authorization: Bearer <token>` header, or ERR_UNAUTHORIZED. */
export function bearerToken(header: string | undefined): string {
  const match = header === undefined ? null : /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header)
  if (match === null) {
    throw new ShoalError(
      ErrorCode.UNAUTHORIZED,
      'log in first: this call needs an "Authorization: Bearer <token>" header'
    )
  }
  return match[1] as string
}

export interface AuthenticatorComponents {
  store: StoreParts<'accounts'>
  clock: Clock
  /** Suspended accounts (moderation.ts); default none. */
  gate?: Pick<ModerationGate, 'checkAccount'>
}

/**
 * Who is calling: a bearer token is a password session (any need) or an API key, which must carry the scope the
 * route needs. The one place that turns a header into an account; the accounts and API-key services only
 * create and end the credentials it checks.
 */
export class Authenticator {
  readonly #store: StoreParts<'accounts'>
  readonly #clock: Clock
  readonly #gate: Pick<ModerationGate, 'checkAccount'> | undefined
  readonly #sessions = new Map<string, { session: SessionRecord; checkedAt: number }>()

  constructor(components: AuthenticatorComponents) {
    this.#store = components.store
    this.#clock = components.clock
    this.#gate = components.gate
  }

  /**
   * The account behind an `Authorization: Bearer <token>` header, or ERR_UNAUTHORIZED. An API key must carry
   * `need` (else ERR_FORBIDDEN).
   */
  async authenticate(header: string | undefined, need: Need = 'session'): Promise<AccountRecord> {
    const tokenHash = hashToken(bearerToken(header))
    // A session this process has not seen (or must check again) is read with its account: one store read.
    const account = this.#cachedSession(tokenHash)
      ? await this.#store.accounts.getAccount(await this.#authenticateHash(tokenHash, need))
      : await this.#readSessionAccount(tokenHash, need)
    if (account === undefined)
      throw new ShoalError(ErrorCode.UNAUTHORIZED, 'the session is invalid or has expired: log in again')
    return account
  }

  async #readSessionAccount(tokenHash: string, need: Need): Promise<AccountRecord | undefined> {
    const found = await this.#store.accounts.getSessionAccount(tokenHash)
    if (found === undefined) return this.#store.accounts.getAccount(await this.#keyAccount(tokenHash, need))
    this.#remember(tokenHash, found.session, this.#clock.now())
    this.#checkExpiry(found.session)
    return found.account
  }

  /**
   * Like `authenticate`, but only the account id, without reading the account: for hot routes (download grants)
   * that need no more than to check who owns what. A session costs no database read once this process has seen
   * it; an API key costs one (it can be revoked at any moment).
   */
  authenticateId(header: string | undefined, need: Need = 'session'): Promise<string> {
    return this.#authenticateHash(hashToken(bearerToken(header)), need)
  }

  async #authenticateHash(tokenHash: string, need: Need): Promise<string> {
    const session = await this.#session(tokenHash)
    if (session === undefined) return this.#keyAccount(tokenHash, need)
    this.#checkExpiry(session)
    return session.accountId
  }

  /** The account of an API key that carries `need`, unless the account is suspended. */
  async #keyAccount(tokenHash: string, need: Need): Promise<string> {
    const accountId = await this.#apiKeyAccount(tokenHash, need)
    // Sessions of a suspended account are dropped when it is suspended; keys stay and are refused here.
    await this.#gate?.checkAccount(accountId)
    return accountId
  }

  #checkExpiry(session: SessionRecord): void {
    if (session.expiresAt <= this.#clock.now()) {
      throw new ShoalError(ErrorCode.UNAUTHORIZED, 'the session is invalid or has expired: log in again')
    }
  }

  /** Forgets remembered sessions after a logout, so they stop working here at once. */
  forget(which: { tokenHash: string } | { accountId: string }): void {
    for (const [hash, { session }] of this.#sessions) {
      if ('accountId' in which ? session.accountId === which.accountId : hash === which.tokenHash) {
        this.#sessions.delete(hash)
      }
    }
  }

  /**
   * Sessions never change once written: they expire (checked against the clock on every use) or are logged out.
   * Each process keeps the ones it has seen and asks the store again after SESSION_RECHECK_MS: one database
   * read less on nearly every authenticated request, and a logout through another tracker still takes hold.
   */
  async #session(tokenHash: string): Promise<SessionRecord | undefined> {
    const now = this.#clock.now()
    if (this.#cachedSession(tokenHash)) return this.#sessions.get(tokenHash)?.session
    const session = await this.#store.accounts.getSession(tokenHash)
    this.#sessions.delete(tokenHash)
    if (session !== undefined) this.#remember(tokenHash, session, now)
    return session
  }

  /** Whether a remembered session may be trusted without asking the store. */
  #cachedSession(tokenHash: string): boolean {
    const cached = this.#sessions.get(tokenHash)
    if (cached === undefined) return false
    const age = this.#clock.now() - cached.checkedAt
    return age >= 0 && age < SESSION_RECHECK_MS
  }

  #remember(tokenHash: string, session: SessionRecord, now: number): void {
    this.#sessions.delete(tokenHash)
    if (this.#sessions.size >= MAX_CACHED_SESSIONS) {
      const oldest = this.#sessions.keys().next().value
      if (oldest !== undefined) this.#sessions.delete(oldest)
    }
    this.#sessions.set(tokenHash, { session, checkedAt: now })
  }

  /**
   * The account id behind an API key, if the token is one and it carries `need`. ERR_UNAUTHORIZED for an
   * unknown or revoked key, ERR_FORBIDDEN for a key without the scope.
   */
  async #apiKeyAccount(tokenHash: string, need: Need): Promise<string> {
    const key = await this.#store.accounts.getApiKeyByHash(tokenHash)
    if (key === undefined || key.revokedAt !== undefined) {
      throw new ShoalError(ErrorCode.UNAUTHORIZED, 'the session or API key is invalid, expired or revoked')
    }
    if (need === 'session' || !key.scopes.includes(need)) {
      throw new ShoalError(
        ErrorCode.FORBIDDEN,
        need === 'session' ? 'this needs a password login, not an API key' : `this API key lacks the "${need}" scope`,
        { details: { needed: need, scopes: key.scopes } }
      )
    }
    return key.accountId
  }
}
