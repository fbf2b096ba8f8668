import {
  type BeginUploadResponse,
  type DeleteObjectResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  type InfoResponse,
  type ObjectInfo,
  type PlaceSegmentResponse
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { minCommitFor } from '../src/erasure-policy.ts'
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

async function begin(t: TestTracker, token: string, size: number) {
  return expectOk(await t.request<BeginUploadResponse>('POST', '/v1/uploads', { token, body: beginBody({ size }) }))
}

/** Delete orders each node gets in its next heartbeat, as "node/cid" strings. */
async function deliveries(nodes: FakeNode[]): Promise<string[]> {
  const out: string[] = []
  for (const n of nodes) for (const d of expectOk(await n.heartbeat()).deletes) out.push(`${n.peerId}/${d.piece}`)
  return out.sort()
}

const at = (p: { node: { peerId: string } | string; cid: string }) =>
  `${typeof p.node === 'string' ? p.node : p.node.peerId}/${p.cid}`

describe('long-tail uploads', () => {
  it('commits segments with minCommitPieces receipts: the object holds only those, cancelled pieces get deleted', async () => {
    const t = await startTracker({ policy: { k: 4, m: 2, segmentSize: 1024, minCommitPieces: 5 } })
    const nodes = await FakeNode.many(t, 7)
    const { token } = await signup(t)
    const info = expectOk(await t.request<InfoResponse>('GET', '/v1/info'))
    expect(info.policy).toEqual({ k: 4, m: 2, segmentSize: 1024, minCommitPieces: 5 })
    const upload = await begin(t, token, 2000)
    expect(upload).toMatchObject({ k: 4, m: 2, minCommitPieces: 5 })

    const placements: PlaceSegmentResponse[] = []
    const committed: string[] = []
    const cancelled: string[] = []
    for (const s of [0, 1]) {
      const placement = await placeSegment(t, token, upload, s, pieceSizeOf(upload, 2000, s))
      placements.push(placement)
      const receipts = await receiptsFor(nodes, placement)
      // A different piece is the slow one in each segment: its push was cancelled, no receipt.
      const slow = receipts[s * 3] as (typeof receipts)[number]
      const kept = receipts.filter((r) => r !== slow)
      expectError(
        await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/${s}/commit`, {
          token,
          body: { pieces: kept.slice(0, 4) }
        }),
        400,
        ErrorCode.INVALID_INPUT
      )
      expectOk(
        await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/${s}/commit`, {
          token,
          body: { pieces: kept }
        })
      )
      committed.push(...kept.map((r) => at(r)))
      cancelled.push(at(slow))
    }
    // Nothing is deleted while the upload is open: a later placement may put the same piece back.
    expect(await deliveries(nodes)).toEqual([])

    const { object } = expectOk(
      await t.request<{ object: ObjectInfo }>('POST', `/v1/uploads/${upload.uploadId}/commit`, { token })
    )
    // Download grants cover the committed pieces only.
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 0, to: 2 }
      })
    )
    expect(grants.segments.flatMap((s) => s.pieces.map(at)).sort()).toEqual([...committed].sort())
    // The nodes that may hold a cancelled piece are told to drop exactly it, once.
    expect(await deliveries(nodes)).toEqual([...cancelled].sort())

    // Deleting the object later deletes the committed pieces; the cancelled ones were handled already.
    const deleted = expectOk(await t.request<DeleteObjectResponse>('DELETE', `/v1/objects/${object.id}`, { token }))
    expect(deleted.deletes.map((d) => `${d.node.peerId}/${d.piece}`).sort()).toEqual([...committed].sort())
    t.clock.advance(10)
    expect(await deliveries(nodes)).toEqual([...committed, ...cancelled].sort())
  })

  it('an aborted upload deletes every piece it placed, committed or cancelled, placed again or not', async () => {
    const t = await startTracker({ policy: { k: 4, m: 2, segmentSize: 1024, minCommitPieces: 5 } })
    const nodes = await FakeNode.many(t, 8)
    const { token } = await signup(t)
    const upload = await begin(t, token, 2000)
    const first = await placeSegment(t, token, upload, 0, pieceSizeOf(upload, 2000, 0))
    expectOk(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/0/commit`, {
        token,
        body: { pieces: (await receiptsFor(nodes, first)).slice(1) }
      })
    )
    // Segment 1 placed twice (the second time away from one node), never committed.
    const size = pieceSizeOf(upload, 2000, 1)
    const again = await placeSegment(t, token, upload, 1, size)
    const moved = (again.pieces[0] as PlaceSegmentResponse['pieces'][number]).node.peerId
    const pieces = again.pieces.map((p) => ({ index: p.index, cid: p.cid, size }))
    const replaced = expectOk(
      await t.request<PlaceSegmentResponse>('POST', `/v1/uploads/${upload.uploadId}/segments/1/place`, {
        token,
        body: { pieces, exclude: [moved] }
      })
    )
    expectOk(await t.request('DELETE', `/v1/uploads/${upload.uploadId}`, { token }))
    const expected = new Set([...first.pieces, ...again.pieces, ...replaced.pieces].map(at))
    expect(await deliveries(nodes)).toEqual([...expected].sort())
  })

  it('with automatic layouts, lets each layout cancel at most floor(m / 2) pushes', async () => {
    expect([2, 4, 6, 8].map((m) => minCommitFor({ k: m, m }, 99))).toEqual([3, 6, 9, 12])
    expect(minCommitFor({ k: 4, m: 2 }, 1)).toBe(5)
    expect(minCommitFor({ k: 8, m: 8 }, 3)).toBe(13)
    expect(minCommitFor({ k: 2, m: 1 }, 5)).toBe(3)
    expect(minCommitFor({ k: 4, m: 4 }, 0)).toBe(8)

    const t = await startTracker({ policy: { segmentSize: 1024, longTail: 3 } })
    const { token } = await signup(t)
    const nodes = await FakeNode.many(t, 7)
    expect(await begin(t, token, 100)).toMatchObject({ k: 3, m: 3, minCommitPieces: 5 })
    nodes.push(...(await FakeNode.many(t, 2)))
    expect(await begin(t, token, 100)).toMatchObject({ k: 4, m: 4, minCommitPieces: 6 })
    const info = expectOk(await t.request<InfoResponse>('GET', '/v1/info'))
    expect(info.policy).toEqual({ k: 4, m: 4, segmentSize: 1024, minCommitPieces: 6, auto: true })
  })
})
