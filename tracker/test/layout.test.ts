import {
  type BeginUploadResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  type InfoResponse,
  type ObjectInfo,
  type PlaceSegmentResponse,
  type UploadStatus
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { resolveConfig, type TrackerPolicy } from '../src/config.ts'
import { AUTO_LAYOUTS, autoLayout, chooseLayout, minCommitFloor } from '../src/erasure-policy.ts'
import {
  beginBody,
  expectError,
  expectOk,
  FakeNode,
  pieceSizeOf,
  placeSegment,
  receiptsFor,
  segmentPieces,
  signup,
  startTracker,
  type TestTracker,
  uploadObject
} from './helpers.ts'

async function begin(t: TestTracker, token: string, size: number) {
  return t.request<BeginUploadResponse>('POST', '/v1/uploads', { token, body: beginBody({ size }) })
}

describe('erasure policy', () => {
  it('climbs the automatic ladder with the nodes online: one spare node per eight pieces, at least one', () => {
    const chosen = Array.from({ length: 25 }, (_, n) => {
      const l = autoLayout(n)
      return l === undefined ? '-' : `${l.k}+${l.m}`
    })
    expect(chosen).toEqual([
      ...['-', '-', '-', '2+1', '2+1', '2+2', '2+2', '3+3', '3+3'],
      ...['4+4', '4+4', '4+4', '4+4', '6+6', '6+6', '6+6', '6+6', '6+6'],
      ...['8+8', '8+8', '8+8', '8+8', '8+8', '8+8', '8+8']
    ])
    for (const l of AUTO_LAYOUTS.slice(0, -1)) {
      expect(l.minNodes).toBe(l.k + l.m + Math.max(1, Math.floor((l.k + l.m) / 8)))
      // m nodes down before the tracker notices still leave k + 1 nodes for every segment.
      expect(l.minNodes - l.m).toBeGreaterThanOrEqual(l.k + 1)
    }
    expect(AUTO_LAYOUTS.at(-1)).toEqual({ k: 2, m: 1, minNodes: 3 })
    expect([minCommitFloor({ k: 4, m: 2 }), minCommitFloor({ k: 8, m: 8 }), minCommitFloor({ k: 2, m: 1 })]).toEqual([
      5, 12, 3
    ])
  })

  it('counts only the nodes that can hold a piece of the layout in question', () => {
    const auto = { layout: undefined, segmentSize: 8000, minCommitPieces: undefined, longTail: 0 }
    // 8+8 pieces of a full 8000-byte segment are 1002 bytes, 4+4 pieces 2004 bytes.
    const free = [...Array(9).fill(2004), ...Array(9).fill(1002)]
    expect(chooseLayout(auto, 8000, free)).toEqual({ k: 8, m: 8, minCommitPieces: 16 })
    expect(chooseLayout(auto, 80_000, free.slice(0, 12))).toMatchObject({ k: 4, m: 4 })
    expect(chooseLayout(auto, 80_000, Array(12).fill(1002))).toEqual({ needed: 3, available: 0 })
    const fixed = { layout: { k: 4, m: 2 }, segmentSize: 8000, minCommitPieces: 5, longTail: 0 }
    expect(chooseLayout(fixed, 8000, Array(6).fill(2004))).toEqual({ k: 4, m: 2, minCommitPieces: 5 })
    // With a node short the fixed layout stays, stored degraded (k + 1 pieces at least); below that, no upload.
    expect(chooseLayout(fixed, 8000, [...Array(5).fill(2004), 10])).toEqual({ k: 4, m: 2, minCommitPieces: 5 })
    expect(chooseLayout(fixed, 8000, [...Array(4).fill(2004), 10, 10])).toEqual({ needed: 5, available: 4 })
  })

  it('checks the policy once, at start', () => {
    const resolve = (policy: Partial<TrackerPolicy>) => resolveConfig({ dataDir: '/tmp/x', policy }).policy
    expect(resolve({})).toEqual({
      layout: undefined,
      segmentSize: 8 * 1024 * 1024,
      minCommitPieces: undefined,
      longTail: 0
    })
    expect(resolve({ k: 4, m: 2 })).toMatchObject({ layout: { k: 4, m: 2 }, minCommitPieces: 6 })
    expect(resolve({ k: 4, m: 2, minCommitPieces: 5 }).minCommitPieces).toBe(5)
    expect(resolve({ k: 8, m: 8, longTail: 4 }).minCommitPieces).toBe(12)
    expect(resolve({ longTail: 9 })).toMatchObject({ layout: undefined, longTail: 9 })
    expect(resolve({ k: 2, m: 0 }).minCommitPieces).toBe(2)
    for (const bad of [
      { k: 4 },
      { m: 2 },
      { k: 1, m: 2 },
      { k: 4, m: 2, minCommitPieces: 4 },
      { k: 8, m: 8, minCommitPieces: 11 },
      { k: 4, m: 2, minCommitPieces: 7 },
      { k: 4, m: 2, minCommitPieces: 5.5 },
      { minCommitPieces: 5 },
      { k: 4, m: 2, minCommitPieces: 5, longTail: 1 },
      { k: 4, m: 2, longTail: 2 },
      { longTail: -1 }
    ]) {
      expect(() => resolve(bad), JSON.stringify(bad)).toThrow(TypeError)
    }
  })

  it('chooses the layout per upload from the nodes online; objects and uploads keep theirs as the network grows', async () => {
    const t = await startTracker({ policy: { segmentSize: 1024 } })
    const { token } = await signup(t)
    const nodes = await FakeNode.many(t, 2)
    expect(expectError(await begin(t, token, 100), 503, ErrorCode.NOT_ENOUGH_NODES).details).toEqual({
      needed: 3,
      available: 2
    })
    nodes.push(...(await FakeNode.many(t, 1)))
    const small = await uploadObject(t, token, nodes, { size: 2000 })
    expect(small.upload).toMatchObject({ k: 2, m: 1, minCommitPieces: 3 })
    const pending = expectOk(await begin(t, token, 100))
    expect(pending).toMatchObject({ k: 2, m: 1 })

    nodes.push(...(await FakeNode.many(t, 6)))
    expect(expectOk(await t.request<InfoResponse>('GET', '/v1/info')).policy).toEqual({
      k: 4,
      m: 4,
      segmentSize: 1024,
      minCommitPieces: 8,
      auto: true
    })
    const wide = await uploadObject(t, token, nodes, { size: 2000 })
    expect(wide.upload).toMatchObject({ k: 4, m: 4, minCommitPieces: 8 })

    // The old object keeps 2+1: its info, its grants and its pieces are as they were.
    const info = expectOk(await t.request<ObjectInfo>('GET', `/v1/objects/by-name/${small.body.nameHash}`, { token }))
    expect(info).toMatchObject({ k: 2, m: 1, segmentCount: 2 })
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${small.object.id}/grants`, {
        token,
        body: { from: 0, to: 2 }
      })
    )
    expect(grants.segments.map((s) => s.pieces.length)).toEqual([3, 3])
    expect(
      expectOk(await t.request<ObjectInfo>('GET', `/v1/objects/by-name/${wide.body.nameHash}`, { token }))
    ).toMatchObject({ k: 4, m: 4 })

    // So does the upload begun before the network grew: 3 pieces per segment, not 8.
    const status = expectOk(await t.request<UploadStatus>('GET', `/v1/uploads/${pending.uploadId}`, { token }))
    expect(status).toMatchObject({ k: 2, m: 1, minCommitPieces: 3 })
    const eight = await segmentPieces(pending.uploadId, 0, 8, pieceSizeOf(pending, 100, 0))
    expectError(
      await t.request('POST', `/v1/uploads/${pending.uploadId}/segments/0/place`, { token, body: { pieces: eight } }),
      400,
      ErrorCode.INVALID_INPUT
    )
    const placement: PlaceSegmentResponse = await placeSegment(t, token, pending, 0, pieceSizeOf(pending, 100, 0))
    expectOk(
      await t.request('POST', `/v1/uploads/${pending.uploadId}/segments/0/commit`, {
        token,
        body: { pieces: await receiptsFor(nodes, placement) }
      })
    )
    const { object } = expectOk(
      await t.request<{ object: ObjectInfo }>('POST', `/v1/uploads/${pending.uploadId}/commit`, { token })
    )
    expect(object.id).toBe(pending.uploadId)

    // Nodes that went quiet do not count: with only 7 still reporting, new uploads get 3+3.
    t.clock.advance(3500)
    for (const n of nodes.slice(0, 7)) expectOk(await n.heartbeat())
    expect(expectOk(await begin(t, token, 100))).toMatchObject({ k: 3, m: 3, minCommitPieces: 6 })
  })
})
