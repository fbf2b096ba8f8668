import { scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import {
  type AccountView,
  type ChangePasswordRequest,
  type ConfirmSignupRequest,
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
  type SignupPendingResponse,
  type SignupRequest,
  toBase64Url
} from '@shoal/core'
import { auditRecord } from './audit-log.ts'
import { type Authenticator, bearerToken, hashToken } from './auth.ts'
import { FREE_PLAN } from './billing/plans.ts'
import type { TrackerConfig } from './config.ts'
import { AUTH_SCRYPT, TOKEN_BYTES } from './constants.ts'
import type { EmailVerification } from './email-verification.ts'
import { randomId } from './ids.ts'
import type { ModerationGate } from './moderation.ts'
import { type BucketKey, RATE_LIMITS, takeOrRefuse } from './rate-limit.ts'
import type { AccountRecord, RecoveryRecord, StoreParts } from './store/store.ts'

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
  /** `coordination` holds the sign-up and login limits, shared by every tracker on the same store. */
  store: StoreParts<'accounts' | 'coordination'>
  config: TrackerConfig
  auth: Authenticator
  /** Suspended accounts (moderation.ts); default none. */
  gate?: Pick<ModerationGate, 'checkAccount'>
  /** Email verification at sign-up (`--verify-email`); default none: sign-up opens a session at once. */
  verification?: EmailVerification
}

/**
 * Sign-up, login and bearer sessions. The tracker holds a salted hash of the auth key, never the password.
 * Everything that checks a password or a recovery key is rate-limited like a login (per address, and per email
 * where the request names one) before any hash is computed, and sign-ups and logins are written to the
 * account's audit log with the caller's address: `ip` is the address the HTTP layer saw.
 */
export class Accounts {
  readonly #store: StoreParts<'accounts' | 'coordination'>
  readonly #config: TrackerConfig
  readonly #gate: Pick<ModerationGate, 'checkAccount'> | undefined
  /** Hashed against when the email is unknown, so a miss costs as much time as a wrong password. */
  readonly #decoySalt = randomBytes(AUTH_SCRYPT.saltLength)
  readonly #auth: Authenticator
  readonly #verification: EmailVerification | undefined

  constructor(components: AccountsComponents) {
    this.#verification = components.verification
    this.#store = components.store
    this.#config = components.config
    this.#auth = components.auth
    this.#gate = components.gate
  }

  /**
   * A new account. With email verification (`verification`), the account waits for the emailed code and the
   * answer is the same for a registered email, after the same scrypt work (email-verification.ts).
   */
  async signup(request: SignupRequest, ip: string): Promise<SessionResponse | SignupPendingResponse> {
    await this.#limit([{ key: `signup:${ip}`, rule: RATE_LIMITS.signupPerIp }])
    const account = await this.#newAccount(request)
    // Nothing exists until the code comes back: the sign-up is audited at confirmSignup.
    if (this.#verification !== undefined) return this.#verification.begin(account)
    await this.#store.accounts.createAccount(account)
    this.#config.logger.info({ account: account.id }, 'account created')
    return this.#audited(await this.#openSession(account), 'signup', ip)
  }

  /** The emailed code of a waiting sign-up: the account is made and its first session opened. */
  async confirmSignup(request: ConfirmSignupRequest, ip: string): Promise<SessionResponse> {
    if (this.#verification === undefined) {
      throw new ShoalError(ErrorCode.NOT_FOUND, 'this tracker does not verify emails: sign-up needs no code')
    }
    const session = await this.#openSession(await this.#verification.confirm(request, ip))
    return this.#audited(session, 'signup', ip)
  }

  async #newAccount(request: SignupRequest): Promise<AccountRecord> {
    const now = this.#config.clock.now()
    const salt = randomBytes(AUTH_SCRYPT.saltLength)
    return {
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
  }

  async login(request: LoginRequest, ip: string): Promise<SessionResponse> {
    await this.#limitAttempt(ip, request.email)
    const account = await this.#store.accounts.getAccountByEmail(request.email)
    try {
      await this.#checkPassword(account, request.authKey)
    } catch (err) {
      // A wrong password on a real account is the owner's to see; a wrong email has no log to go to.
      if (account !== undefined) await this.#audit(account.id, 'login-failed', ip)
      throw err
    }
    await this.#gate?.checkAccount((account as AccountRecord).id)
    return this.#audited(await this.#openSession(account as AccountRecord), 'login', ip)
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
  async changePassword(accountId: string, request: ChangePasswordRequest, ip: string): Promise<SessionResponse> {
    await this.#limitAttempt(ip)
    const account = await this.#store.accounts.getAccount(accountId)
    await this.#checkPassword(account, request.authKey)
    return this.#setPassword(account as AccountRecord, request.newAuthKey, request.wrappedMasterKey, 'password-changed')
  }

  /** A new recovery key (its wrap of the master key) replaces the old, proven by the current password. */
  async setRecovery(accountId: string, request: SetRecoveryRequest, ip: string): Promise<AccountView> {
    await this.#limitAttempt(ip)
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
  async recoveryWrap(request: RecoveryRequest, ip: string): Promise<RecoveryResponse> {
    await this.#limitAttempt(ip, request.email)
    return { wrappedMasterKey: (await this.#checkRecovery(request)).recovery.wrappedMasterKey }
  }

  /** A forgotten password replaced with the recovery key: like changePassword, with the recovery key as proof. */
  async recoveryReset(request: RecoveryResetRequest, ip: string): Promise<SessionResponse> {
    await this.#limitAttempt(ip, request.email)
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
    this.#auth.forget({ accountId: account.id })
    this.#config.logger.info({ account: account.id, action }, 'account password set')
    return this.#openSession({ ...account, ...auth })
  }

  /** A password or recovery key about to be checked: one attempt from `ip`, and for `email` when one is named. */
  #limitAttempt(ip: string, email?: string): Promise<void> {
    return this.#limit([
      { key: `login:${ip}`, rule: RATE_LIMITS.loginPerIp },
      ...(email === undefined ? [] : [{ key: `login-email:${email}`, rule: RATE_LIMITS.loginPerEmail }])
    ])
  }

  #limit(keys: readonly BucketKey[]): Promise<void> {
    return takeOrRefuse(this.#store.coordination, keys, this.#config.clock.now())
  }

  #audit(accountId: string, event: 'signup' | 'login' | 'login-failed', ip: string): Promise<void> {
    return this.#store.accounts.appendAudit(auditRecord(accountId, this.#config.clock.now(), event, { ip }))
  }

  async #audited(session: SessionResponse, event: 'signup' | 'login', ip: string): Promise<SessionResponse> {
    await this.#audit(session.account.id, event, ip)
    return session
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

  /** Ends every session of an account, here and in the store (a suspension). */
  async dropSessions(accountId: string): Promise<number> {
    this.#auth.forget({ accountId })
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
