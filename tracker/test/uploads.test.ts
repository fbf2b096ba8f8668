import {
  type AccountView,
  type BeginUploadResponse,
  type CommitUploadResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  type Grant,
  type ListObjectsResponse,
  type ObjectInfo,
  type PlaceSegmentResponse,
  peekToken,
  verifyGrant
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import {
  beginBody,
  expectError,
  expectOk,
  FakeNode,
  nameHash,
  pieceSizeOf,
  placeSegment,
  receiptsFor,
  segmentPieces,
  signup,
  startTracker,
  type TestTracker,
  uploadObject
} from './helpers.ts'

async function begin(t: TestTracker, token: string, size: number, extra: Record<string, unknown> = {}) {
  return t.request<BeginUploadResponse>('POST', '/v1/uploads', { token, body: { ...beginBody({ size }), ...extra } })
}

describe('uploads', () => {
  it('runs a whole upload, then lists it, finds it by name and grants its download', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const { token, session } = await signup(t)
    const trackerKey = await t.trackerKey()
    const size = 2500 // 3 segments of 1024, 1024, 452 bytes

    const body = beginBody({ size })
    const upload = expectOk(await t.request<BeginUploadResponse>('POST', '/v1/uploads', { token, body }))
    expect(upload).toMatchObject({ k: 2, m: 1, segmentSize: 1024, segmentCount: 3 })
    expect(upload.uploadId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(upload.expiresAt).toBe(t.clock.now() + 24 * 3600 * 1000)
    // Reserved at once: visible in the account's usage before the commit.
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token })).used).toBe(size)

    const used = new Set<string>()
    for (let s = 0; s < 3; s++) {
      const pieceSize = pieceSizeOf(upload, size, s)
      const placement = await placeSegment(t, token, upload, s, pieceSize)
      expect(placement.pieces.map((p) => p.index)).toEqual([0, 1, 2])
      expect(new Set(placement.pieces.map((p) => p.node.peerId)).size).toBe(3)
      for (const piece of placement.pieces) {
        used.add(piece.node.peerId)
        expect(piece.node.addrs).toHaveLength(1)
        const grant = await verifyGrant(piece.grant, trackerKey, {
          kind: 'put',
          node: piece.node.peerId,
          piece: piece.cid,
          now: t.clock.now()
        })
        expect(grant).toMatchObject({ size: pieceSize, account: session.account.id, exp: t.clock.now() + 3_600_000 })
      }
      const committed = await t.request(`POST`, `/v1/uploads/${upload.uploadId}/segments/${s}/commit`, {
        token,
        body: { pieces: await receiptsFor(nodes, placement) }
      })
      expectOk(committed)
    }
    // The start rotates with the segment index, so all four nodes got work.
    expect(used.size).toBe(4)
    // Invisible until the commit.
    expect(expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token })).objects).toEqual([])

    const { object } = expectOk(
      await t.request<{ object: ObjectInfo }>('POST', `/v1/uploads/${upload.uploadId}/commit`, { token })
    )
    expect(object).toEqual({
      id: upload.uploadId,
      nameHash: body.nameHash,
      meta: body.meta,
      size,
      createdAt: t.clock.now()
    })

    expect(expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token })).objects).toEqual([object])
    const info = expectOk(await t.request<ObjectInfo>('GET', `/v1/objects/by-name/${body.nameHash}`, { token }))
    expect(info).toEqual({
      ...object,
      wrappedKey: body.wrappedKey,
      nonce: body.nonce,
      segmentSize: 1024,
      k: 2,
      m: 1,
      segmentCount: 3
    })
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))).toMatchObject({
      used: size,
      objects: 1
    })

    // Node 0 goes quiet: its pieces are still granted, but after the online ones.
    t.clock.advance(3500)
    for (const n of nodes.slice(1)) expectOk(await n.heartbeat())
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 0, to: 3 }
      })
    )
    expect(grants.segments.map((s) => s.index)).toEqual([0, 1, 2])
    for (const segment of grants.segments) {
      expect(segment.pieces.map((p) => p.index).sort()).toEqual([0, 1, 2])
      const offline = segment.pieces.findIndex((p) => p.node.peerId === (nodes[0] as FakeNode).peerId)
      if (offline !== -1) expect(offline).toBe(2)
      for (const piece of segment.pieces) {
        const grant = await verifyGrant(piece.grant, trackerKey, {
          kind: 'get',
          node: piece.node.peerId,
          piece: piece.cid,
          now: t.clock.now()
        })
        expect(grant.size).toBe(pieceSizeOf(upload, size, segment.index))
        expect(piece.node.addrs).toHaveLength(1)
      }
    }
    const one = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 2, to: 3 }
      })
    )
    expect(one.segments.map((s) => s.index)).toEqual([2])
    for (const range of [
      { from: 0, to: 4 },
      { from: 2, to: 2 },
      { from: -1, to: 1 },
      { from: 0 },
      { from: 0.5, to: 1 }
    ]) {
      expectError(
        await t.request('POST', `/v1/objects/${object.id}/grants`, { token, body: range }),
        400,
        ErrorCode.INVALID_INPUT
      )
    }
  })

  it('stores an empty file as one segment', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const { upload, placements, object } = await uploadObject(t, token, nodes, { size: 0 })
    expect(upload.segmentCount).toBe(1)
    expect(object.size).toBe(0)
    // 16 bytes of GCM tag split over k = 2 pieces.
    const grant = peekToken(placements[0]?.pieces[0]?.grant as string) as Grant
    expect(grant.size).toBe(8)
  })

  it('refuses a commit whose receipt is forged or does not match the grant', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 100))
    const size = pieceSizeOf(upload, 100, 0)
    const placement = await placeSegment(t, token, upload, 0, size)
    const good = await receiptsFor(nodes, placement)
    const commit = (pieces: unknown) =>
      t.request(`POST`, `/v1/uploads/${upload.uploadId}/segments/0/commit`, { token, body: { pieces } })
    const byId = new Map(nodes.map((n) => [n.peerId, n]))
    const first = placement.pieces[0] as PlaceSegmentResponse['pieces'][number]
    const holder = byId.get(first.node.peerId) as FakeNode
    const stranger = nodes.find((n) => !placement.pieces.some((p) => p.node.peerId === n.peerId)) as FakeNode

    // Signed by a node that does not hold the piece.
    const forged = { ...good[0], receipt: await stranger.receipt(first.grant) }
    expectError(await commit([forged, ...good.slice(1)]), 400, ErrorCode.RECEIPT_INVALID)
    // Right node, wrong serial or size.
    for (const over of [{ serial: 'someotherserial' }, { size: size + 1 }]) {
      const wrong = { ...good[0], receipt: await holder.receipt(first.grant, over) }
      expectError(await commit([wrong, ...good.slice(1)]), 400, ErrorCode.RECEIPT_INVALID)
    }
    // The receipt of another piece.
    expectError(
      await commit([{ ...good[0], receipt: good[1]?.receipt }, ...good.slice(1)]),
      400,
      ErrorCode.RECEIPT_INVALID
    )
    // A node or CID that differs from the placement.
    expectError(await commit([{ ...good[0], node: stranger.peerId }, ...good.slice(1)]), 409, ErrorCode.CONFLICT)
    expectError(await commit([{ ...good[0], cid: good[1]?.cid }, ...good.slice(1)]), 409, ErrorCode.CONFLICT)
    // Not all pieces.
    expectError(await commit(good.slice(1)), 400, ErrorCode.INVALID_INPUT)
    // Nothing was committed by the refused attempts.
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token }),
      409,
      ErrorCode.UPLOAD_INCOMPLETE
    )
    expectOk(await commit(good))
  })

  it('refuses to commit an upload before every segment is committed', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const size = 5000 // 5 segments
    const upload = expectOk(await begin(t, token, size))
    const receipts = []
    for (const s of [0, 3]) {
      const placement = await placeSegment(t, token, upload, s, pieceSizeOf(upload, size, s))
      receipts.push(await receiptsFor(nodes, placement))
      expectOk(
        await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/${s}/commit`, {
          token,
          body: { pieces: receipts.at(-1) }
        })
      )
    }
    // Segment 4 is placed but never committed.
    await placeSegment(t, token, upload, 4, pieceSizeOf(upload, size, 4))
    const err = expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token }),
      409,
      ErrorCode.UPLOAD_INCOMPLETE
    )
    expect(err.details?.missing).toEqual([1, 2, 4])
    // Committing a segment that was never placed.
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/1/commit`, {
        token,
        body: { pieces: receipts[0] }
      }),
      409,
      ErrorCode.CONFLICT
    )
  })

  it('checks placement requests', async () => {
    const t = await startTracker()
    await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 100))
    const size = pieceSizeOf(upload, 100, 0)
    const pieces = await segmentPieces(upload.uploadId, 0, 3, size)
    const place = (body: unknown, index = '0') =>
      t.request('POST', `/v1/uploads/${upload.uploadId}/segments/${index}/place`, { token, body })
    for (const body of [
      { pieces: pieces.slice(1) },
      { pieces: [...pieces, pieces[0]] },
      { pieces: [pieces[0], pieces[0], pieces[1]] },
      { pieces: pieces.map((p) => ({ ...p, size: size + 1 })) },
      { pieces: pieces.map((p, i) => (i === 0 ? { ...p, cid: 'bafy-not-a-cid' } : p)) },
      { pieces: pieces.map((p, i) => (i === 0 ? { ...p, index: 3 } : p)) },
      { pieces, exclude: 'x' }
    ]) {
      expectError(await place(body), 400, ErrorCode.INVALID_INPUT)
    }
    for (const index of ['1', '-1', 'x', '01'])
      expectError(await place({ pieces }, index), 400, ErrorCode.INVALID_INPUT)
    // Excluding one of three nodes leaves too few.
    const all = expectOk(await t.request<{ nodes: { peerId: string }[] }>('GET', '/v1/nodes')).nodes
    const err = expectError(await place({ pieces, exclude: [all[0]?.peerId] }), 503, ErrorCode.NOT_ENOUGH_NODES)
    expect(err.details).toEqual({ needed: 3, available: 2 })
    expectOk(await place({ pieces }))
  })

  it('places a segment again on retry, avoiding excluded nodes, and commits against the new placement', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 5)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 100))
    const size = pieceSizeOf(upload, 100, 0)
    const pieces = await segmentPieces(upload.uploadId, 0, 3, size)
    const place = (exclude: string[]) =>
      t.request<PlaceSegmentResponse>('POST', `/v1/uploads/${upload.uploadId}/segments/0/place`, {
        token,
        body: { pieces, exclude }
      })
    const first = expectOk(await place([]))
    const excluded = (first.pieces[0] as PlaceSegmentResponse['pieces'][number]).node.peerId
    const second = expectOk(await place([excluded]))
    expect(second.pieces.map((p) => p.node.peerId)).not.toContain(excluded)
    // Only the excluded node's piece moved.
    expect(second.pieces.slice(1).map((p) => p.node.peerId)).toEqual(first.pieces.slice(1).map((p) => p.node.peerId))
    const commit = async (placement: PlaceSegmentResponse) =>
      t.request(`POST`, `/v1/uploads/${upload.uploadId}/segments/0/commit`, {
        token,
        body: { pieces: await receiptsFor(nodes, placement) }
      })
    // Receipts for the replaced placement no longer count.
    expect((await commit(first)).status).not.toBe(200)
    expectOk(await commit(second))
    expectOk(await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token }))
    // The piece that was placed on the excluded node, and perhaps stored there, is dropped again.
    const answer = expectOk(await (nodes.find((n) => n.peerId === excluded) as FakeNode).heartbeat())
    expect(answer.deletes.map((d) => d.piece)).toContain(pieces[0]?.cid)
  })

  it('stores a segment degraded only when nodes for every piece are missing, says so at commit, queues its repair', async () => {
    // The repair loop off: what the commit queued stays in the queue for the test to see.
    const t = await startTracker({ policy: { k: 2, m: 2, segmentSize: 1024 }, ops: { repairIntervalMs: 0 } })
    const nodes = await FakeNode.many(t, 5)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 2000))
    const size = pieceSizeOf(upload, 2000, 0)
    const place = (index: number, pieces: unknown[], exclude: string[] = []) =>
      t.request<PlaceSegmentResponse>('POST', `/v1/uploads/${upload.uploadId}/segments/${index}/place`, {
        token,
        body: { pieces, exclude }
      })
    const commit = async (index: number, placement: PlaceSegmentResponse, count = placement.pieces.length) =>
      t.request('POST', `/v1/uploads/${upload.uploadId}/segments/${index}/commit`, {
        token,
        body: { pieces: (await receiptsFor(nodes, placement)).slice(0, count) }
      })
    const ids = nodes.map((n) => n.peerId)

    // Segment 0 in full: all four pieces, on four of the five nodes.
    const full = await segmentPieces(upload.uploadId, 0, 4, size)
    expectOk(await commit(0, expectOk(await place(0, full))))

    // Segment 1: the client could not reach two nodes, three are left for four pieces.
    const pieces = await segmentPieces(upload.uploadId, 1, 4, pieceSizeOf(upload, 2000, 1))
    const short = expectError(await place(1, pieces, ids.slice(0, 2)), 503, ErrorCode.NOT_ENOUGH_NODES)
    expect(short.details).toEqual({ needed: 4, available: 3 })
    // Fewer pieces than k + 1 are never enough, and a degraded placement is refused while nodes are there.
    expectError(await place(1, pieces.slice(0, 2), ids.slice(0, 2)), 400, ErrorCode.INVALID_INPUT)
    expectError(await place(1, pieces.slice(0, 3), ids.slice(0, 1)), 409, ErrorCode.CONFLICT)
    const degraded = expectOk(await place(1, pieces.slice(0, 3), ids.slice(0, 2)))
    expect(degraded.pieces.map((p) => p.index)).toEqual([0, 1, 2])
    for (const p of degraded.pieces) expect(ids.slice(0, 2)).not.toContain(p.node.peerId)
    // A degraded placement commits with all its pieces, not the upload's threshold of a full one.
    expectError(await commit(1, degraded, 2), 400, ErrorCode.INVALID_INPUT)
    expectOk(await commit(1, degraded))

    const done = expectOk(
      await t.request<CommitUploadResponse>('POST', `/v1/uploads/${upload.uploadId}/commit`, { token })
    )
    expect(done.degraded).toEqual({ segments: 1, segmentCount: 2, fewestPieces: 3, k: 2, m: 2 })
    // Short from the start: queued for repair at once, not when the pass over every segment comes by.
    const queued = await t.tracker.components.store.coordination.claimRepairs('test', t.clock.now(), 60_000, 10)
    expect(queued.map((q) => [q.objectId, q.index, q.healthy])).toEqual([[done.object.id, 1, 3]])
    const info = expectOk(await t.request<ObjectInfo>('GET', `/v1/objects/by-name/${done.object.nameHash}`, { token }))
    expect(info.segmentCount).toBe(2)
    // A whole upload reports nothing degraded.
    const whole = await uploadObject(t, token, nodes, { size: 100 })
    expect(whole.degraded).toBeUndefined()
  })

  it('keeps a fixed layout with a node short, so uploads go on degraded; fewer than k + 1 nodes refuse', async () => {
    const t = await startTracker({ policy: { k: 2, m: 2, segmentSize: 1024 } })
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 100))
    expect(upload).toMatchObject({ k: 2, m: 2 })
    const size = pieceSizeOf(upload, 100, 0)
    const pieces = await segmentPieces(upload.uploadId, 0, 4, size)
    const url = `/v1/uploads/${upload.uploadId}/segments/0/place`
    const refused = expectError(
      await t.request('POST', url, { token, body: { pieces } }),
      503,
      ErrorCode.NOT_ENOUGH_NODES
    )
    expect(refused.details).toEqual({ needed: 4, available: 3 })
    const subset = { pieces: pieces.slice(0, 3) }
    const placed = expectOk(await t.request<PlaceSegmentResponse>('POST', url, { token, body: subset }))
    expectOk(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/0/commit`, {
        token,
        body: { pieces: await receiptsFor(nodes, placed) }
      })
    )
    const done = expectOk(
      await t.request<CommitUploadResponse>('POST', `/v1/uploads/${upload.uploadId}/commit`, { token })
    )
    expect(done.degraded).toMatchObject({ segments: 1, fewestPieces: 3 })
    t.clock.advance(60_000)
    await nodes[0]?.heartbeat()
    await nodes[1]?.heartbeat()
    expect(expectError(await begin(t, token, 100), 503, ErrorCode.NOT_ENOUGH_NODES).details).toEqual({
      needed: 3,
      available: 2
    })
  })

  it('enforces the quota, counting uploads in progress', async () => {
    const t = await startTracker({ defaultQuota: 3000 })
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const err = expectError(await begin(t, token, 3001), 413, ErrorCode.QUOTA_EXCEEDED)
    expect(err.details).toEqual({ quota: 3000, used: 0, size: 3001 })
    await uploadObject(t, token, nodes, { size: 1000 })
    const pending = expectOk(await begin(t, token, 1500))
    const again = expectError(await begin(t, token, 501), 413, ErrorCode.QUOTA_EXCEEDED)
    expect(again.details).toEqual({ quota: 3000, used: 2500, size: 501 })
    expectOk(await begin(t, token, 500))
    // Aborting gives the reservation back.
    expectOk(await t.request('DELETE', `/v1/uploads/${pending.uploadId}`, { token }))
    expectOk(await begin(t, token, 1500))
  })

  it('refuses to begin when fewer than k + m nodes are online', async () => {
    const t = await startTracker()
    await FakeNode.many(t, 2)
    const { token } = await signup(t)
    const err = expectError(await begin(t, token, 10), 503, ErrorCode.NOT_ENOUGH_NODES)
    expect(err.details).toEqual({ needed: 3, available: 2 })
    // Nodes too full for even one piece do not count.
    const full = await FakeNode.create(t, 10)
    expectOk(await full.heartbeat())
    expectError(await begin(t, token, 100), 503, ErrorCode.NOT_ENOUGH_NODES)
    expectOk(await begin(t, token, 1))
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token })).used).toBe(1)
  })

  it('counts granted bytes against a node until its heartbeat catches up', async () => {
    const t = await startTracker({ policy: { k: 2, m: 1, segmentSize: 1000 } })
    // Each piece of a full segment is 508 bytes; these nodes take one each.
    const nodes = await FakeNode.many(t, 3, 600)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 2000))
    await placeSegment(t, token, upload, 0, 508)
    const pieces = await segmentPieces(upload.uploadId, 1, 3, 508)
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/1/place`, { token, body: { pieces } }),
      503,
      ErrorCode.NOT_ENOUGH_NODES
    )
    // The nodes report more room an interval later.
    t.clock.advance(1000)
    for (const n of nodes) {
      n.free = 5000
      expectOk(await n.heartbeat())
    }
    expectOk(await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/1/place`, { token, body: { pieces } }))
  })

  it('refuses a name that exists unless the upload overwrites, and keeps the old object as a version', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const name = nameHash()
    const first = await uploadObject(t, token, nodes, { size: 700, nameHash: name })

    expectError(await begin(t, token, 10, { nameHash: name }), 409, ErrorCode.CONFLICT)
    expectError(await begin(t, token, 10, { nameHash: name, overwrite: false }), 409, ErrorCode.CONFLICT)
    const second = await uploadObject(t, token, nodes, { size: 300, nameHash: name, overwrite: true })
    expect(second.object.id).not.toBe(first.object.id)

    const { objects } = expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token }))
    expect(objects).toEqual([second.object])
    // The old object stays as an older version (docs/versions.md): stored, counted, downloadable, not deleted.
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))).toMatchObject({
      used: 1000,
      objects: 1
    })
    expectOk(await t.request('POST', `/v1/objects/${first.object.id}/grants`, { token, body: { from: 0, to: 1 } }))
    for (const n of nodes) expect(expectOk(await n.heartbeat()).deletes).toEqual([])

    // Two uploads racing for one free name: the second commit loses.
    const fresh = nameHash()
    const a = expectOk(await begin(t, token, 10, { nameHash: fresh }))
    const b = expectOk(await begin(t, token, 10, { nameHash: fresh }))
    for (const upload of [a, b]) {
      const placement = await placeSegment(t, token, upload, 0, pieceSizeOf(upload, 10, 0))
      expectOk(
        await t.request(`POST`, `/v1/uploads/${upload.uploadId}/segments/0/commit`, {
          token,
          body: { pieces: await receiptsFor(nodes, placement) }
        })
      )
    }
    expectOk(await t.request('POST', `/v1/uploads/${a.uploadId}/commit`, { token }))
    expectError(await t.request('POST', `/v1/uploads/${b.uploadId}/commit`, { token }), 409, ErrorCode.CONFLICT)
  })

  it('aborts an upload: the reservation is released and placed pieces are queued for deletion', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 1500))
    const placement = await placeSegment(t, token, upload, 0, pieceSizeOf(upload, 1500, 0))
    expectOk(await t.request('DELETE', `/v1/uploads/${upload.uploadId}`, { token }))
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token })).used).toBe(0)
    expectError(await t.request('DELETE', `/v1/uploads/${upload.uploadId}`, { token }), 404, ErrorCode.UPLOAD_NOT_FOUND)
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token }),
      404,
      ErrorCode.UPLOAD_NOT_FOUND
    )
    const trackerKey = await t.trackerKey()
    for (const n of nodes) {
      const { deletes } = expectOk(await n.heartbeat())
      const mine = placement.pieces.filter((p) => p.node.peerId === n.peerId)
      expect(deletes.map((d) => d.piece)).toEqual(mine.map((p) => p.cid))
      for (const d of deletes) {
        await verifyGrant(d.grant, trackerKey, { kind: 'delete', node: n.peerId, piece: d.piece, now: t.clock.now() })
      }
    }
  })

  it('discards expired uploads in the sweep', async () => {
    const t = await startTracker({ uploadTtlMs: 60_000 })
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const upload = expectOk(await begin(t, token, 100))
    const placement = await placeSegment(t, token, upload, 0, pieceSizeOf(upload, 100, 0))
    t.clock.advance(59_999)
    expect((await t.tracker.sweep()).uploads).toBe(0)
    t.clock.advance(1)
    // Expired is gone for the client at once, even before the sweep.
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token }),
      404,
      ErrorCode.UPLOAD_NOT_FOUND
    )
    expect((await t.tracker.sweep()).uploads).toBe(1)
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token })).used).toBe(0)
    const delivered = []
    for (const n of nodes) delivered.push(...expectOk(await n.heartbeat()).deletes.map((d) => d.piece))
    expect(delivered.sort()).toEqual(placement.pieces.map((p) => p.cid).sort())
  })

  it('hides uploads and objects of other accounts', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const alice = await signup(t)
    const bob = await signup(t)
    const upload = expectOk(await begin(t, alice.token, 10))
    const { object, body } = await uploadObject(t, alice.token, nodes, { size: 10 })
    const as = bob.token
    expectError(
      await t.request('DELETE', `/v1/uploads/${upload.uploadId}`, { token: as }),
      404,
      ErrorCode.UPLOAD_NOT_FOUND
    )
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/0/place`, { token: as, body: {} }),
      404,
      ErrorCode.UPLOAD_NOT_FOUND
    )
    expectError(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/commit`, { token: as }),
      404,
      ErrorCode.UPLOAD_NOT_FOUND
    )
    expectError(
      await t.request('GET', `/v1/objects/by-name/${body.nameHash}`, { token: as }),
      404,
      ErrorCode.OBJECT_NOT_FOUND
    )
    expectError(
      await t.request('POST', `/v1/objects/${object.id}/grants`, { token: as, body: { from: 0, to: 1 } }),
      404,
      ErrorCode.OBJECT_NOT_FOUND
    )
    expectError(await t.request('DELETE', `/v1/objects/${object.id}`, { token: as }), 404, ErrorCode.OBJECT_NOT_FOUND)
    expect(expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token: as })).objects).toEqual([])
    expect(
      expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token: alice.token })).objects
    ).toHaveLength(1)
  })
})
