import { createHash, randomInt, timingSafeEqual } from 'node:crypto'
import {
  type ConfirmSignupRequest,
  fromBase64Url,
  SIGNUP_CODE_DIGITS,
  type SignupPendingResponse,
  toBase64Url
} from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from './config.ts'
import type { MailSender } from './mail/mail-sender.ts'
import { type BucketKey, RATE_LIMITS, takeOrRefuse } from './rate-limit.ts'
import { verificationFailed } from './store/rules.ts'
import type { AccountRecord, StoreParts } from './store/store.ts'

export interface EmailVerificationComponents {
  store: StoreParts<'accounts' | 'coordination'>
  mailer: MailSender
  clock: Clock
  logger: Logger
  /** How long an emailed code works. */
  codeTtlMs: number
}

/**
 * Sign-up with email verification (issue 12): an account exists only once the code mailed to its address comes
 * back, so sign-up can answer the same for a new and a registered email. Both get the same 202 after the same
 * scrypt work (the caller hashes the keys before `begin`); the difference is only in the mail: a code for a new
 * address, "someone tried to sign up" for a registered one.
 */
export class EmailVerification {
  readonly #store: StoreParts<'accounts' | 'coordination'>
  readonly #mailer: MailSender
  readonly #clock: Clock
  readonly #log: Logger
  readonly #ttlMs: number

  constructor(components: EmailVerificationComponents) {
    this.#store = components.store
    this.#mailer = components.mailer
    this.#clock = components.clock
    this.#log = components.logger
    this.#ttlMs = components.codeTtlMs
  }

  /** Keeps `account` waiting for its code and mails the code, or mails a warning if the email is taken. */
  async begin(account: AccountRecord): Promise<SignupPendingResponse> {
    const now = this.#clock.now()
    const { email } = account
    // Before the lookup, so a limited answer is the same for both: sign-up must not become a mail cannon.
    await this.#limit([{ key: `signup-mail:${email}`, rule: RATE_LIMITS.signupMailPerEmail }])
    const expiresAt = now + this.#ttlMs
    const taken = (await this.#store.accounts.getAccountByEmail(email)) !== undefined
    if (taken) {
      await this.#mailer.send({
        to: email,
        subject: 'Someone tried to sign up to Shoal with your address',
        text: [
          `Someone, perhaps you, tried to make a new Shoal account for ${email}, which already has one.`,
          'Nothing was changed and no account was made.',
          'If it was you: log in instead. A forgotten password is reset with your recovery key (shoal recover).',
          'If it was not you, you can ignore this mail.'
        ].join('\n\n')
      })
      this.#log.info('sign-up for a registered email: warning mailed')
    } else {
      const code = String(randomInt(0, 10 ** SIGNUP_CODE_DIGITS)).padStart(SIGNUP_CODE_DIGITS, '0')
      await this.#store.accounts.putPendingSignup({
        email,
        account,
        codeHash: hashCode(code),
        createdAt: now,
        expiresAt
      })
      await this.#mailer.send({
        to: email,
        subject: `Your Shoal sign-up code: ${code}`,
        text: [
          `Your code is ${code}. It works for ${Math.round(this.#ttlMs / 60_000)} minutes.`,
          'Enter it where you signed up (or run: shoal signup --code CODE) to open your account.',
          'If you did not sign up, ignore this mail: no account is made without the code.'
        ].join('\n\n')
      })
      this.#log.info({ account: account.id }, 'sign-up waiting for its emailed code')
    }
    return { verification: 'email', email, expiresAt }
  }

  /**
   * The waiting account, made now, if `code` is its emailed code; one error (ERR_VERIFICATION_FAILED) for a
   * wrong code, an expired one and an email with nothing waiting. Limited per email and per address before any
   * check, and the code is compared as a digest in constant time.
   */
  async confirm(request: ConfirmSignupRequest, ip: string): Promise<AccountRecord> {
    await this.#limit([
      { key: `confirm-ip:${ip}`, rule: RATE_LIMITS.confirmPerIp },
      { key: `confirm-email:${request.email}`, rule: RATE_LIMITS.confirmPerEmail }
    ])
    const pending = await this.#store.accounts.getPendingSignup(request.email)
    const got = fromBase64Url(hashCode(request.code))
    const expected = fromBase64Url(pending?.codeHash ?? toBase64Url(new Uint8Array(got.byteLength)))
    const same = expected.byteLength === got.byteLength && timingSafeEqual(expected, got)
    if (pending === undefined || !same || pending.expiresAt <= this.#clock.now()) throw verificationFailed()
    const account = await this.#store.accounts.confirmPendingSignup(request.email, pending.codeHash)
    this.#log.info({ account: account.id }, 'account created: emailed code confirmed')
    return account
  }

  #limit(keys: BucketKey[]): Promise<void> {
    return takeOrRefuse(this.#store.coordination, keys, this.#clock.now())
  }
}

function hashCode(code: string): string {
  return toBase64Url(createHash('sha256').update(`shoal-signup-code:${code}`).digest())
}
