import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type AccountView,
  type DeleteObjectResponse,
  ErrorCode,
  type Grant,
  type ListObjectsResponse,
  type ListVersionsResponse,
  type ObjectInfo,
  type ObjectSummary,
  peekToken,
  toBase64Url,
  utf8,
  type VersionPolicyResponse
} from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { LevelStore } from '../src/store/level-store.ts'
import { PgStore } from '../src/store/pg/pg-store.ts'
import type { Store } from '../src/store/store.ts'
import { expectError, expectOk, FakeNode, nameHash, signup, startTracker, uploadObject } from './helpers.ts'
import { createTestDatabase } from './pg-harness.ts'

const DAY = 86_400_000
const MiB = 2 ** 20
const GiB = 2 ** 30

/** A tracker with 3 fake nodes on `store`, one signed-up account, and helpers over its versions API. */
async function drive(store: Store, segmentSize = 1024) {
  const t = await startTracker({ store, policy: { k: 2, m: 1, segmentSize }, sessionTtlMs: 90 * DAY })
  // Room for the billing test's gigabytes (the tracker never sees piece bytes, only sizes).
  const nodes = await Promise.all([1, 2, 3].map(() => FakeNode.create(t, 50 * GiB)))
  const room = { capacity: 100 * GiB, used: 50 * GiB }
  for (const node of nodes) expectOk(await node.heartbeat(room))
  const { token } = await signup(t)
  const name = nameHash()
  const put = async (size: number, at = name) => {
    // A second apart, as people overwrite files: versions are ordered by when they were replaced.
    t.clock.advance(1000)
    return (await uploadObject(t, token, nodes, { size, nameHash: at, overwrite: true })).object
  }
  const versions = async (id: string, query = '') =>
    expectOk(await t.request<ListVersionsResponse>('GET', `/v1/objects/${id}/versions${query}`, { token }))
  const current = async (at = name) =>
    expectOk(await t.request<ObjectInfo>('GET', `/v1/objects/by-name/${at}`, { token }))
  const account = async () => expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))
  const policy = async (body?: { keep: number | null; days: number | null }) =>
    expectOk(
      await t.request<VersionPolicyResponse>(body === undefined ? 'GET' : 'PUT', '/v1/account/versions', {
        token,
        ...(body === undefined ? {} : { body })
      })
    )
  /** Pieces the nodes are told to delete in their next heartbeats (acknowledged, so each is told once). */
  const ordered = async () => {
    const pieces: string[] = []
    for (const node of nodes) {
      const { deletes } = expectOk(await node.heartbeat(room))
      pieces.push(...deletes.map((d) => d.piece))
      expectOk(await node.heartbeat({ ...room, deleted: deletes.map((d) => (peekToken(d.grant) as Grant).serial) }))
    }
    return pieces.sort()
  }
  return { t, token, name, put, versions, current, account, policy, ordered }
}

const ids = (list: { id: string }[]) => list.map((o) => o.id)

