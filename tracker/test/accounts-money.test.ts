import { type AccountView, ErrorCode, randomBytes, toBase64Url } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { RATE_LIMITS } from '../src/rate-limit.ts'
import { expectError, expectOk, FakeNode, signup, startTracker, uploadObject } from './helpers.ts'

describe('plans', () => {
  it('lists plans, upgrades at once, refuses a downgrade while over the new quota, and logs each change', async () => {
    const t = await startTracker({ defaultQuota: 3000 })
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const plans = expectOk(await t.request<{ plans: { id: string; quota: number }[] }>('GET', '/v1/plans'))
    expect(plans.plans.map((p) => p.id)).toEqual(['free', 'plus', 'pro'])
    expect(plans.plans[0]?.quota).toBe(3000)
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token })).plan).toBe('free')

    // Over the free quota: refused; on plus: accepted.
    expectError(
      await t.request('POST', '/v1/uploads', { token, body: { ...beginLike(), size: 5000 } }),
      413,
      'ERR_QUOTA_EXCEEDED'
    )
    const up = expectOk(
      await t.request<{ account: AccountView }>('PUT', '/v1/account/plan', { token, body: { plan: 'plus' } })
    )
    expect(up.account).toMatchObject({ plan: 'plus', quota: 2 * 1024 ** 4 })
    const { object } = await uploadObject(t, token, nodes, { size: 5000 })

    const refused = expectError(
      await t.request('PUT', '/v1/account/plan', { token, body: { plan: 'free' } }),
      413,
      'ERR_QUOTA_EXCEEDED'
    )
    expect(refused.details).toMatchObject({ quota: 3000, used: 5000, plan: 'free' })
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token })).plan).toBe('plus')
    expectError(await t.request('PUT', '/v1/account/plan', { token, body: { plan: 'gold' } }), 400, 'ERR_INVALID_INPUT')

    expectOk(await t.request('DELETE', `/v1/objects/${object.id}`, { token }))
    const down = expectOk(
      await t.request<{ account: AccountView }>('PUT', '/v1/account/plan', { token, body: { plan: 'free' } })
    )
    expect(down.account).toMatchObject({ plan: 'free', quota: 3000 })

    const audit = expectOk(
      await t.request<{ events: { event: string; details?: Record<string, unknown> }[] }>('GET', '/v1/account/audit', {
        token
      })
    )
    expect(audit.events.map((e) => e.event)).toEqual(['plan-changed', 'plan-changed', 'signup'])
    expect(audit.events[0]?.details).toMatchObject({ from: 'plus', to: 'free' })
  })
})

function beginLike() {
  return { nameHash: 'bmFtZQ', meta: 'bWV0YQ', wrappedKey: 'a2V5', nonce: 'AAAAAAAAAAA' }
}

describe('API keys', () => {
  it('carry scopes, cannot manage keys or plans, and stop working when revoked', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const read = expectOk(
      await t.request<{ id: string; key: string; scopes: string[] }>('POST', '/v1/api-keys', {
        token,
        body: { name: 'backup reader', scopes: ['read'] }
      }),
      201
    )
    expect(read.key).toMatch(/^shk_[A-Za-z0-9_-]{43}$/)
    expect(read.scopes).toEqual(['read'])
    const write = expectOk(
      await t.request<{ id: string; key: string }>('POST', '/v1/api-keys', {
        token,
        body: { name: 'sync', scopes: ['write', 'read', 'write'] }
      }),
      201
    )

    // read: listing yes, uploading no; write: uploading yes.
    expectOk(await t.request('GET', '/v1/objects', { token: read.key }))
    expectError(await t.request('POST', '/v1/uploads', { token: read.key, body: beginLike() }), 403, 'ERR_FORBIDDEN')
    const { object } = await uploadObject(t, write.key, nodes, { size: 100 })
    expectOk(await t.request('POST', `/v1/objects/${object.id}/grants`, { token: read.key, body: { from: 0, to: 1 } }))
    expectError(await t.request('DELETE', `/v1/objects/${object.id}`, { token: read.key }), 403, 'ERR_FORBIDDEN')
    expectError(await t.request('POST', '/v1/shares', { token: write.key, body: {} }), 403, 'ERR_FORBIDDEN')
    // Keys never manage keys or plans.
    expectError(
      await t.request('POST', '/v1/api-keys', { token: write.key, body: { scopes: ['read', 'write', 'share'] } }),
      403,
      'ERR_FORBIDDEN'
    )
    expectError(
      await t.request('PUT', '/v1/account/plan', { token: write.key, body: { plan: 'pro' } }),
      403,
      'ERR_FORBIDDEN'
    )

    const listed = expectOk(
      await t.request<{ keys: { id: string; revokedAt?: number }[] }>('GET', '/v1/api-keys', { token })
    )
    expect(listed.keys.map((k) => k.id).sort()).toEqual([read.id, write.id].sort())
    expect(JSON.stringify(listed)).not.toContain(read.key)
    expectOk(await t.request('DELETE', `/v1/api-keys/${read.id}`, { token }))
    expectError(await t.request('DELETE', `/v1/api-keys/${read.id}`, { token }), 404, 'ERR_NOT_FOUND')
    expectError(await t.request('GET', '/v1/objects', { token: read.key }), 401, 'ERR_UNAUTHORIZED')
    expectOk(await t.request('GET', '/v1/objects', { token: write.key }))

    for (const body of [{}, { scopes: [] }, { scopes: ['admin'] }, { scopes: ['read'], name: 'x'.repeat(101) }]) {
      expectError(await t.request('POST', '/v1/api-keys', { token, body }), 400, 'ERR_INVALID_INPUT')
    }
    const audit = expectOk(await t.request<{ events: { event: string }[] }>('GET', '/v1/account/audit', { token }))
    expect(audit.events.map((e) => e.event)).toEqual([
      'api-key-revoked',
      'api-key-created',
      'api-key-created',
      'signup'
    ])
  })
})

