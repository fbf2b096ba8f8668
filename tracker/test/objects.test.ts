import { TrackerClient } from '@shoal/client'
import {
  type AccountView,
  type DeleteObjectResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  type Grant,
  type ListObjectsResponse,
  type ObjectInfo,
  type OpenObjectResponse,
  peekToken,
  verifyGrant
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { expectError, expectOk, FakeNode, nameHash, signup, startTracker, uploadObject } from './helpers.ts'

describe('deleting objects', () => {
  it('drops the object at once and delivers delete orders through heartbeats until acknowledged', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const { token } = await signup(t)
    const { object, placements, body } = await uploadObject(t, token, nodes, { size: 3000 })
    const kept = await uploadObject(t, token, nodes, { size: 10 })
    const trackerKey = await t.trackerKey()

    const answer = expectOk(await t.request<DeleteObjectResponse>('DELETE', `/v1/objects/${object.id}`, { token }))
    const placed = placements.flatMap((p) => p.pieces.map((x) => `${x.node.peerId}/${x.cid}`))
    expect(answer.deletes.map((d) => `${d.node.peerId}/${d.piece}`).sort()).toEqual(placed.sort())
    for (const d of answer.deletes) {
      expect(d.node.addrs).toHaveLength(1)
      await verifyGrant(d.grant, trackerKey, {
        kind: 'delete',
        node: d.node.peerId,
        piece: d.piece,
        now: t.clock.now()
      })
    }

    // Gone from listing, lookup and quota at once.
    const { objects } = expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token }))
    expect(objects).toEqual([kept.object])
    expectError(
      await t.request('GET', `/v1/objects/by-name/${body.nameHash}`, { token }),
      404,
      ErrorCode.OBJECT_NOT_FOUND
    )
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))).toMatchObject({
      used: 10,
      objects: 1
    })
    expectError(await t.request('DELETE', `/v1/objects/${object.id}`, { token }), 404, ErrorCode.OBJECT_NOT_FOUND)

    // Each node gets its own orders, with the same serials as the grants the client got.
    const serialOf = (grant: string) => (peekToken(grant) as Grant).serial
    const expected = new Map(answer.deletes.map((d) => [serialOf(d.grant), d]))
    for (const node of nodes) {
      const { deletes } = expectOk(await node.heartbeat())
      const mine = answer.deletes.filter((d) => d.node.peerId === node.peerId)
      expect(deletes.map((d) => d.piece).sort()).toEqual(mine.map((d) => d.piece).sort())
      for (const d of deletes) {
        expect(expected.get(serialOf(d.grant))?.piece).toBe(d.piece)
        await verifyGrant(d.grant, trackerKey, {
          kind: 'delete',
          node: node.peerId,
          piece: d.piece,
          now: t.clock.now()
        })
      }
      // Not acknowledged yet: delivered again.
      expect(expectOk(await node.heartbeat()).deletes).toHaveLength(deletes.length)
      // Acknowledged: delivered no more.
      const deleted = deletes.map((d) => serialOf(d.grant))
      expect(expectOk(await node.heartbeat({ deleted })).deletes).toEqual([])
    }
  })

  it('keeps orders for a node that is away, with grants signed fresh when it returns', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token } = await signup(t)
    const { object } = await uploadObject(t, token, nodes, { size: 10 })
    expectOk(await t.request('DELETE', `/v1/objects/${object.id}`, { token }))
    // Away for two days: far longer than a grant lives.
    t.clock.advance(2 * 24 * 3600 * 1000)
    const trackerKey = await t.trackerKey()
    const node = nodes[0] as FakeNode
    const { deletes } = expectOk(await node.heartbeat())
    expect(deletes).toHaveLength(1)
    for (const d of deletes) {
      await verifyGrant(d.grant, trackerKey, { kind: 'delete', node: node.peerId, piece: d.piece, now: t.clock.now() })
    }
  })
})

describe('listing objects', () => {
  it('serves the listing in pages that the SDK follows to the end, and refuses a bad page', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const { token } = await signup(t)
    const uploaded: string[] = []
    for (let i = 0; i < 5; i++) uploaded.push((await uploadObject(t, token, nodes, { size: 10 })).object.id)

    const first = expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects?limit=2', { token }))
    expect(first.objects).toHaveLength(2)
    expect(first.next).toBe(first.objects[1]?.nameHash)
    const rest = expectOk(
      await t.request<ListObjectsResponse>('GET', `/v1/objects?after=${first.next}&limit=10`, { token })
    )
    expect(rest.objects).toHaveLength(3)
    expect(rest.next).toBeUndefined()
    // Exactly a full last page still says "no more" (the tracker reads one row ahead).
    const exact = expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects?limit=5', { token }))
    expect(exact.next).toBeUndefined()

    const client = new TrackerClient({ url: t.url, token })
    const pages: number[] = []
    const ids: string[] = []
    for await (const page of client.listAllObjects({ limit: 2 })) {
      pages.push(page.length)
      ids.push(...page.map((o) => o.id))
    }
    expect(pages).toEqual([2, 2, 1])
    expect(ids.sort()).toEqual([...uploaded].sort())

    for (const bad of ['limit=0', 'limit=1001', 'limit=two', 'after=%2F%2F']) {
      expectError(await t.request('GET', `/v1/objects?${bad}`, { token }), 400, ErrorCode.INVALID_INPUT)
    }
  })
})

describe("a download's first call", () => {
  it("returns the object by name with its first segments' grants, as the two separate calls would", async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const { token } = await signup(t)
    const { object, body } = await uploadObject(t, token, nodes, { size: 5000 })
    const info = expectOk(await t.request<ObjectInfo>('GET', `/v1/objects/by-name/${body.nameHash}`, { token }))
    expect(info.segmentCount).toBeGreaterThan(2)
    const open = (b: unknown, as = token) =>
      t.request<OpenObjectResponse>('POST', `/v1/objects/by-name/${body.nameHash}/grants`, { token: as, body: b })
    const holders = (segments: DownloadGrantsResponse['segments']) =>
      segments.map((s) => `${s.index}:${s.pieces.map((p) => `${p.index}@${p.node.peerId}/${p.cid}`).join(',')}`)

    const two = expectOk(await open({ first: 2 }))
    expect(two.object).toEqual(info)
    const separate = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 0, to: 2 }
      })
    )
    expect(holders(two.segments)).toEqual(holders(separate.segments))
    const trackerKey = await t.trackerKey()
    for (const piece of two.segments.flatMap((s) => s.pieces)) {
      await verifyGrant(piece.grant, trackerKey, {
        kind: 'get',
        node: piece.node.peerId,
        piece: piece.cid,
        now: t.clock.now()
      })
    }
    // More than the object has: all of its segments, no error.
    expect(expectOk(await open({ first: 64 })).segments.map((s) => s.index)).toEqual(
      Array.from({ length: info.segmentCount }, (_, i) => i)
    )
    // Bad input is refused and says which field; another account's name, and no name, are not found.
    for (const bad of [{}, { first: 0 }, { first: 65 }, { first: 'two' }, { first: 1, receiptKey: 'not a key' }]) {
      expectError(await open(bad), 400, ErrorCode.INVALID_INPUT)
    }
    const other = await signup(t)
    expectError(await open({ first: 1 }, other.token), 404, ErrorCode.OBJECT_NOT_FOUND)
    expectError(
      await t.request('POST', `/v1/objects/by-name/${nameHash()}/grants`, { token, body: { first: 1 } }),
      404,
      ErrorCode.OBJECT_NOT_FOUND
    )
  })
})