function versionsOn(storeName: string, store: () => Promise<Store>) {
  describe(`file versions (${storeName})`, () => {
    it('keeps an overwritten file as a version, lists it apart and counts its bytes', async () => {
      const d = await drive(await store())
      const v1 = await d.put(300)
      const v2 = await d.put(200)
      const v3 = await d.put(100)
      expect((await d.current()).id).toBe(v3.id)
      const { objects } = expectOk(await d.t.request<ListObjectsResponse>('GET', '/v1/objects', { token: d.token }))
      expect(ids(objects)).toEqual([v3.id])
      const listed = await d.versions(v3.id)
      expect(ids(listed.versions)).toEqual([v2.id, v1.id])
      expect(listed.versions.every((v) => typeof v.supersededAt === 'number')).toBe(true)
      expect(listed.next).toBeUndefined()
      // Paged like GET /v1/objects: `next` leads to the rest.
      const first = await d.versions(v3.id, '?limit=1')
      expect(ids(first.versions)).toEqual([v2.id])
      expect(ids((await d.versions(v3.id, `?limit=1&after=${first.next}`)).versions)).toEqual([v1.id])
      expectError(
        await d.t.request('GET', `/v1/objects/${v3.id}/versions?after=garbage`, { token: d.token }),
        400,
        ErrorCode.INVALID_INPUT
      )
      // Versions are stored bytes: in `used` (quota and billing), shown apart by the policy route.
      expect(await d.account()).toMatchObject({ used: 600, objects: 1 })
      expect(await d.policy()).toEqual({ keep: 10, days: 30, versions: 2, bytes: 500 })
      // An old version downloads like any object of the owner.
      expectOk(await d.t.request('POST', `/v1/objects/${v1.id}/grants`, { token: d.token, body: { from: 0, to: 1 } }))
    })

    it('restores a version without losing the current one, and refuses what is no version', async () => {
      const d = await drive(await store())
      const v1 = await d.put(300)
      const v2 = await d.put(200)
      const meta = toBase64Url(utf8('resealed'))
      const restored = expectOk(
        await d.t.request<ObjectSummary>('POST', `/v1/objects/${v1.id}/restore`, { token: d.token, body: { meta } })
      )
      expect(restored).toMatchObject({ id: v1.id, meta, size: 300 })
      expect(restored.supersededAt).toBeUndefined()
      expect((await d.current()).id).toBe(v1.id)
      expect(ids((await d.versions(v1.id)).versions)).toEqual([v2.id])
      expect(await d.account()).toMatchObject({ used: 500, objects: 1 })
      // The current object is no version; a body without meta is refused; another account's version is unknown.
      expectError(
        await d.t.request('POST', `/v1/objects/${v1.id}/restore`, { token: d.token, body: { meta } }),
        404,
        ErrorCode.OBJECT_NOT_FOUND
      )
      expectError(
        await d.t.request('POST', `/v1/objects/${v2.id}/restore`, { token: d.token, body: {} }),
        400,
        ErrorCode.INVALID_INPUT
      )
      const other = await signup(d.t)
      expectError(
        await d.t.request('POST', `/v1/objects/${v2.id}/restore`, { token: other.token, body: { meta } }),
        404,
        ErrorCode.OBJECT_NOT_FOUND
      )
      expect((await d.current()).id).toBe(v1.id)
    })

    it('deletes one version by its id: only its pieces, out of used, the file and its other versions stay', async () => {
      const d = await drive(await store())
      const v1 = await d.put(300)
      const v2 = await d.put(200)
      const v3 = await d.put(100)
      await d.ordered()
      // Another account cannot delete it: unknown to them, and nothing changes.
      const other = await signup(d.t)
      expectError(
        await d.t.request('DELETE', `/v1/objects/${v2.id}`, { token: other.token }),
        404,
        ErrorCode.OBJECT_NOT_FOUND
      )
      const { deletes } = expectOk(
        await d.t.request<DeleteObjectResponse>('DELETE', `/v1/objects/${v2.id}`, { token: d.token })
      )
      expect(deletes).toHaveLength(3) // one segment, 3 pieces: v2's only
      expect((await d.current()).id).toBe(v3.id)
      expect(ids((await d.versions(v3.id)).versions)).toEqual([v1.id])
      expect(await d.account()).toMatchObject({ used: 400, objects: 1 })
      expect(await d.policy()).toMatchObject({ versions: 1, bytes: 300 })
      // The nodes are told to delete exactly those pieces.
      expect(await d.ordered()).toEqual(deletes.map((x) => x.piece).sort())
      // Deleted is gone: a second delete is not found.
      expectError(
        await d.t.request('DELETE', `/v1/objects/${v2.id}`, { token: d.token }),
        404,
        ErrorCode.OBJECT_NOT_FOUND
      )
    })

    it('moves versions with their file to trash, and deleting the file deletes them all', async () => {
      const d = await drive(await store())
      const v1 = await d.put(300)
      const v2 = await d.put(200)
      const trashed = nameHash()
      expectOk(
        await d.t.request('PATCH', `/v1/objects/${v2.id}`, {
          token: d.token,
          body: { nameHash: trashed, meta: toBase64Url(utf8('in trash')) }
        })
      )
      expect(ids((await d.versions(v2.id)).versions)).toEqual([v1.id])
      // A new file under the old name starts afresh.
      const fresh = await d.put(50)
      expect((await d.versions(fresh.id)).versions).toEqual([])
      const { deletes } = expectOk(
        await d.t.request<DeleteObjectResponse>('DELETE', `/v1/objects/${v2.id}`, { token: d.token })
      )
      expect(new Set(deletes.map((x) => x.piece)).size).toBe(deletes.length)
      expect(deletes).toHaveLength(2 * 3) // two objects of one segment, 3 pieces each
      expect(await d.account()).toMatchObject({ used: 50, objects: 1 })
      expect((await d.policy()).versions).toBe(0)
      expectError(
        await d.t.request('GET', `/v1/objects/${v1.id}/versions`, { token: d.token }),
        404,
        ErrorCode.OBJECT_NOT_FOUND
      )
    })

    it('purges versions past the policy on schedule, releasing their pieces to the nodes', async () => {
      const d = await drive(await store())
      expectError(
        await d.t.request('PUT', '/v1/account/versions', { token: d.token, body: { keep: -1, days: null } }),
        400,
        ErrorCode.INVALID_INPUT
      )
      expect(await d.policy({ keep: 1, days: null })).toMatchObject({ keep: 1, days: null })
      const v1 = await d.put(300)
      const v2 = await d.put(200)
      const v3 = await d.put(100)
      await d.ordered() // nothing but this test's orders from here on
      const v1Pieces = (await d.t.tracker.components.store.objects.getObjectSegments(v1.id, 0, 1)).flatMap((s) =>
        s.pieces.map((p) => p.cid)
      )
      expect(await d.t.tracker.components.versions.purge()).toEqual({ purged: 1, bytes: 300 })
      expect(ids((await d.versions(v3.id)).versions)).toEqual([v2.id])
      expect(await d.ordered()).toEqual(v1Pieces.sort())
      expect(await d.account()).toMatchObject({ used: 300, objects: 1 })
      // Nothing more to purge under this policy; the default policy drops versions after 30 days.
      expect(await d.t.tracker.components.versions.purge()).toEqual({ purged: 0, bytes: 0 })
      expect(await d.policy({ keep: null, days: 30 })).toMatchObject({ versions: 1, bytes: 200 })
      d.t.clock.advance(29 * DAY)
      expect((await d.t.tracker.components.versions.purge()).purged).toBe(0)
      d.t.clock.advance(DAY)
      expect(await d.t.tracker.components.versions.purge()).toEqual({ purged: 1, bytes: 200 })
      expect((await d.versions(v3.id)).versions).toEqual([])
      expect(await d.account()).toMatchObject({ used: 100, objects: 1 })
    })

    it('bills a version while it exists, and stops when the purge removes it', async () => {
      const d = await drive(await store(), 64 * MiB)
      // put() waits a second before each upload: both are stored from 1 April 00:00 (the first since the 31st).
      d.t.clock.advance(Date.UTC(2030, 3, 1) - 2000 - d.t.clock.now())
      await d.ordered() // the nodes' heartbeats at the new time: they are online again
      expectOk(await d.t.request('PUT', '/v1/account/plan', { token: d.token, body: { plan: 'plus' } }))
      const storage = async () =>
        expectOk(
          await d.t.request<{ storageMicros: number }>('GET', '/v1/account/usage?period=2030-04', { token: d.token })
        ).storageMicros
      // Day 0: a 6 GiB file, overwritten at once by another 6 GiB: 12 GiB stored.
      await d.put(6 * GiB)
      await d.put(6 * GiB)
      d.t.clock.advance(15 * DAY)
      // Plus: 3,900 per GiB-month (30 days). 12 GiB x 15 days = 180 GiB-days -> 180 x 3,900 / 30 = 23,400.
      expect(await storage()).toBe(23_400)
      // Day 15: the policy drops the version; then 6 GiB x 15 more days: 270 GiB-days -> 35,100.
      await d.policy({ keep: 0, days: null })
      expect((await d.t.tracker.components.versions.purge()).purged).toBe(1)
      d.t.clock.advance(15 * DAY)
      expect(await storage()).toBe(35_100)
    })
  })
}

versionsOn('level', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-versions-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return new LevelStore({ location: dir })
})
versionsOn('PostgreSQL', async () => {
  const db = await createTestDatabase()
  onTestFinished(() => db.drop())
  return new PgStore({ url: db.url, migrate: true })
})
