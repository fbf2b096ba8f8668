import { type AccountView, ErrorCode, randomBytes, type SessionResponse, toBase64Url } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { expectError, expectOk, signup, startTracker } from './helpers.ts'

describe('accounts and sessions', () => {
  it('signs up, logs in and shows the account', async () => {
    const t = await startTracker({ defaultQuota: 5000 })
    const { token, authKey, session } = await signup(t, '  Alice@Example.COM ')
    expect(session.account).toMatchObject({ email: 'alice@example.com', quota: 5000, used: 0, objects: 0 })
    expect(session.wrappedMasterKey).toBe('bWFzdGVy')
    expect(session.expiresAt).toBe(t.clock.now() + 30 * 24 * 3600 * 1000)

    const view = expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))
    expect(view).toEqual(session.account)

    const login = expectOk(
      await t.request<SessionResponse>('POST', '/v1/sessions', { body: { email: 'alice@example.com', authKey } })
    )
    expect(login.token).not.toBe(token)
    expect(login.account.id).toBe(session.account.id)
    expect(login.wrappedMasterKey).toBe('bWFzdGVy')
    expectOk(await t.request('GET', '/v1/account', { token: login.token }))
  })

  it('logs out one session, or every session of the account, and never through an API key', async () => {
    const t = await startTracker()
    const { email, authKey, token: first } = await signup(t)
    const login = async () =>
      expectOk(await t.request<SessionResponse>('POST', '/v1/sessions', { body: { email, authKey } })).token
    const second = await login()
    const third = await login()
    expect(
      expectOk(await t.request<{ loggedOut: number }>('DELETE', '/v1/sessions/current', { token: first }))
    ).toEqual({
      loggedOut: 1
    })
    expectError(await t.request('GET', '/v1/account', { token: first }), 401, ErrorCode.UNAUTHORIZED)
    expectError(await t.request('DELETE', '/v1/sessions/current', { token: first }), 401, ErrorCode.UNAUTHORIZED)
    expectOk(await t.request('GET', '/v1/account', { token: second }))

    const key = expectOk(
      await t.request<{ key: string }>('POST', '/v1/api-keys', {
        token: second,
        body: { name: 'backup', scopes: ['read', 'write', 'share'] }
      }),
      201
    ).key
    expectError(await t.request('DELETE', '/v1/sessions', { token: key }), 403, ErrorCode.FORBIDDEN)

    expect(expectOk(await t.request<{ loggedOut: number }>('DELETE', '/v1/sessions', { token: second }))).toEqual({
      loggedOut: 2
    })
    for (const token of [second, third]) {
      expectError(await t.request('GET', '/v1/account', { token }), 401, ErrorCode.UNAUTHORIZED)
    }
    // Logging out ends sessions, not API keys (they have their own revocation), nor the password.
    expectOk(await t.request('GET', '/v1/objects', { token: key }))
    const events = expectOk(
      await t.request<{ events: { event: string }[] }>('GET', '/v1/account/audit', { token: await login() })
    ).events.map((e) => e.event)
    expect(events).toContain('logout')
    expect(events).toContain('logout-everywhere')
  })

  it('changes the password with the current one: the master key rewrapped, every session ended', async () => {
    const t = await startTracker()
    const { email, authKey, token } = await signup(t)
    const other = expectOk(await t.request<SessionResponse>('POST', '/v1/sessions', { body: { email, authKey } })).token
    const newAuthKey = toBase64Url(randomBytes(32))
    const change = (current: string, bearer = token) =>
      t.request<SessionResponse>('PUT', '/v1/account/password', {
        token: bearer,
        body: { authKey: current, newAuthKey, wrappedMasterKey: 'bmV3LXdyYXA' }
      })
    // A stolen session without the password cannot change it.
    expectError(await change(toBase64Url(randomBytes(32))), 401, ErrorCode.WRONG_PASSWORD)
    const session = expectOk(await change(authKey))
    expect(session.wrappedMasterKey).toBe('bmV3LXdyYXA')
    for (const old of [token, other]) {
      expectError(await t.request('GET', '/v1/account', { token: old }), 401, ErrorCode.UNAUTHORIZED)
    }
    expectOk(await t.request('GET', '/v1/account', { token: session.token }))
    expectError(await t.request('POST', '/v1/sessions', { body: { email, authKey } }), 401, ErrorCode.WRONG_PASSWORD)
    const login = expectOk(
      await t.request<SessionResponse>('POST', '/v1/sessions', { body: { email, authKey: newAuthKey } })
    )
    expect(login.wrappedMasterKey).toBe('bmV3LXdyYXA')
    const events = expectOk(
      await t.request<{ events: { event: string }[] }>('GET', '/v1/account/audit', { token: login.token })
    ).events.map((e) => e.event)
    expect(events).toContain('password-changed')
  })

  it('resets a forgotten password with the recovery key, and only with it', async () => {
    const t = await startTracker()
    const email = 'forgetful@example.com'
    const recoveryAuthKey = toBase64Url(randomBytes(32))
    const created = expectOk(
      await t.request<SessionResponse>('POST', '/v1/accounts', {
        body: {
          email,
          authKey: toBase64Url(randomBytes(32)),
          wrappedMasterKey: 'bWFzdGVy',
          recovery: { authKey: recoveryAuthKey, wrappedMasterKey: 'cmVjb3Zlcnk' }
        }
      }),
      201
    )
    expect(created.account.recovery).toBe(true)
    const { token: plain } = await signup(t, 'no-recovery@example.com')
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token: plain })).recovery).toBe(false)

    // A wrong key, an unknown email and an account without a recovery key all get the same answer.
    const wrong = (body: unknown) => t.request('POST', '/v1/recovery', { body })
    const answers = [
      await wrong({ email, recoveryAuthKey: toBase64Url(randomBytes(32)) }),
      await wrong({ email: 'nobody@example.com', recoveryAuthKey }),
      await wrong({ email: 'no-recovery@example.com', recoveryAuthKey })
    ].map((r) => expectError(r, 401, ErrorCode.WRONG_RECOVERY_KEY))
    expect(answers[1]).toEqual(answers[0])
    expect(answers[2]).toEqual(answers[0])
    expect(expectOk(await t.request('POST', '/v1/recovery', { body: { email, recoveryAuthKey } }))).toEqual({
      wrappedMasterKey: 'cmVjb3Zlcnk'
    })

    const authKey = toBase64Url(randomBytes(32))
    const reset = (recoveryKey: string) =>
      t.request<SessionResponse>('POST', '/v1/recovery/reset', {
        body: { email, recoveryAuthKey: recoveryKey, authKey, wrappedMasterKey: 'cmVzZXQ' }
      })
    expectError(await reset(toBase64Url(randomBytes(32))), 401, ErrorCode.WRONG_RECOVERY_KEY)
    const session = expectOk(await reset(recoveryAuthKey))
    expect(session.wrappedMasterKey).toBe('cmVzZXQ')
    expectError(await t.request('GET', '/v1/account', { token: created.token }), 401, ErrorCode.UNAUTHORIZED)
    expectOk(await t.request('POST', '/v1/sessions', { body: { email, authKey } }))

    // A new recovery key, set with the password, replaces the old one.
    const next = toBase64Url(randomBytes(32))
    const set = (current: string) =>
      t.request<AccountView>('PUT', '/v1/account/recovery', {
        token: session.token,
        body: { authKey: current, recovery: { authKey: next, wrappedMasterKey: 'bmV4dA' } }
      })
    expectError(await set(toBase64Url(randomBytes(32))), 401, ErrorCode.WRONG_PASSWORD)
    expect(expectOk(await set(authKey)).recovery).toBe(true)
    expectError(await wrong({ email, recoveryAuthKey }), 401, ErrorCode.WRONG_RECOVERY_KEY)
    expect(expectOk(await t.request('POST', '/v1/recovery', { body: { email, recoveryAuthKey: next } }))).toEqual({
      wrappedMasterKey: 'bmV4dA'
    })
    for (const bad of [{ email }, { email, recoveryAuthKey: 'short' }, { recoveryAuthKey: next }]) {
      expectError(await wrong(bad), 400, ErrorCode.INVALID_INPUT)
    }
  })

  it('gives a wrong password and an unknown email the same answer', async () => {
    const t = await startTracker()
    const { email } = await signup(t)
    const wrong = await t.request('POST', '/v1/sessions', { body: { email, authKey: toBase64Url(randomBytes(32)) } })
    const unknown = await t.request('POST', '/v1/sessions', {
      body: { email: 'nobody@example.com', authKey: toBase64Url(randomBytes(32)) }
    })
    const a = expectError(wrong, 401, ErrorCode.WRONG_PASSWORD)
    const b = expectError(unknown, 401, ErrorCode.WRONG_PASSWORD)
    expect(a).toEqual(b)
  })

  it('refuses a second account with the same email, whatever its case', async () => {
    const t = await startTracker()
    await signup(t, 'bob@example.com')
    const again = await t.request('POST', '/v1/accounts', {
      body: { email: 'BOB@example.com', authKey: toBase64Url(randomBytes(32)), wrappedMasterKey: 'eA' }
    })
    expectError(again, 409, ErrorCode.ACCOUNT_EXISTS)
  })

  it('refuses bad sign-up fields', async () => {
    const t = await startTracker()
    const good = { email: 'carol@example.com', authKey: toBase64Url(randomBytes(32)), wrappedMasterKey: 'eA' }
    for (const body of [
      { ...good, email: 'not an email' },
      { ...good, email: 42 },
      { ...good, authKey: 'short' },
      { ...good, authKey: 'has+plus/and=padding=======================' },
      { ...good, wrappedMasterKey: '' },
      { email: good.email },
      [good],
      'text'
    ]) {
      const err = expectError(await t.request('POST', '/v1/accounts', { body }), 400, ErrorCode.INVALID_INPUT)
      expect(err.details?.field).toBeTypeOf('string')
    }
  })

  it('needs a valid, unexpired bearer token on account routes', async () => {
    const t = await startTracker({ sessionTtlMs: 60_000 })
    const { token } = await signup(t)
    for (const path of ['/v1/account', '/v1/objects']) {
      expectError(await t.request('GET', path), 401, ErrorCode.UNAUTHORIZED)
      expectError(await t.request('GET', path, { token: 'A'.repeat(43) }), 401, ErrorCode.UNAUTHORIZED)
      expectError(await t.request('GET', path, { headers: { authorization: token } }), 401, ErrorCode.UNAUTHORIZED)
    }
    expectError(await t.request('POST', '/v1/uploads', { token: 'bad', body: {} }), 401, ErrorCode.UNAUTHORIZED)

    t.clock.advance(59_999)
    expectOk(await t.request('GET', '/v1/account', { token }))
    t.clock.advance(1)
    expectError(await t.request('GET', '/v1/account', { token }), 401, ErrorCode.UNAUTHORIZED)
    // The sweep forgets it for good.
    expect((await t.tracker.sweep()).sessions).toBe(1)
    expectError(await t.request('GET', '/v1/account', { token }), 401, ErrorCode.UNAUTHORIZED)
  })
})
