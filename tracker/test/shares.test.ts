import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import {
  type DownloadGrantsResponse,
  ErrorCode,
  type Grant,
  type ListSharesResponse,
  type ObjectSummary,
  peekToken,
  randomBytes,
  type ShareInfo,
  type ShareView,
  toBase64Url
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { expectError, expectOk, FakeNode, nameHash, signup, startTracker, uploadObject } from './helpers.ts'

const meta = toBase64Url(randomBytes(40))

describe('share links', () => {
  it('issues get grants to anyone with a live share, billed to the owner, until it is revoked', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const owner = await signup(t)
    const { object } = await uploadObject(t, owner.token, nodes, { size: 3000 })
    const share = expectOk(
      await t.request<ShareView>('POST', '/v1/shares', { token: owner.token, body: { objectId: object.id, meta } }),
      201
    )
    expect(share).toMatchObject({ objectId: object.id, meta, passwordProtected: false })

    // No session needed to read it or get grants; nothing in the answer is a key or a name.
    const info = expectOk(await t.request<ShareInfo>('GET', `/v1/shares/${share.id}`))
    expect(info).toMatchObject({ id: share.id, meta, object: { id: object.id, size: 3000 } })
    expect(JSON.stringify(info)).not.toContain('wrappedKey')
    expect(info.password).toBeUndefined()
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/shares/${share.id}/grants`, { body: { from: 0, to: 2 } })
    )
    expect(grants.segments.map((s) => s.index)).toEqual([0, 1])
    const grant = peekToken(grants.segments[0]!.pieces[0]!.grant) as Grant
    expect(grant).toMatchObject({ kind: 'get', account: owner.session.account.id })
    // A visitor's receipt key goes into its grants, so nodes can settle what they served to it (billed to the owner).
    const receiptKey = toBase64Url(publicKeyToProtobuf((await generateKeyPair('Ed25519')).publicKey))
    const withKey = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/shares/${share.id}/grants`, {
        body: { from: 0, to: 1, receiptKey }
      })
    )
    expect(peekToken(withKey.segments[0]!.pieces[0]!.grant)).toMatchObject({
      rk: receiptKey,
      account: owner.session.account.id
    })

    // Only the owner lists and revokes it.
    const stranger = await signup(t)
    expect(
      expectOk(await t.request<ListSharesResponse>('GET', '/v1/shares', { token: stranger.token })).shares
    ).toEqual([])
    expectError(
      await t.request('DELETE', `/v1/shares/${share.id}`, { token: stranger.token }),
      404,
      ErrorCode.SHARE_NOT_FOUND
    )
    const listed = expectOk(await t.request<ListSharesResponse>('GET', '/v1/shares', { token: owner.token })).shares
    expect(listed.map((s) => s.id)).toEqual([share.id])

    const revoked = expectOk(await t.request<ShareView>('DELETE', `/v1/shares/${share.id}`, { token: owner.token }))
    expect(revoked.revokedAt).toBe(t.clock.now())
    expectError(await t.request('GET', `/v1/shares/${share.id}`), 410, ErrorCode.SHARE_REVOKED)
    expectError(
      await t.request('POST', `/v1/shares/${share.id}/grants`, { body: { from: 0, to: 1 } }),
      410,
      ErrorCode.SHARE_REVOKED
    )
    expectError(await t.request('GET', '/v1/shares/AAAAAAAAAAAAAAAAAAAAAA'), 404, ErrorCode.SHARE_NOT_FOUND)
  })

  it('bounds what one share-grant request and one visitor or share may make the tracker sign (issue 12)', async () => {
    // 16 + 16 pieces a segment: a 16-segment request is 512 grants, so the budgets run out in a few requests.
    const t = await startTracker({ trustProxy: ['127.0.0.1'], policy: { k: 16, m: 16, segmentSize: 1024 } })
    const nodes = await FakeNode.many(t, 32)
    const owner = await signup(t)
    const { object } = await uploadObject(t, owner.token, nodes, { size: 40 * 1024 })
    const share = expectOk(
      await t.request<ShareView>('POST', '/v1/shares', { token: owner.token, body: { objectId: object.id, meta } }),
      201
    )
    const ask = (from: number, to: number, ip: string) =>
      t.request<DownloadGrantsResponse>('POST', `/v1/shares/${share.id}/grants`, {
        body: { from, to },
        headers: { 'x-forwarded-for': ip }
      })

    // The attack: one request for 40 segments (64 were allowed) would have the tracker sign 1,280 grants.
    const oversized = expectError(await ask(0, 40, '203.0.113.1'), 400, ErrorCode.INVALID_INPUT)
    expect(oversized.details).toMatchObject({ field: 'to' })
    expect(expectOk(await ask(0, 16, '203.0.113.1')).segments).toHaveLength(16)

    // 8,192 grants a minute per address: 16 requests of 512, and the 17th waits, whatever it asks for.
    for (let i = 1; i < 16; i++) expectOk(await ask(16, 32, '203.0.113.1'))
    const limited = expectError(await ask(0, 1, '203.0.113.1'), 429, ErrorCode.RATE_LIMITED)
    expect(limited.details?.retryAfterMs).toBeGreaterThan(0)
    // Another address still gets grants, until the share's own budget (32,768 a minute, all visitors) is spent.
    for (let ip = 2; ip <= 4; ip++) {
      for (let i = 0; i < 16; i++) expectOk(await ask(16, 32, `203.0.113.${ip}`))
    }
    expectError(await ask(0, 1, '203.0.113.5'), 429, ErrorCode.RATE_LIMITED)
    // The budgets refill with time.
    t.clock.advance(60_000)
    expect(expectOk(await ask(32, 40, '203.0.113.1')).segments).toHaveLength(8)
  })

  it('checks the password and the expiry before issuing grants', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const owner = await signup(t)
    const { object } = await uploadObject(t, owner.token, nodes, { size: 100 })
    const authKey = toBase64Url(randomBytes(32))
    const salt = toBase64Url(randomBytes(16))
    const share = expectOk(
      await t.request<ShareView>('POST', '/v1/shares', {
        token: owner.token,
        body: { objectId: object.id, meta, expiresAt: t.clock.now() + 60_000, password: { salt, authKey } }
      }),
      201
    )
    expect(share.passwordProtected).toBe(true)
    const info = expectOk(await t.request<ShareInfo>('GET', `/v1/shares/${share.id}`))
    expect(info.password).toEqual({ salt })
    const grants = (body: unknown) => t.request('POST', `/v1/shares/${share.id}/grants`, { body })
    expectError(await grants({ from: 0, to: 1 }), 401, ErrorCode.SHARE_PASSWORD)
    expectError(await grants({ from: 0, to: 1, authKey: toBase64Url(randomBytes(32)) }), 401, ErrorCode.SHARE_PASSWORD)
    expectOk(await grants({ from: 0, to: 1, authKey }))

    t.clock.advance(60_000)
    expectError(await grants({ from: 0, to: 1, authKey }), 410, ErrorCode.SHARE_EXPIRED)
    expectError(await t.request('GET', `/v1/shares/${share.id}`), 410, ErrorCode.SHARE_EXPIRED)
  })

  it("changes a link's expiry, even after it lapsed, and counts the downloads started through it", async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const owner = await signup(t)
    const { object } = await uploadObject(t, owner.token, nodes, { size: 3000 })
    const share = expectOk(
      await t.request<ShareView>('POST', '/v1/shares', {
        token: owner.token,
        body: { objectId: object.id, meta, expiresAt: t.clock.now() + 60_000 }
      }),
      201
    )
    expect(share.downloads).toBe(0)
    const grants = (from: number) =>
      t.request('POST', `/v1/shares/${share.id}/grants`, { body: { from, to: from + 1 } })
    const listed = async () =>
      expectOk(await t.request<ListSharesResponse>('GET', '/v1/shares', { token: owner.token })).shares[0]
    // Two downloads start at segment 0; reading on from segment 1 is the same download.
    expectOk(await grants(0))
    expectOk(await grants(1))
    expectOk(await grants(0))
    expect((await listed())?.downloads).toBe(2)

    const patch = (body: unknown, token = owner.token) =>
      t.request<ShareView>('PATCH', `/v1/shares/${share.id}`, { token, body })
    t.clock.advance(60_000)
    expectError(await grants(0), 410, ErrorCode.SHARE_EXPIRED)
    const stranger = await signup(t)
    expectError(await patch({ expiresAt: t.clock.now() + 1000 }, stranger.token), 404, ErrorCode.SHARE_NOT_FOUND)
    for (const bad of [{ expiresAt: t.clock.now() }, { expiresAt: 'soon' }, {}]) {
      expectError(await patch(bad), 400, ErrorCode.INVALID_INPUT)
    }
    const later = t.clock.now() + 3_600_000
    expect(expectOk(await patch({ expiresAt: later }))).toMatchObject({ expiresAt: later, downloads: 2 })
    expectOk(await grants(0))
    const forever = expectOk(await patch({ expiresAt: null }))
    expect(forever.expiresAt).toBeUndefined()
    t.clock.advance(7_200_000)
    expectOk(await grants(0))
    expect(await listed()).toMatchObject({ downloads: 4 })
    expect((await listed())?.expiresAt).toBeUndefined()

    expectOk(await t.request('DELETE', `/v1/shares/${share.id}`, { token: owner.token }))
    expectError(await patch({ expiresAt: null }), 410, ErrorCode.SHARE_REVOKED)
  })

  it('refuses shares of files one does not own, bad bodies, and shares of deleted files', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const owner = await signup(t)
    const other = await signup(t)
    const { object } = await uploadObject(t, owner.token, nodes, { size: 100 })
    const create = (token: string, body: unknown) => t.request('POST', '/v1/shares', { token, body })
    expectError(await create(other.token, { objectId: object.id, meta }), 404, ErrorCode.OBJECT_NOT_FOUND)
    expectError(await create(owner.token, { objectId: object.id }), 400, ErrorCode.INVALID_INPUT)
    expectError(
      await create(owner.token, { objectId: object.id, meta, expiresAt: t.clock.now() - 1 }),
      400,
      ErrorCode.INVALID_INPUT
    )
    expectError(
      await t.request('POST', '/v1/shares', { body: { objectId: object.id, meta } }),
      401,
      ErrorCode.UNAUTHORIZED
    )
    const share = expectOk(
      await t.request<ShareView>('POST', '/v1/shares', { token: owner.token, body: { objectId: object.id, meta } }),
      201
    )
    expectOk(await t.request('DELETE', `/v1/objects/${object.id}`, { token: owner.token }))
    expectError(await t.request('GET', `/v1/shares/${share.id}`), 404, ErrorCode.SHARE_NOT_FOUND)
  })
})

