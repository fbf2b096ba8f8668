import { scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
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
import { auditRecord } from './audit-log.ts'
import { type Authenticator, bearerToken, hashToken } from './auth.ts'
import { FREE_PLAN } from './billing/plans.ts'
import type { TrackerConfig } from './config.ts'
import { AUTH_SCRYPT, TOKEN_BYTES } from './constants.ts'
import { randomId } from './grants.ts'
import type { AccountRecord, StoreParts } from './store/store.ts'

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

export interface AccountsComponents {
  store: StoreParts<'accounts'>
  config: TrackerConfig
  auth: Authenticator
}

/** Sign-up, login and bearer sessions. The tracker holds a salted hash of the auth key, never the password. */
export class Accounts {
  readonly #store: StoreParts<'accounts'>
  readonly #config: TrackerConfig
  /** Hashed against when the email is unknown, so a miss costs as much time as a wrong password. */
  readonly #decoySalt = randomBytes(AUTH_SCRYPT.saltLength)
  readonly #auth: Authenticator

  constructor(components: AccountsComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#auth = components.auth
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
   * Ends the caller's password session (log out), or every session of its account (`everywhere`: a lost
   * device, a leaked token). API keys are revoked on their own route, never here.
   */
  async logout(header: string | undefined, everywhere: boolean): Promise<{ loggedOut: number }> {
    const accountId = await this.#auth.authenticateId(header, 'session')
    const which = everywhere ? { accountId } : { tokenHash: hashToken(bearerToken(header)) }
    const loggedOut = await this.#store.accounts.deleteSessions(which)
    this.#auth.forget(which)
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
