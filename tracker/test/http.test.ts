import { ErrorCode, MiB, randomBytes, toBase64Url } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { expectError, expectOk, signup, startTracker } from './helpers.ts'

describe('HTTP surface', () => {
  it('answers health checks and unknown routes', async () => {
    const t = await startTracker()
    expect(expectOk(await t.request('GET', '/healthz'))).toEqual({ ok: true })
    expectError(await t.request('GET', '/v1/nope'), 404, ErrorCode.NOT_FOUND)
    expectError(await t.request('PUT', '/v1/accounts', { body: {} }), 404, ErrorCode.NOT_FOUND)
    const response = await fetch(`${t.url}/v1/info`)
    expect(response.headers.get('cache-control')).toBe('no-store')
  })

  it('refuses malformed JSON, oversized bodies and bad fields with ERR_INVALID_INPUT', async () => {
    const t = await startTracker()
    const { token } = await signup(t)
    expectError(await t.request('POST', '/v1/accounts', { raw: '{"email": ' }), 400, ErrorCode.INVALID_INPUT)
    expectError(await t.request('POST', '/v1/sessions', { raw: 'null' }), 400, ErrorCode.INVALID_INPUT)
    expectError(await t.request('POST', '/v1/accounts', { raw: '' }), 400, ErrorCode.INVALID_INPUT)
    const big = JSON.stringify({ email: 'x@example.com', authKey: 'A'.repeat(MiB), wrappedMasterKey: 'eA' })
    expectError(await t.request('POST', '/v1/accounts', { raw: big }), 400, ErrorCode.INVALID_INPUT)

    const good = {
      nameHash: toBase64Url(randomBytes(32)),
      size: 10,
      meta: 'bWV0YQ',
      wrappedKey: 'a2V5',
      nonce: toBase64Url(randomBytes(8))
    }
    for (const [field, value] of [
      ['nameHash', 'not base64url!'],
      ['nameHash', ''],
      ['size', -1],
      ['size', 1.5],
      ['size', 2 ** 53],
      ['size', '10'],
      ['meta', 'A'.repeat(70_000)],
      ['meta', 'AB='],
      ['wrappedKey', 5],
      ['nonce', toBase64Url(randomBytes(12))],
      ['overwrite', 'yes']
    ] as const) {
      const err = expectError(
        await t.request('POST', '/v1/uploads', { token, body: { ...good, [field]: value } }),
        400,
        ErrorCode.INVALID_INPUT
      )
      expect(err.details?.field).toBe(field)
    }
  })

  it('reads JSON whatever the content type says, and empty bodies as none', async () => {
    const t = await startTracker()
    const body = JSON.stringify({
      email: 'dave@example.com',
      authKey: toBase64Url(randomBytes(32)),
      wrappedMasterKey: 'eA'
    })
    const created = await fetch(`${t.url}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body
    })
    expect(created.status).toBe(201)
    const { token } = (await created.json()) as { token: string }
    // DELETE with a JSON content type and no body is fine (the upload just does not exist).
    const response = await fetch(`${t.url}/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }
    })
    expect(response.status).toBe(404)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(ErrorCode.UPLOAD_NOT_FOUND)
  })
})