describe('rate limits and the audit log of logins', () => {
  it('limit logins per email and sign-ups per address, and recover with time', async () => {
    const t = await startTracker()
    const { email, authKey, token } = await signup(t)
    const wrong = { email, authKey: `${'Q'.repeat(42)}A` }
    expectError(await t.request('POST', '/v1/sessions', { body: wrong }), 401, 'ERR_WRONG_PASSWORD')
    expectOk(await t.request('POST', '/v1/sessions', { body: { email, authKey } }))
    for (let i = 2; i < RATE_LIMITS.loginPerEmail.burst; i++) await t.request('POST', '/v1/sessions', { body: wrong })
    const limited = expectError(
      await t.request('POST', '/v1/sessions', { body: { email, authKey } }),
      429,
      'ERR_RATE_LIMITED'
    )
    expect(limited.details?.retryAfterMs).toBe(RATE_LIMITS.loginPerEmail.refillMs)
    // Another email from the same address is not limited by this one's bucket.
    expectError(
      await t.request('POST', '/v1/sessions', { body: { ...wrong, email: 'other@example.com' } }),
      401,
      'ERR_WRONG_PASSWORD'
    )
    t.clock.advance(RATE_LIMITS.loginPerEmail.refillMs)
    expectOk(await t.request('POST', '/v1/sessions', { body: { email, authKey } }))

    const events = expectOk(
      await t.request<{ events: { event: string; details?: { ip?: string } }[] }>('GET', '/v1/account/audit', { token })
    )
    const counts = new Map<string, number>()
    for (const e of events.events) counts.set(e.event, (counts.get(e.event) ?? 0) + 1)
    expect(Object.fromEntries(counts)).toEqual({
      signup: 1,
      login: 2,
      'login-failed': RATE_LIMITS.loginPerEmail.burst - 1
    })
    expect(events.events[0]?.details?.ip).toBe('127.0.0.1')

    let signups = 1
    let status = 201
    while (status === 201 && signups <= RATE_LIMITS.signupPerIp.burst + 1) {
      status = (
        await t.request('POST', '/v1/accounts', {
          body: { email: `s${signups}@example.com`, authKey, wrappedMasterKey: 'd3JhcA' }
        })
      ).status
      if (status === 201) signups++
    }
    expect(status).toBe(429)
    expect(signups).toBe(RATE_LIMITS.signupPerIp.burst)
  })
  it('are the accounts service’s: the address it is given is audited, and limited with the email for recovery', async () => {
    const t = await startTracker()
    const { email, authKey, session } = await signup(t)
    const { accounts, store } = t.tracker.components
    const ip = '198.51.100.7'
    const wrongKey = toBase64Url(randomBytes(32))
    await accounts.login({ email, authKey }, ip)
    await expect(accounts.login({ email, authKey: wrongKey }, ip)).rejects.toMatchObject({
      code: ErrorCode.WRONG_PASSWORD
    })
    // An unknown email has no log to write to.
    await expect(accounts.login({ email: 'nobody@example.com', authKey }, ip)).rejects.toMatchObject({
      code: ErrorCode.WRONG_PASSWORD
    })
    const events = (await store.accounts.listAudit(session.account.id, 10)).map((e) => [e.event, e.details?.ip])
    expect(events).toEqual([
      ['login-failed', ip],
      ['login', ip],
      ['signup', '127.0.0.1']
    ])

    // Recovery attempts draw from the login's per-email bucket, from whatever address they come.
    const recovery = { email, recoveryAuthKey: wrongKey }
    for (let i = 2; i < RATE_LIMITS.loginPerEmail.burst; i++) {
      await expect(accounts.recoveryWrap(recovery, `203.0.113.${i}`)).rejects.toMatchObject({
        code: ErrorCode.WRONG_RECOVERY_KEY
      })
    }
    await expect(accounts.login({ email, authKey }, '192.0.2.1')).rejects.toMatchObject({
      code: ErrorCode.RATE_LIMITED
    })
    // A refused attempt is audited as nothing: it never reached the password.
    expect(await store.accounts.listAudit(session.account.id, 10)).toHaveLength(3)
  })
})
