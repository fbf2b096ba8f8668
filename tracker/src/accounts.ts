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
import type { TrackerConfig } from './config.ts'
import { AUTH_SCRYPT, TOKEN_BYTES } from './constants.ts'
import { randomId } from './grants.ts'
import type { AccountRecord, Store } from './store/store.ts'

const scrypt = promisify(scryptCallback) as (
  password: Uint8Array,
  salt: Uint8Array,
  keylen: number,
  options: { N: number; r: number; p: number }
) => Promise<Buffer>

async function hashAuthKey(authKey: string, salt: Uint8Array): Promise<Uint8Array> {
  const { N, r, p, keyLength } = AUTH_SCRYPT
  return scrypt(fromBase64Url(authKey), salt, keyLength, { N, r, p })
}

export function hashToken(token: string): string {
  return toBase64Url(createHash('sha256').update(token).digest())
}

export interface AccountsComponents {
  store: Store
  config: TrackerConfig
}

/** Sign-up, login and bearer sessions. The tracker holds a salted hash of the auth key, never the password. */
export class Accounts {
  readonly #store: Store
  readonly #config: TrackerConfig
  /** Hashed against when the email is unknown, so a miss costs as much time as a wrong password. */
  readonly #decoySalt = randomBytes(AUTH_SCRYPT.saltLength)

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
    await this.#store.createAccount(account)
    this.#config.logger.info({ account: account.id }, 'account created')
    return this.#openSession(account)
  }

  async login(request: LoginRequest): Promise<SessionResponse> {
    const account = await this.#store.getAccountByEmail(request.email)
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
    await this.#store.putSession({ tokenHash: hashToken(token), accountId: account.id, createdAt: now, expiresAt })
    return { token, expiresAt, account: accountView(account), wrappedMasterKey: account.wrappedMasterKey }
  }

  /** The account behind an `Authorization: Bearer <token>` header, or ERR_UNAUTHORIZED. */
  async authenticate(header: string | undefined): Promise<AccountRecord> {
    const unauthorized = (why: string) => new ShoalError(ErrorCode.UNAUTHORIZED, why)
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header)
    if (match === null) throw unauthorized('log in first: this call needs an "Authorization: Bearer <token>" header')
    const session = await this.#store.getSession(hashToken(match[1] as string))
    if (session === undefined || session.expiresAt <= this.#config.clock.now()) {
      throw unauthorized('the session is invalid or has expired: log in again')
    }
    const account = await this.#store.getAccount(session.accountId)
    if (account === undefined) throw unauthorized('the session is invalid or has expired: log in again')
    return account
  }

  async view(accountId: string): Promise<AccountView> {
    const account = await this.#store.getAccount(accountId)
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
    createdAt: account.createdAt
  }
}