describe('renaming objects', () => {
  it('moves an object to a free name hash with new sealed metadata, keeping its pieces', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const owner = await signup(t)
    const a = await uploadObject(t, owner.token, nodes, { size: 100 })
    const b = await uploadObject(t, owner.token, nodes, { size: 50 })
    const to = nameHash()
    const renamed = expectOk(
      await t.request<ObjectSummary>('PATCH', `/v1/objects/${a.object.id}`, {
        token: owner.token,
        body: { nameHash: to, meta }
      })
    )
    expect(renamed).toEqual({ ...a.object, nameHash: to, meta })
    expect(
      expectOk(await t.request<ObjectSummary>('GET', `/v1/objects/by-name/${to}`, { token: owner.token })).id
    ).toBe(a.object.id)
    expectError(
      await t.request('GET', `/v1/objects/by-name/${a.body.nameHash}`, { token: owner.token }),
      404,
      ErrorCode.OBJECT_NOT_FOUND
    )
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${a.object.id}/grants`, {
        token: owner.token,
        body: { from: 0, to: 1 }
      })
    )
    expect(grants.segments).toHaveLength(1)
    // Onto another object's name: refused, nothing changes.
    expectError(
      await t.request('PATCH', `/v1/objects/${a.object.id}`, {
        token: owner.token,
        body: { nameHash: b.body.nameHash, meta }
      }),
      409,
      ErrorCode.CONFLICT
    )
    const other = await signup(t)
    expectError(
      await t.request('PATCH', `/v1/objects/${a.object.id}`, {
        token: other.token,
        body: { nameHash: nameHash(), meta }
      }),
      404,
      ErrorCode.OBJECT_NOT_FOUND
    )
    expectError(
      await t.request('PATCH', `/v1/objects/${a.object.id}`, { token: owner.token, body: { nameHash: 'not base64!' } }),
      400,
      ErrorCode.INVALID_INPUT
    )
  })
})

describe('CORS', () => {
  it('lets a web UI on another origin call the API with its bearer token', async () => {
    const t = await startTracker()
    const preflight = await fetch(`${t.url}/v1/objects`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:5173', 'access-control-request-method': 'PATCH' }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PATCH')
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization')
    const info = await fetch(`${t.url}/v1/info`, { headers: { origin: 'http://127.0.0.1:5173' } })
    expect(info.headers.get('access-control-allow-origin')).toBe('*')
  })
})
