import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ErrorCode,
  type InfoResponse,
  randomBytes,
  type SessionResponse,
  type SignupPendingResponse,
  toBase64Url
} from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { OutboxMailSender } from '../src/mail/mail-sender.ts'
import { expectError, expectOk, signup, startTracker, type TestTracker } from './helpers.ts'

interface OutboxMail {
  to: string
  subject: string
  text: string
  at: number
}

async function verifyingTracker(): Promise<{ t: TestTracker; outbox: () => Promise<OutboxMail[]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-outbox-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  const t = await startTracker({ verifyEmail: true, mailer: new OutboxMailSender(dir), trustProxy: ['127.0.0.1'] })
  const outbox = async () => {
    const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()
    return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as OutboxMail))
  }
  return { t, outbox }
}

const signupBody = (email: string) => ({ email, authKey: toBase64Url(randomBytes(32)), wrappedMasterKey: 'bWFzdGVy' })
const codeIn = (mail: OutboxMail | undefined) => /code is (\d{6})/.exec(mail?.text ?? '')?.[1]

describe('sign-up with email verification (issue 12)', () => {
  it('answers a registered email exactly as a new one; only the mail differs', async () => {
    const { t, outbox } = await verifyingTracker()
    expect(expectOk(await t.request<InfoResponse>('GET', '/v1/info')).verifyEmail).toBe(true)
    // A registered account (made through the confirm flow below would do too; a direct one is the same row).
    const victim = 'victim@example.com'
    const first = await t.request<SignupPendingResponse>('POST', '/v1/accounts', { body: signupBody(victim) })
    const code = codeIn((await outbox()).at(-1)) as string
    expectOk(await t.request<SessionResponse>('POST', '/v1/accounts/confirm', { body: { email: victim, code } }), 201)
    expect(first.status).toBe(202)

    // The attack: sign up the registered email and a new one, and compare everything the answers carry.
    const taken = await t.request<SignupPendingResponse>('POST', '/v1/accounts', { body: signupBody(victim) })
    const fresh = await t.request<SignupPendingResponse>('POST', '/v1/accounts', {
      body: signupBody('newcomer@example.com')
    })
    expect(taken.status).toBe(202)
    expect(fresh.status).toBe(202)
    expect(taken.body).toEqual({ verification: 'email', email: victim, expiresAt: t.clock.now() + 15 * 60_000 })
    expect({ ...fresh.body, email: victim }).toEqual(taken.body)
    expect(Object.keys(fresh.body).sort()).toEqual(Object.keys(taken.body).sort())

    // The mailbox owner learns which it was; nobody else does.
    const mails = await outbox()
    const warning = mails.find((m) => m.to === victim && /tried to sign up/.test(m.subject))
    expect(warning?.text).not.toMatch(/\d{6}/)
    expect(codeIn(mails.find((m) => m.to === 'newcomer@example.com'))).toMatch(/^\d{6}$/)
    // Confirming the registered email, with any code, gets the one error a wrong code gets.
    expectError(
      await t.request('POST', '/v1/accounts/confirm', { body: { email: victim, code: '000000' } }),
      401,
      ErrorCode.VERIFICATION_FAILED
    )
  })

  it('makes the account only when the emailed code comes back, before it expires', async () => {
    const { t, outbox } = await verifyingTracker()
    const email = 'Someone@Example.com'
    const body = signupBody(email)
    expectOk(await t.request('POST', '/v1/accounts', { body }), 202)
    // Nothing exists yet: no login.
    const login = { email, authKey: body.authKey }
    expectError(await t.request('POST', '/v1/sessions', { body: login }), 401, ErrorCode.WRONG_PASSWORD)
    const mail = (await outbox()).at(-1)
    expect(mail?.to).toBe('someone@example.com')
    const code = codeIn(mail) as string
    const wrong = code === '123456' ? '654321' : '123456'
    expectError(
      await t.request('POST', '/v1/accounts/confirm', { body: { email, code: wrong } }),
      401,
      ErrorCode.VERIFICATION_FAILED
    )
    expectError(
      await t.request('POST', '/v1/accounts/confirm', { body: { email, code: 'abc' } }),
      400,
      ErrorCode.INVALID_INPUT
    )
    const session = expectOk(
      await t.request<SessionResponse>('POST', '/v1/accounts/confirm', { body: { email, code } }),
      201
    )
    expect(session.account.email).toBe('someone@example.com')
    expect(session.wrappedMasterKey).toBe('bWFzdGVy')
    expectOk(await t.request('POST', '/v1/sessions', { body: login }))
    // A code works once.
    expectError(
      await t.request('POST', '/v1/accounts/confirm', { body: { email, code } }),
      401,
      ErrorCode.VERIFICATION_FAILED
    )

    // An expired code opens nothing.
    const late = 'late@example.com'
    expectOk(await t.request('POST', '/v1/accounts', { body: signupBody(late) }), 202)
    const lateCode = codeIn((await outbox()).at(-1)) as string
    t.clock.advance(15 * 60_000)
    expectError(
      await t.request('POST', '/v1/accounts/confirm', { body: { email: late, code: lateCode } }),
      401,
      ErrorCode.VERIFICATION_FAILED
    )
  })

  it('limits code guesses per email and per address before any is checked', async () => {
    const { t, outbox } = await verifyingTracker()
    const email = 'guessed@example.com'
    expectOk(await t.request('POST', '/v1/accounts', { body: signupBody(email) }), 202)
    const code = codeIn((await outbox()).at(-1)) as string
    const guess = (n: number, ip: string) =>
      t.request('POST', '/v1/accounts/confirm', {
        body: { email, code: String((Number(code) + n) % 1_000_000).padStart(6, '0') },
        headers: { 'x-forwarded-for': ip }
      })
    // Five wrong guesses from five addresses, then even the right code waits: the limit is per email.
    for (let i = 1; i <= 5; i++) expectError(await guess(i, `198.51.100.${i}`), 401, ErrorCode.VERIFICATION_FAILED)
    expectError(await guess(0, '198.51.100.9'), 429, ErrorCode.RATE_LIMITED)
    // Per address too: twenty guesses at other emails from one address, and the 21st waits.
    for (let i = 0; i < 20; i++) {
      const other = { email: `nobody${i}@example.com`, code: '000000' }
      expectError(
        await t.request('POST', '/v1/accounts/confirm', { body: other, headers: { 'x-forwarded-for': '203.0.113.7' } }),
        401,
        ErrorCode.VERIFICATION_FAILED
      )
    }
    expectError(
      await t.request('POST', '/v1/accounts/confirm', {
        body: { email: 'nobody99@example.com', code: '000000' },
        headers: { 'x-forwarded-for': '203.0.113.7' }
      }),
      429,
      ErrorCode.RATE_LIMITED
    )
    // Once the bucket refills, the right code still works.
    t.clock.advance(2 * 60_000)
    expectOk(await guess(0, '198.51.100.10'), 201)
  })

  it('stays off by default: sign-up opens a session at once and there is no code to confirm', async () => {
    const t = await startTracker()
    expect(expectOk(await t.request<InfoResponse>('GET', '/v1/info')).verifyEmail).toBeUndefined()
    const { email } = await signup(t)
    expectError(
      await t.request('POST', '/v1/accounts/confirm', { body: { email, code: '123456' } }),
      404,
      ErrorCode.NOT_FOUND
    )
  })
})
