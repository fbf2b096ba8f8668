import {
  type BeginUploadResponse,
  type CommitSegmentResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  type ListUploadsResponse,
  type ObjectInfo,
  type UploadStatus
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import {
  beginBody,
  expectError,
  expectOk,
  FakeNode,
  pieceSizeOf,
  placeSegment,
  receiptsFor,
  signup,
  startTracker,
  type TestTracker
} from './helpers.ts'

/** 2 data + 2 parity pieces; a segment commits with 3 receipts. */
const POLICY = { k: 2, m: 2, segmentSize: 1024, minCommitPieces: 3 }

async function begin(t: TestTracker, token: string, size: number, extra: Record<string, unknown> = {}) {
  const body = { ...beginBody({ size }), ...extra }
  return { body, upload: expectOk(await t.request<BeginUploadResponse>('POST', '/v1/uploads', { token, body })) }
}

async function commitSegment(t: TestTracker, token: string, uploadId: string, index: number, pieces: unknown) {
  return t.request<CommitSegmentResponse>('POST', `/v1/uploads/${uploadId}/segments/${index}/commit`, {
    token,
    body: { pieces }
  })
}

describe('resuming uploads', () => {
  it('tells the owner, and only the owner, what a resume needs: layout, sealed key, nonce, committed segments', async () => {
    const t = await startTracker({ policy: POLICY, uploadTtlMs: 60_000 })
    const nodes = await FakeNode.many(t, 4)
    const { token } = await signup(t)
    const other = await signup(t)
    const { body, upload } = await begin(t, token, 3000)
    expect(upload.minCommitPieces).toBe(3)
    const status = (as = token) => t.request<UploadStatus>('GET', `/v1/uploads/${upload.uploadId}`, { token: as })

    const expected: UploadStatus = {
      uploadId: upload.uploadId,
      nameHash: body.nameHash,
      size: 3000,
      meta: body.meta,
      wrappedKey: body.wrappedKey,
      nonce: body.nonce,
      k: 2,
      m: 2,
      segmentSize: 1024,
      segmentCount: 3,
      minCommitPieces: 3,
      committed: [],
      expiresAt: upload.expiresAt
    }
    expect(expectOk(await status())).toEqual(expected)

    // Placed is not committed; committed segments are listed by index.
    for (const s of [2, 0]) {
      const placement = await placeSegment(t, token, upload, s, pieceSizeOf(upload, 3000, s))
      expectOk(await commitSegment(t, token, upload.uploadId, s, await receiptsFor(nodes, placement)))
    }
    await placeSegment(t, token, upload, 1, pieceSizeOf(upload, 3000, 1))
    expect(expectOk(await status())).toEqual({ ...expected, committed: [0, 2] })

    // Someone else's upload, an unknown id and a malformed one are all "not found" (or invalid), never "forbidden".
    expectError(await status(other.token), 404, ErrorCode.UPLOAD_NOT_FOUND)
    expectError(
      await t.request('GET', '/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA', { token }),
      404,
      ErrorCode.UPLOAD_NOT_FOUND
    )
    expectError(await t.request('GET', '/v1/uploads/not*an*id', { token }), 400, ErrorCode.INVALID_INPUT)
    expectError(await t.request('GET', `/v1/uploads/${upload.uploadId}`), 401, ErrorCode.UNAUTHORIZED)

    // Expired is gone at once, before any sweep.
    t.clock.advance(60_000)
    expectError(await status(), 404, ErrorCode.UPLOAD_NOT_FOUND)
  })

  it("lists the caller's uploads in progress, oldest first, until they are committed, aborted or expire", async () => {
    const t = await startTracker({ policy: POLICY, uploadTtlMs: 60_000 })
    const nodes = await FakeNode.many(t, 4)
    const alice = await signup(t)
    const bob = await signup(t)
    const list = async (token: string) =>
      expectOk(await t.request<ListUploadsResponse>('GET', '/v1/uploads', { token })).uploads

    expect(await list(alice.token)).toEqual([])
    const a = (await begin(t, alice.token, 500)).upload
    t.clock.advance(1000)
    const b = (await begin(t, alice.token, 2000)).upload
    t.clock.advance(1000)
    const c = (await begin(t, alice.token, 10)).upload
    const theirs = (await begin(t, bob.token, 10)).upload

    const placement = await placeSegment(t, alice.token, b, 1, pieceSizeOf(b, 2000, 1))
    expectOk(await commitSegment(t, alice.token, b.uploadId, 1, await receiptsFor(nodes, placement)))
    const listed = await list(alice.token)
    expect(listed.map((u) => u.uploadId)).toEqual([a.uploadId, b.uploadId, c.uploadId])
    // Each entry is what GET /v1/uploads/:id says about it.
    for (const u of listed) {
      expect(u).toEqual(expectOk(await t.request('GET', `/v1/uploads/${u.uploadId}`, { token: alice.token })))
    }
    expect(listed[1]?.committed).toEqual([1])
    expect((await list(bob.token)).map((u) => u.uploadId)).toEqual([theirs.uploadId])

    // Committed: it is an object now, not an upload.
    const p = await placeSegment(t, alice.token, a, 0, pieceSizeOf(a, 500, 0))
    expectOk(await commitSegment(t, alice.token, a.uploadId, 0, await receiptsFor(nodes, p)))
    expectOk(await t.request('POST', `/v1/uploads/${a.uploadId}/commit`, { token: alice.token }))
    // Aborted.
    expectOk(await t.request('DELETE', `/v1/uploads/${c.uploadId}`, { token: alice.token }))
    expect((await list(alice.token)).map((u) => u.uploadId)).toEqual([b.uploadId])
    // Expired: left out at once, before the sweep removes them.
    t.clock.advance(60_000)
    expect(await list(alice.token)).toEqual([])
    expect(await t.tracker.sweep()).toMatchObject({ uploads: 2 })
    expect(await list(bob.token)).toEqual([])
    expectError(await t.request('GET', '/v1/uploads'), 401, ErrorCode.UNAUTHORIZED)
  })

  it('answers a repeated segment commit with success and changes nothing: the first commit wins', async () => {
    const t = await startTracker({ policy: POLICY })
    const nodes = await FakeNode.many(t, 5)
    const { token } = await signup(t)
    const { upload } = await begin(t, token, 100)
    const placement = await placeSegment(t, token, upload, 0, pieceSizeOf(upload, 100, 0))
    const receipts = await receiptsFor(nodes, placement)

    expect(expectOk(await commitSegment(t, token, upload.uploadId, 0, receipts.slice(0, 3)))).toEqual({
      index: 0,
      pieces: 3
    })
    // The same request again (its answer was lost): success, nothing changes.
    expect(expectOk(await commitSegment(t, token, upload.uploadId, 0, receipts.slice(0, 3)))).toEqual({
      index: 0,
      pieces: 3,
      alreadyCommitted: true
    })
    // More receipts later do not change a committed segment either.
    expect(expectOk(await commitSegment(t, token, upload.uploadId, 0, receipts))).toEqual({
      index: 0,
      pieces: 3,
      alreadyCommitted: true
    })
    // A repeat is checked like a first commit: a bad receipt is still refused.
    const forged = { ...receipts[0], receipt: receipts[1]?.receipt }
    expectError(
      await commitSegment(t, token, upload.uploadId, 0, [forged, ...receipts.slice(1, 3)]),
      400,
      ErrorCode.RECEIPT_INVALID
    )
    expectError(await commitSegment(t, token, upload.uploadId, 0, receipts.slice(0, 2)), 400, ErrorCode.INVALID_INPUT)

    const { object } = expectOk(
      await t.request<{ object: ObjectInfo }>('POST', `/v1/uploads/${upload.uploadId}/commit`, { token })
    )
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 0, to: 1 }
      })
    )
    expect(grants.segments[0]?.pieces.map((p) => p.index).sort()).toEqual([0, 1, 2])
  })

  it('un-commits a segment that is placed again, so it commits against its new placement', async () => {
    const t = await startTracker({ policy: POLICY })
    const nodes = await FakeNode.many(t, 5)
    const { token } = await signup(t)
    const { upload } = await begin(t, token, 100)
    const size = pieceSizeOf(upload, 100, 0)
    const first = await placeSegment(t, token, upload, 0, size)
    expectOk(await commitSegment(t, token, upload.uploadId, 0, await receiptsFor(nodes, first)))
    const second = await placeSegment(t, token, upload, 0, size)
    const status = expectOk(await t.request<UploadStatus>('GET', `/v1/uploads/${upload.uploadId}`, { token }))
    expect(status.committed).toEqual([])
    expectError(
      await commitSegment(t, token, upload.uploadId, 0, await receiptsFor(nodes, first)),
      409,
      ErrorCode.CONFLICT
    )
    expect(expectOk(await commitSegment(t, token, upload.uploadId, 0, await receiptsFor(nodes, second)))).toEqual({
      index: 0,
      pieces: 4
    })
  })

  it('keeps an interrupted upload across a tracker restart, and it completes from where it stopped', async () => {
    const t = await startTracker({ policy: POLICY })
    const nodes = await FakeNode.many(t, 4)
    const { token } = await signup(t)
    const { upload } = await begin(t, token, 2000)
    const p0 = await placeSegment(t, token, upload, 0, pieceSizeOf(upload, 2000, 0))
    expectOk(await commitSegment(t, token, upload.uploadId, 0, (await receiptsFor(nodes, p0)).slice(1)))
    await t.restart()
    for (const n of nodes) expectOk(await n.heartbeat())
    const status = expectOk(await t.request<UploadStatus>('GET', `/v1/uploads/${upload.uploadId}`, { token }))
    expect(status).toMatchObject({ committed: [0], k: 2, m: 2, minCommitPieces: 3 })
    const listed = expectOk(await t.request<ListUploadsResponse>('GET', '/v1/uploads', { token }))
    expect(listed.uploads.map((u) => u.uploadId)).toEqual([upload.uploadId])
    const p1 = await placeSegment(t, token, upload, 1, pieceSizeOf(upload, 2000, 1))
    expectOk(await commitSegment(t, token, upload.uploadId, 1, await receiptsFor(nodes, p1)))
    expectOk(await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token }))
  })
})
