import { ErrorCode, pieceSize, type SegmentManifest } from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import type {
  AccountRecord,
  DeleteOrderRecord,
  NodeRecord,
  ObjectRecord,
  ShareRecord,
  Store,
  UploadRecord,
  UploadSegmentRecord
} from '../src/store/store.ts'
import { coordinationCompliance } from './store-compliance-coordination.ts'
import { importCompliance } from './store-compliance-import.ts'
import { moderationCompliance } from './store-compliance-moderation.ts'
import { moneyCompliance } from './store-compliance-money.ts'
import { versionsCompliance } from './store-compliance-versions.ts'

/**
 * What every `Store` must do, run against each implementation. `setup` gives a fresh, empty backing store;
 * `create` may be called more than once to open new Store instances over the same data (restart).
 */
export interface StoreHarness {
  create(): Promise<Store>
  destroy(): Promise<void>
}

// Valid CIDv1 raw sha2-256 strings (the store does not parse them, but keep the data realistic).
const CIDS = [
  'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
  'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4',
  'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
]

let counter = 0
const uid = (prefix: string) => `${prefix}${(++counter).toString().padStart(6, '0')}AAAA`

export function accountRecord(over: Partial<AccountRecord> = {}): AccountRecord {
  const id = over.id ?? uid('acct')
  return {
    id,
    email: `${id.toLowerCase()}@example.com`,
    authSalt: 'c2FsdA',
    authHash: 'aGFzaA',
    wrappedMasterKey: 'd3JhcHBlZA',
    quota: 1000,
    used: 0,
    reserved: 0,
    objects: 0,
    createdAt: 1,
    ...over
  }
}

export function uploadRecord(owner: string, over: Partial<UploadRecord> = {}): UploadRecord {
  return {
    id: uid('upl'),
    owner,
    nameHash: uid('name'),
    meta: 'bWV0YQ',
    wrappedKey: 'a2V5',
    nonce: 'AAAAAAAAAAA',
    size: 100,
    k: 2,
    m: 1,
    segmentSize: 64,
    segmentCount: 2,
    overwrite: false,
    createdAt: 1,
    expiresAt: 10_000,
    ...over
  }
}

export function objectFrom(upload: UploadRecord, createdAt = 2): ObjectRecord {
  const { overwrite: _o, expiresAt: _e, ...rest } = upload
  return { ...rest, createdAt }
}

function segmentRecord(index: number, placementId: string, nodes = ['nodeA', 'nodeB', 'nodeC']): UploadSegmentRecord {
  return {
    index,
    placement: {
      index,
      id: placementId,
      pieces: nodes.map((node, i) => ({ index: i, cid: CIDS[i] as string, node, serial: uid('serial'), size: 50 }))
    }
  }
}

export function manifests(count: number, nodes = ['nodeA', 'nodeB', 'nodeC']): SegmentManifest[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    pieces: nodes.map((node, i) => ({ index: i, cid: CIDS[i] as string, node }))
  }))
}

/** Commits an object of `segments` segments (10 bytes) for `owner`; returns its id. */
export async function commitObject(store: Store, owner: string, segments: number): Promise<string> {
  const upload = uploadRecord(owner, { size: 10, segmentCount: segments })
  await store.uploads.beginUpload(upload)
  await store.uploads.commitUpload({
    uploadId: upload.id,
    object: objectFrom(upload),
    segments: manifests(segments),
    deletes: []
  })
  return upload.id
}

export function order(node: string, createdAt: number): DeleteOrderRecord {
  return { node, serial: uid('serial'), piece: CIDS[0] as string, account: 'acct', size: 50, createdAt, object: 'obj' }
}

function nodeRecord(peerId: string, lastAt: number): NodeRecord {
  return {
    peerId,
    addrs: ['/ip4/127.0.0.1/tcp/1'],
    capacity: 100,
    used: 10,
    free: 90,
    version: '1',
    lastSeen: lastAt,
    lastAt
  }
}

export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

/**
 * Opens a store of the harness, closed and destroyed when the test finishes. `create` opens another instance
 * over the same data (a second process, on PostgreSQL); `reopen` closes every open one first (a restart).
 */
export async function openHarness(
  harness: StoreHarness
): Promise<{ store: Store; create(): Promise<Store>; reopen(): Promise<Store> }> {
  const opened: Store[] = []
  const create = async () => {
    const store = await harness.create()
    await store.open()
    opened.push(store)
    return store
  }
  onTestFinished(async () => {
    for (const s of opened) await s.close()
    await harness.destroy()
  })
  const store = await create()
  return {
    store,
    create,
    reopen: async () => {
      for (const s of opened) await s.close()
      return create()
    }
  }
}

export function runStoreCompliance(name: string, setup: () => Promise<StoreHarness>): void {
  describe(`Store compliance: ${name}`, () => {
    const open = async () => openHarness(await setup())

    it('open and close are idempotent, and data survives a reopen', async () => {
      const { store, reopen } = await open()
      await store.open()
      const account = accountRecord()
      await store.accounts.createAccount(account)
      await store.close()
      await store.close()
      const again = await reopen()
      expect(await again.accounts.getAccount(account.id)).toEqual(account)
    })

    it('creates accounts with unique emails, also under concurrency', async () => {
      const { store } = await open()
      const account = accountRecord()
      await store.accounts.createAccount(account)
      expect(await store.accounts.getAccount(account.id)).toEqual(account)
      expect(await store.accounts.getAccountByEmail(account.email)).toEqual(account)
      expect(await store.accounts.getAccount('nope')).toBeUndefined()
      expect(await store.accounts.getAccountByEmail('nobody@example.com')).toBeUndefined()
      expect(await codeOf(store.accounts.createAccount(accountRecord({ email: account.email })))).toBe(
        ErrorCode.ACCOUNT_EXISTS
      )

      const email = 'race@example.com'
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => store.accounts.createAccount(accountRecord({ email })))
      )
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe(ErrorCode.ACCOUNT_EXISTS)
    })

    it('keeps one waiting sign-up per email and confirms it into an account once, with its code only', async () => {
      const { store } = await open()
      const email = 'waiting@example.com'
      const pending = (code: string, expiresAt: number) => ({
        email,
        account: accountRecord({ email }),
        codeHash: code,
        createdAt: 0,
        expiresAt
      })
      const first = pending('code-1', 100)
      await store.accounts.putPendingSignup(first)
      expect(await store.accounts.getPendingSignup(email)).toEqual(first)
      // A newer sign-up replaces it: the old code confirms nothing, and its expiry no longer applies.
      const second = pending('code-2', 300)
      await store.accounts.putPendingSignup(second)
      expect(await codeOf(store.accounts.confirmPendingSignup(email, 'code-1'))).toBe(ErrorCode.VERIFICATION_FAILED)
      expect(await store.accounts.deleteExpiredPendingSignups(150)).toBe(0)
      expect(await store.accounts.getPendingSignup(email)).toEqual(second)
      expect(await codeOf(store.accounts.confirmPendingSignup('other@example.com', 'code-2'))).toBe(
        ErrorCode.VERIFICATION_FAILED
      )

      // Confirmed once, under concurrency: one account, and the sign-up is gone.
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => store.accounts.confirmPendingSignup(email, 'code-2'))
      )
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      expect(await store.accounts.getAccountByEmail(email)).toEqual(second.account)
      expect(await store.accounts.getPendingSignup(email)).toBeUndefined()

      // An email taken meanwhile: ERR_ACCOUNT_EXISTS, and the sign-up stays until it expires.
      const late = pending('code-3', 500)
      await store.accounts.putPendingSignup(late)
      expect(await codeOf(store.accounts.confirmPendingSignup(email, 'code-3'))).toBe(ErrorCode.ACCOUNT_EXISTS)
      expect(await store.accounts.getPendingSignup(email)).toEqual(late)
      expect(await store.accounts.deleteExpiredPendingSignups(499)).toBe(0)
      expect(await store.accounts.deleteExpiredPendingSignups(500)).toBe(1)
      expect(await store.accounts.getPendingSignup(email)).toBeUndefined()
    })

    it('binds a receipt key to its first holder, also under concurrency', async () => {
      const { store } = await open()
      const holders = await Promise.all(
        ['a:one', 'a:two', 's:three'].map((holder) => store.ledger.bindReceiptKey({ key: 'rk1', holder, boundAt: 1 }))
      )
      expect(new Set(holders).size).toBe(1)
      const first = holders[0] as string
      expect(await store.ledger.bindReceiptKey({ key: 'rk1', holder: 'a:four', boundAt: 2 })).toBe(first)
      expect(await store.ledger.bindReceiptKey({ key: 'rk2', holder: 'a:two', boundAt: 2 })).toBe('a:two')
      expect(await store.ledger.receiptKeyHolders(['rk1', 'rk2', 'rk3', 'rk1'])).toEqual(
        new Map([
          ['rk1', first],
          ['rk2', 'a:two']
        ])
      )
    })

    it('stores sessions and removes only expired ones', async () => {
      const { store } = await open()
      await store.accounts.putSession({ tokenHash: 'h1', accountId: 'a', createdAt: 0, expiresAt: 100 })
      await store.accounts.putSession({ tokenHash: 'h2', accountId: 'a', createdAt: 0, expiresAt: 200 })
      expect(await store.accounts.getSession('h1')).toEqual({
        tokenHash: 'h1',
        accountId: 'a',
        createdAt: 0,
        expiresAt: 100
      })
      expect(await store.accounts.deleteExpiredSessions(150)).toBe(1)
      expect(await store.accounts.getSession('h1')).toBeUndefined()
      expect(await store.accounts.getSession('h2')).toBeDefined()
      expect(await store.accounts.deleteExpiredSessions(150)).toBe(0)
    })

    it('reads a session with its account in one call, or without it when the account is gone', async () => {
      const { store } = await open()
      const account = accountRecord()
      await store.accounts.createAccount(account)
      const session = { tokenHash: 'hs1', accountId: account.id, createdAt: 5, expiresAt: 100 }
      await store.accounts.putSession(session)
      expect(await store.accounts.getSessionAccount('hs1')).toEqual({ session, account })
      const orphan = { tokenHash: 'hs2', accountId: 'nobody', createdAt: 5, expiresAt: 100 }
      await store.accounts.putSession(orphan)
      expect(await store.accounts.getSessionAccount('hs2')).toEqual({ session: orphan, account: undefined })
      expect(await store.accounts.getSessionAccount('hs3')).toBeUndefined()
    })

    it('deletes one session, or every session of one account', async () => {
      const { store } = await open()
      for (const [hash, account] of [
        ['h1', 'a'],
        ['h2', 'a'],
        ['h3', 'a'],
        ['h4', 'b']
      ] as const) {
        await store.accounts.putSession({ tokenHash: hash, accountId: account, createdAt: 0, expiresAt: 100 })
      }
      expect(await store.accounts.deleteSessions({ tokenHash: 'h1' })).toBe(1)
      expect(await store.accounts.deleteSessions({ tokenHash: 'h1' })).toBe(0)
      expect(await store.accounts.getSession('h1')).toBeUndefined()
      expect(await store.accounts.deleteSessions({ accountId: 'a' })).toBe(2)
      expect(await store.accounts.getSession('h2')).toBeUndefined()
      expect(await store.accounts.getSession('h4')).toBeDefined()
      // The expiry index forgot them too: nothing is left to expire but b's.
      expect(await store.accounts.deleteExpiredSessions(1000)).toBe(1)
    })

    it('records heartbeats only when newer than the last one', async () => {
      const { store } = await open()
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeA', 10), [])).toEqual([])
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeA', 10), [])).toBeUndefined()
      expect(await store.nodes.recordHeartbeat({ ...nodeRecord('nodeA', 9), free: 1 }, [])).toBeUndefined()
      expect((await store.nodes.getNode('nodeA'))?.free).toBe(90)
      expect(await store.nodes.recordHeartbeat({ ...nodeRecord('nodeA', 11), free: 5 }, [])).toEqual([])
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeB', 1), [])).toEqual([])
      expect(await store.nodes.getNode('nodeA')).toEqual({ ...nodeRecord('nodeA', 11), free: 5 })
      expect((await store.nodes.listNodes()).map((n) => n.peerId).sort()).toEqual(['nodeA', 'nodeB'])
      expect(await store.nodes.getNode('nodeZ')).toBeUndefined()
      const results = await Promise.all(
        Array.from({ length: 5 }, () => store.nodes.recordHeartbeat(nodeRecord('nodeC', 7), []))
      )
      expect(results.filter((r) => r !== undefined)).toHaveLength(1)
    })

    it('reserves quota atomically when uploads begin', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 100, used: 10 })
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { size: 60 })
      await store.uploads.beginUpload(upload)
      expect(await store.uploads.getUpload(upload.id)).toEqual(upload)
      expect((await store.accounts.getAccount(account.id))?.reserved).toBe(60)
      const err = await store.uploads.beginUpload(uploadRecord(account.id, { size: 31 })).catch((e) => e)
      expect(err.code).toBe(ErrorCode.QUOTA_EXCEEDED)
      expect(err.details).toEqual({ quota: 100, used: 70, size: 31 })

      const other = accountRecord({ quota: 100 })
      await store.accounts.createAccount(other)
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => store.uploads.beginUpload(uploadRecord(other.id, { size: 30 })))
      )
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
      expect((await store.accounts.getAccount(other.id))?.reserved).toBe(90)
    })

    it('begins an upload for a name in use only with overwrite, and says quota before name', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 100 })
      await store.accounts.createAccount(account)
      const first = (await store.objects.getObject(await commitObject(store, account.id, 1))) as ObjectRecord
      const again = uploadRecord(account.id, { size: 10, nameHash: first.nameHash })
      const err = await store.uploads.beginUpload(again).catch((e) => e)
      expect(err.code).toBe(ErrorCode.CONFLICT)
      expect(err.details).toEqual({ objectId: first.id })
      // Nothing was reserved or created by the refusal.
      expect(await store.uploads.getUpload(again.id)).toBeUndefined()
      expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 10, reserved: 0 })
      const tooBig = await store.uploads.beginUpload({ ...again, size: 91 }).catch((e) => e)
      expect(tooBig.code).toBe(ErrorCode.QUOTA_EXCEEDED)
      const overwrite = { ...again, overwrite: true }
      await store.uploads.beginUpload(overwrite)
      expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 10, reserved: 10 })
      await store.uploads.commitUpload({
        uploadId: overwrite.id,
        object: objectFrom(overwrite),
        segments: manifests(1),
        replaces: first.id,
        deletes: []
      })
      // The name is the current object's now; the older version does not hold it.
      const third = uploadRecord(account.id, { size: 10, nameHash: first.nameHash })
      expect((await store.uploads.beginUpload(third).catch((e) => e)).details).toEqual({ objectId: overwrite.id })
    })

    it('keeps segment placements, replaces them, and commits against the current placement only', async () => {
      const { store } = await open()
      const account = accountRecord()
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { segmentCount: 12, size: 700 })
      await store.uploads.beginUpload(upload)
      const placed = new Map([10, 2, 0].map((index) => [index, segmentRecord(index, `p${index}`)]))
      for (const segment of placed.values()) await store.uploads.placeSegment(upload.id, segment)
      expect((await store.uploads.listUploadSegments(upload.id)).map((s) => s.index)).toEqual([0, 2, 10])
      expect(await store.uploads.getUploadSegment(upload.id, 2)).toEqual(placed.get(2))
      expect(await store.uploads.getUploadSegment(upload.id, 3)).toBeUndefined()

      const pieces = [{ index: 0, cid: CIDS[0] as string, node: 'nodeA' }]
      expect(await codeOf(store.uploads.commitSegment(upload.id, 2, 'stale', pieces))).toBe(ErrorCode.CONFLICT)
      expect(await codeOf(store.uploads.commitSegment(upload.id, 3, 'p3', pieces))).toBe(ErrorCode.CONFLICT)
      expect(await store.uploads.commitSegment(upload.id, 2, 'p2', pieces)).toEqual({ pieces, already: false })
      expect((await store.uploads.getUploadSegment(upload.id, 2))?.committed).toEqual(pieces)
      // The first commit wins: a later one, even with other pieces, returns it and changes nothing.
      const more = [...pieces, { index: 1, cid: CIDS[1] as string, node: 'nodeB' }]
      expect(await store.uploads.commitSegment(upload.id, 2, 'p2', more)).toEqual({ pieces, already: true })
      expect((await store.uploads.getUploadSegment(upload.id, 2))?.committed).toEqual(pieces)
      // Concurrent first commits: exactly one is first.
      const racing = await Promise.all([0, 1, 2].map(() => store.uploads.commitSegment(upload.id, 0, 'p0', pieces)))
      expect(racing.filter((r) => !r.already)).toHaveLength(1)

      // Placing again replaces the record and drops the commit.
      const replaced = { ...segmentRecord(2, 'p2b'), stale: placed.get(2)?.placement.pieces ?? [] }
      await store.uploads.placeSegment(upload.id, replaced)
      expect(await store.uploads.getUploadSegment(upload.id, 2)).toEqual(replaced)

      expect(await codeOf(store.uploads.placeSegment('missing', segmentRecord(0, 'x')))).toBe(
        ErrorCode.UPLOAD_NOT_FOUND
      )
      expect(await codeOf(store.uploads.commitSegment('missing', 0, 'x', pieces))).toBe(ErrorCode.UPLOAD_NOT_FOUND)
    })

    it('reads an upload with all its placed segments, or with one, in one call', async () => {
      const { store } = await open()
      const account = accountRecord()
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { segmentCount: 12, size: 700 })
      await store.uploads.beginUpload(upload)
      expect(await store.uploads.getUploadWithSegments(upload.id)).toEqual({ upload, segments: [] })
      expect(await store.uploads.getUploadWithSegments(upload.id, 0)).toEqual({ upload, segments: [] })
      const [ten, second, zero] = [10, 2, 0].map((index) => segmentRecord(index, `p${index}`))
      for (const segment of [ten, second, zero])
        await store.uploads.placeSegment(upload.id, segment as UploadSegmentRecord)
      const pieces = [{ index: 0, cid: CIDS[0] as string, node: 'nodeA' }]
      await store.uploads.commitSegment(upload.id, 2, 'p2', pieces)
      const two = { ...second, committed: pieces }
      expect(await store.uploads.getUploadWithSegments(upload.id)).toEqual({ upload, segments: [zero, two, ten] })
      expect(await store.uploads.getUploadWithSegments(upload.id, 2)).toEqual({ upload, segments: [two] })
      expect(await store.uploads.getUploadWithSegments(upload.id, 3)).toEqual({ upload, segments: [] })
      expect(await store.uploads.getUploadWithSegments('missing')).toBeUndefined()
      expect(await store.uploads.getUploadWithSegments('missing', 0)).toBeUndefined()
    })

    it('acknowledges delete orders only with a heartbeat that is accepted', async () => {
      const { store } = await open()
      const order = (serial: string): DeleteOrderRecord => ({
        node: 'nodeD',
        serial,
        piece: CIDS[0] as string,
        account: 'acct',
        size: 10,
        createdAt: 1,
        object: 'obj'
      })
      await store.nodes.queueDeletes([order('s1'), order('s2')])
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeD', 5), ['s1'])).toEqual([])
      expect((await store.nodes.listDeleteOrders('nodeD', 10)).map((o) => o.serial)).toEqual(['s2'])
      // An older heartbeat (a replay) acknowledges nothing.
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeD', 4), ['s2'])).toBeUndefined()
      expect((await store.nodes.listDeleteOrders('nodeD', 10)).map((o) => o.serial)).toEqual(['s2'])
    })

    it('answers an accepted heartbeat with the orders still queued, oldest first, those it acknowledged gone', async () => {
      const { store } = await open()
      const order = (serial: string, createdAt: number): DeleteOrderRecord => ({
        node: 'nodeE',
        serial,
        piece: CIDS[0] as string,
        account: 'acct',
        size: 10,
        createdAt,
        object: 'obj'
      })
      const queued = Array.from({ length: 300 }, (_, i) => order(`s${String(i).padStart(3, '0')}`, 1000 - i))
      await store.nodes.queueDeletes([...queued, { ...order('other', 1), node: 'nodeF' }])
      const oldestFirst = [...queued].reverse().map((o) => o.serial)
      // A few acknowledged (one statement on PostgreSQL), then many (the read is a statement of its own there).
      const few = oldestFirst.slice(0, 5)
      expect((await store.nodes.recordHeartbeat(nodeRecord('nodeE', 1), few, 3))?.map((o) => o.serial)).toEqual(
        oldestFirst.slice(5, 8)
      )
      const many = oldestFirst.slice(5, 205)
      const left = await store.nodes.recordHeartbeat(nodeRecord('nodeE', 2), many, 256)
      expect(left?.map((o) => o.serial)).toEqual(oldestFirst.slice(205))
      expect(left?.[0]).toEqual(queued.find((o) => o.serial === oldestFirst[205]))
      // A replay answers nothing and removes nothing.
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeE', 2), oldestFirst.slice(205), 10)).toBeUndefined()
      expect(await store.nodes.listDeleteOrders('nodeE', 1000)).toHaveLength(95)
      expect(await store.nodes.recordHeartbeat(nodeRecord('nodeF', 1), [], 10)).toHaveLength(1)
    })

    it('commits an upload into an object in one step', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { size: 100, segmentCount: 2 })
      await store.uploads.beginUpload(upload)
      await store.uploads.placeSegment(upload.id, segmentRecord(0, 'a'))
      const object = objectFrom(upload)
      await store.uploads.commitUpload({
        uploadId: upload.id,
        object,
        segments: manifests(2),
        deletes: [order('nodeX', 5)]
      })
      expect(await store.objects.getObject(object.id)).toEqual(object)
      expect(await store.objects.getObjectByName(account.id, upload.nameHash)).toEqual(object)
      expect(await store.objects.listObjects(account.id, { limit: 100 })).toEqual([object])
      expect(await store.objects.listObjects('someone-else', { limit: 100 })).toEqual([])
      expect(await store.objects.getObjectSegments(object.id, 0, 2)).toEqual(manifests(2))
      expect(await store.objects.getObjectSegments(object.id, 1, 2)).toEqual(manifests(2).slice(1))
      expect(await store.objects.getObjectWithSegments(object.id, 0, 2)).toEqual({ object, segments: manifests(2) })
      expect(await store.objects.getObjectWithSegments(object.id, 1, 5)).toEqual({
        object,
        segments: manifests(2).slice(1)
      })
      expect(await store.objects.getObjectWithSegments(object.id, 0, 0)).toEqual({ object, segments: [] })
      expect(await store.objects.getObjectWithSegments('no-such-object', 0, 2)).toBeUndefined()
      expect(await store.uploads.getUpload(upload.id)).toBeUndefined()
      expect(await store.uploads.listUploadSegments(upload.id)).toEqual([])
      expect(await store.nodes.listDeleteOrders('nodeX', 10)).toHaveLength(1)
      const after = await store.accounts.getAccount(account.id)
      expect(after).toMatchObject({ used: 100, reserved: 0, objects: 1 })
      // Gone uploads cannot commit twice.
      expect(await codeOf(store.uploads.commitUpload({ uploadId: upload.id, object, segments: [], deletes: [] }))).toBe(
        ErrorCode.UPLOAD_NOT_FOUND
      )
    })

    it('replaces an object under the same name only when told which one', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const first = uploadRecord(account.id, { size: 100, segmentCount: 1 })
      await store.uploads.beginUpload(first)
      await store.uploads.commitUpload({
        uploadId: first.id,
        object: objectFrom(first),
        segments: manifests(1),
        deletes: []
      })

      const second = uploadRecord(account.id, { size: 40, segmentCount: 1, nameHash: first.nameHash, overwrite: true })
      await store.uploads.beginUpload(second)
      const commit = { uploadId: second.id, object: objectFrom(second), segments: manifests(1), deletes: [] }
      const taken = await store.uploads.commitUpload(commit).catch((e) => e)
      expect(taken.code).toBe(ErrorCode.CONFLICT)
      expect(taken.details).toEqual({ objectId: first.id })
      expect(await codeOf(store.uploads.commitUpload({ ...commit, replaces: 'another' }))).toBe(ErrorCode.CONFLICT)
      expect(await store.uploads.commitUpload({ ...commit, replaces: first.id, deletes: [order('nodeA', 1)] })).toEqual(
        {
          replaced: first.id
        }
      )
      // The replaced object stays, as an older version of the name (docs/versions.md): kept, listed apart, billed.
      // Never superseded in the millisecond it was created (both were created at 2): versions stay ordered.
      expect(await store.objects.getObject(first.id)).toMatchObject({ supersededAt: 3 })
      expect(await store.objects.getObjectSegments(first.id, 0, 1)).toHaveLength(1)
      expect((await store.objects.getObjectByName(account.id, first.nameHash))?.id).toBe(second.id)
      expect(await store.objects.listObjects(account.id, { limit: 100 })).toHaveLength(1)
      expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 140, reserved: 0, objects: 1 })
    })

    it('with overwrite, replaces whichever object has the name at commit, or takes a free name', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const put = async (nameHash?: string) => {
        const upload = uploadRecord(account.id, {
          size: 10,
          segmentCount: 1,
          overwrite: true,
          ...(nameHash && { nameHash })
        })
        await store.uploads.beginUpload(upload)
        const commit = { uploadId: upload.id, object: objectFrom(upload), segments: manifests(1), deletes: [] }
        return { id: upload.id, nameHash: upload.nameHash, commit }
      }
      const a = await put()
      // Begun with overwrite before the name had any object: it takes the free name.
      expect(await store.uploads.commitUpload({ ...a.commit, overwrite: true })).toEqual({})
      // Two uploads over the same name, committed one after the other: each replaces the one before it, although
      // neither named it (replaces is not read with overwrite).
      const b = await put(a.nameHash)
      const c = await put(a.nameHash)
      expect(await store.uploads.commitUpload({ ...b.commit, overwrite: true, replaces: 'stale' })).toEqual({
        replaced: a.id
      })
      expect(await store.uploads.commitUpload({ ...c.commit, overwrite: true })).toEqual({ replaced: b.id })
      expect((await store.objects.getObjectByName(account.id, a.nameHash))?.id).toBe(c.id)
      expect(await store.objects.getObject(a.id)).toHaveProperty('supersededAt')
      expect(await store.objects.getObject(b.id)).toHaveProperty('supersededAt')
      expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 30, reserved: 0, objects: 1 })
    })

    it('aborts uploads, releasing the reservation and queueing deletes', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { size: 300 })
      await store.uploads.beginUpload(upload)
      await store.uploads.placeSegment(upload.id, segmentRecord(0, 'a'))
      await store.uploads.abortUpload(upload.id, [order('nodeA', 1), order('nodeB', 1)])
      expect(await store.uploads.getUpload(upload.id)).toBeUndefined()
      expect(await store.uploads.listUploadSegments(upload.id)).toEqual([])
      expect((await store.accounts.getAccount(account.id))?.reserved).toBe(0)
      expect(await store.nodes.listDeleteOrders('nodeA', 10)).toHaveLength(1)
      expect(await codeOf(store.uploads.abortUpload(upload.id, []))).toBe(ErrorCode.UPLOAD_NOT_FOUND)
    })

    it("lists an owner's uploads, oldest first, until they are committed or aborted", async () => {
      const { store, reopen } = await open()
      const alice = accountRecord({ quota: 1000 })
      const bob = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(alice)
      await store.accounts.createAccount(bob)
      const late = uploadRecord(alice.id, { createdAt: 30, size: 1, segmentCount: 1 })
      const early = uploadRecord(alice.id, { createdAt: 10, size: 1, minCommitPieces: 2 })
      const middle = uploadRecord(alice.id, { createdAt: 20, size: 1 })
      const theirs = uploadRecord(bob.id, { createdAt: 5, size: 1 })
      for (const u of [late, early, middle, theirs]) await store.uploads.beginUpload(u)
      expect(await store.uploads.listUploads(alice.id)).toEqual([early, middle, late])
      expect(await store.uploads.listUploads(bob.id)).toEqual([theirs])
      expect(await store.uploads.listUploads('nobody')).toEqual([])
      await store.uploads.abortUpload(middle.id, [])
      await store.uploads.commitUpload({
        uploadId: late.id,
        object: objectFrom(late),
        segments: manifests(1),
        deletes: []
      })
      expect(await store.uploads.listUploads(alice.id)).toEqual([early])
      expect(await (await reopen()).uploads.listUploads(alice.id)).toEqual([early])
    })

    it('lists expired uploads, oldest first', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const late = uploadRecord(account.id, { expiresAt: 3000, size: 1 })
      const early = uploadRecord(account.id, { expiresAt: 1000, size: 1 })
      const future = uploadRecord(account.id, { expiresAt: 9000, size: 1 })
      for (const u of [late, early, future]) await store.uploads.beginUpload(u)
      expect((await store.uploads.listExpiredUploads(5000, 10)).map((u) => u.id)).toEqual([early.id, late.id])
      expect((await store.uploads.listExpiredUploads(5000, 1)).map((u) => u.id)).toEqual([early.id])
      expect(await store.uploads.listExpiredUploads(999, 10)).toEqual([])
      await store.uploads.abortUpload(early.id, [])
      expect((await store.uploads.listExpiredUploads(5000, 10)).map((u) => u.id)).toEqual([late.id])
    })

    it('pages through every upload in progress, whatever their number', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      // Two share an expiry: the page boundary falls between them and neither is lost nor repeated.
      const uploads = [5000, 3000, 3000, 7000, 1000].map((expiresAt) =>
        uploadRecord(account.id, { expiresAt, size: 1 })
      )
      for (const u of uploads) await store.uploads.beginUpload(u)
      const seen: string[] = []
      let after: { expiresAt: number; id: string } | undefined
      for (;;) {
        const page = await store.uploads.listExpiredUploads(Number.MAX_SAFE_INTEGER, 2, after)
        if (page.length === 0) break
        seen.push(...page.map((u) => u.id))
        const last = page.at(-1) as UploadRecord
        after = { expiresAt: last.expiresAt, id: last.id }
      }
      expect(seen).toHaveLength(5)
      expect(new Set(seen)).toEqual(new Set(uploads.map((u) => u.id)))
      expect(seen[0]).toBe(uploads[4]?.id)
      expect(seen[4]).toBe(uploads[3]?.id)
    })

    it('lists the objects of an owner a page at a time, in bytewise name-hash order', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 10_000 })
      await store.accounts.createAccount(account)
      // Names that a locale collation would order differently from bytes: '-' and '_', upper and lower case.
      const names = ['b-x', 'B_x', 'a', 'A', '_z', '-z', 'Zz', 'zZ', '0a']
      for (const nameHash of names) {
        const upload = uploadRecord(account.id, { size: 1, segmentCount: 1, nameHash })
        await store.uploads.beginUpload(upload)
        await store.uploads.commitUpload({ uploadId: upload.id, object: objectFrom(upload), segments: [], deletes: [] })
      }
      const other = accountRecord()
      await store.accounts.createAccount(other)
      const theirs = uploadRecord(other.id, { size: 1, segmentCount: 1, nameHash: 'a' })
      await store.uploads.beginUpload(theirs)
      await store.uploads.commitUpload({ uploadId: theirs.id, object: objectFrom(theirs), segments: [], deletes: [] })
      const seen: string[] = []
      let after: string | undefined
      for (;;) {
        const page = await store.objects.listObjects(account.id, {
          ...(after === undefined ? {} : { after }),
          limit: 4
        })
        expect(page.length).toBeLessThanOrEqual(4)
        seen.push(...page.map((o) => o.nameHash))
        if (page.length < 4) break
        after = page.at(-1)?.nameHash
      }
      const bytewise = [...names].sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1))
      expect(seen).toEqual(bytewise)
      expect(await store.objects.listObjects(account.id, { after: 'zZ', limit: 4 })).toEqual([])
    })

    it('deletes objects from listing and quota, queueing deletes', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { size: 100, segmentCount: 1 })
      await store.uploads.beginUpload(upload)
      await store.uploads.commitUpload({
        uploadId: upload.id,
        object: objectFrom(upload),
        segments: manifests(1),
        deletes: []
      })
      await store.objects.deleteObject(upload.id, [order('nodeA', 1)], 1)
      expect(await store.objects.getObject(upload.id)).toBeUndefined()
      expect(await store.objects.getObjectByName(account.id, upload.nameHash)).toBeUndefined()
      expect(await store.objects.listObjects(account.id, { limit: 100 })).toEqual([])
      expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 0, objects: 0 })
      expect(await store.nodes.listDeleteOrders('nodeA', 10)).toHaveLength(1)
      expect(await codeOf(store.objects.deleteObject(upload.id, [], 2))).toBe(ErrorCode.OBJECT_NOT_FOUND)
    })

    it('renames objects only onto free names, keeping size and segments', async () => {
      const { store, reopen } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const a = uploadRecord(account.id, { size: 10, segmentCount: 1 })
      const b = uploadRecord(account.id, { size: 20, segmentCount: 1 })
      for (const u of [a, b]) {
        await store.uploads.beginUpload(u)
        await store.uploads.commitUpload({ uploadId: u.id, object: objectFrom(u), segments: manifests(1), deletes: [] })
      }
      const renamed = await store.objects.renameObject(a.id, 'new-name-hash', 'new-meta')
      expect(renamed).toEqual({ ...objectFrom(a), nameHash: 'new-name-hash', meta: 'new-meta' })
      expect(await store.objects.getObjectByName(account.id, a.nameHash)).toBeUndefined()
      expect((await store.objects.getObjectByName(account.id, 'new-name-hash'))?.id).toBe(a.id)
      expect(await store.objects.getObjectSegments(a.id, 0, 1)).toEqual(manifests(1))
      // Renaming onto its own name only changes the metadata; onto another object's name is refused.
      expect((await store.objects.renameObject(a.id, 'new-name-hash', 'meta-2')).meta).toBe('meta-2')
      expect(await codeOf(store.objects.renameObject(a.id, b.nameHash, 'x'))).toBe(ErrorCode.CONFLICT)
      expect(await codeOf(store.objects.renameObject('missing', 'h', 'x'))).toBe(ErrorCode.OBJECT_NOT_FOUND)
      const reopened = await reopen()
      expect((await reopened.objects.listObjects(account.id, { limit: 100 })).map((o) => o.nameHash).sort()).toEqual(
        ['new-name-hash', b.nameHash].sort()
      )
      expect(await reopened.accounts.getAccount(account.id)).toMatchObject({ used: 30, objects: 2 })
    })

    it('keeps shares per owner, newest first, and revokes them once', async () => {
      const { store, reopen } = await open()
      const account = accountRecord()
      const other = accountRecord({ email: 'other@example.com' })
      await store.accounts.createAccount(account)
      await store.accounts.createAccount(other)
      const share = (id: string, owner: string, createdAt: number): ShareRecord => ({
        id,
        owner,
        objectId: `object-${id}`,
        meta: 'sealed',
        createdAt,
        ...(id === 's2' ? { expiresAt: 99, password: { salt: 'salt', authSalt: 'as', authHash: 'ah' } } : {})
      })
      await store.shares.createShare(share('s1', account.id, 1))
      await store.shares.createShare(share('s2', account.id, 2))
      await store.shares.createShare(share('s3', other.id, 3))
      expect(await store.shares.getShare('s2')).toEqual(share('s2', account.id, 2))
      expect(await store.shares.getShare('nope')).toBeUndefined()
      expect((await store.shares.listShares(account.id)).map((s) => s.id)).toEqual(['s2', 's1'])
      expect(await store.shares.revokeShare('s1', 10)).toMatchObject({ id: 's1', revokedAt: 10 })
      expect((await store.shares.revokeShare('s1', 20)).revokedAt).toBe(10)
      expect(await codeOf(store.shares.revokeShare('nope', 1))).toBe(ErrorCode.NOT_FOUND)
      // Expiry changes and download counts (link management).
      expect((await store.shares.updateShareExpiry('s2', 500)).expiresAt).toBe(500)
      const forever = await store.shares.updateShareExpiry('s2', undefined)
      expect('expiresAt' in forever).toBe(false)
      expect(await store.shares.getShare('s2')).toEqual(forever)
      expect(await codeOf(store.shares.updateShareExpiry('nope', 1))).toBe(ErrorCode.NOT_FOUND)
      await Promise.all(Array.from({ length: 5 }, () => store.shares.countShareDownload('s3')))
      expect((await store.shares.getShare('s3'))?.downloads).toBe(5)
      expect(await codeOf(store.shares.countShareDownload('nope'))).toBe(ErrorCode.NOT_FOUND)
      const reopened = await reopen()
      expect((await reopened.shares.getShare('s1'))?.revokedAt).toBe(10)
      expect((await reopened.shares.listShares(other.id)).map((s) => s.id)).toEqual(['s3'])
    })

    it('hands out delete orders per node, oldest first, until that node acknowledges them', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id)
      await store.uploads.beginUpload(upload)
      const orders = [order('nodeA', 30), order('nodeA', 10), order('nodeA', 20), order('nodeB', 5)]
      await store.uploads.abortUpload(upload.id, orders)
      const a = await store.nodes.listDeleteOrders('nodeA', 10)
      expect(a.map((o) => o.createdAt)).toEqual([10, 20, 30])
      expect(a[0]).toEqual(orders[1])
      expect(await store.nodes.listDeleteOrders('nodeA', 2)).toHaveLength(2)
      expect(await store.nodes.listDeleteOrders('nodeC', 10)).toEqual([])

      // A node cannot acknowledge another node's orders.
      const serialB = (orders[3] as DeleteOrderRecord).serial
      await store.nodes.recordHeartbeat(nodeRecord('nodeA', 1), [
        serialB,
        (a[0] as DeleteOrderRecord).serial,
        'unknown'
      ])
      expect((await store.nodes.listDeleteOrders('nodeA', 10)).map((o) => o.createdAt)).toEqual([20, 30])
      expect(await store.nodes.listDeleteOrders('nodeB', 10)).toHaveLength(1)
      // A refused (replayed) heartbeat acknowledges nothing.
      await store.nodes.recordHeartbeat(nodeRecord('nodeA', 1), [(a[1] as DeleteOrderRecord).serial])
      expect(await store.nodes.listDeleteOrders('nodeA', 10)).toHaveLength(2)
    })

    it('walks every object segment in order, in pages', async () => {
      const { store, reopen } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const ids: string[] = []
      for (const count of [3, 1, 2]) {
        const id = await commitObject(store, account.id, count)
        ids.push(...Array.from({ length: count }, () => id))
      }
      const seen: { objectId: string; index: number }[] = []
      let after: { objectId: string; index: number } | undefined
      for (;;) {
        const page = await store.objects.listSegments(after, 2)
        if (page.length === 0) break
        for (const s of page) {
          seen.push({ objectId: s.objectId, index: s.segment.index })
          // Each segment comes with its object's record, without what only the owner's client reads.
          expect(s.object?.id).toBe(s.objectId)
          expect(s.object?.segmentCount).toBeGreaterThan(s.segment.index)
          const { meta: _m, wrappedKey: _k, nonce: _n, ...walked } = (await store.objects.getObject(s.objectId)) ?? {}
          expect(s.object).toEqual(walked)
        }
        const last = page.at(-1) as { objectId: string; segment: SegmentManifest }
        after = { objectId: last.objectId, index: last.segment.index }
      }
      expect(seen).toHaveLength(6)
      expect(seen.map((s) => s.objectId).sort()).toEqual([...ids].sort())
      // Strictly increasing: no segment twice, every object's segments together and in index order.
      const keys = seen.map((s) => `${s.objectId}:${s.index}`)
      expect(new Set(keys).size).toBe(6)
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1], seen[i]] as [
          { objectId: string; index: number },
          { objectId: string; index: number }
        ]
        if (a.objectId === b.objectId) expect(b.index).toBe(a.index + 1)
      }
      expect(await (await reopen()).objects.listSegments(undefined, 100)).toHaveLength(6)
    })

    it("finds one node's segments by index, in order, in pages, as commits, imports, repairs and deletes change them", async () => {
      const { store, reopen } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const commit = async (segments: SegmentManifest[]) => {
        const upload = uploadRecord(account.id, { size: 50 * segments.length, segmentCount: segments.length })
        await store.uploads.beginUpload(upload)
        await store.uploads.commitUpload({ uploadId: upload.id, object: objectFrom(upload), segments, deletes: [] })
        return upload.id
      }
      const first = await commit(manifests(2, ['nodeA', 'nodeB', 'nodeC']))
      const second = await commit(manifests(1, ['nodeD', 'nodeA', 'nodeE']))
      const imported = uploadRecord(account.id, { size: 50, segmentCount: 1 })
      const importedSegments = manifests(1, ['nodeD', 'nodeE', 'nodeF'])
      await store.uploads.importObjects([
        { object: objectFrom(imported), segments: importedSegments, nodeBytes: { nodeD: 5, nodeE: 5, nodeF: 5 } }
      ])
      const keysOn = async (node: string, s: Store = store, limit = 100) => {
        const seen: string[] = []
        let after: { objectId: string; index: number } | undefined
        for (;;) {
          const page = await s.objects.listSegmentsOnNode(node, after, limit)
          for (const entry of page) {
            expect(entry.segment.pieces.some((p) => p.node === node)).toBe(true)
            const { meta: _m, wrappedKey: _k, nonce: _n, ...walked } = (await s.objects.getObject(entry.objectId)) ?? {}
            expect(entry.object).toEqual(walked)
            seen.push(`${entry.objectId}:${entry.segment.index}`)
          }
          const last = page.at(-1)
          if (page.length < limit || last === undefined) return seen
          after = { objectId: last.objectId, index: last.segment.index }
        }
      }
      // In the walk's order (bytewise by object id, then index), whatever the page size.
      const onA = [`${first}:0`, `${first}:1`, `${second}:0`].sort()
      expect(await keysOn('nodeA')).toEqual(onA)
      expect(await keysOn('nodeA', store, 1)).toEqual(onA)
      expect(await keysOn('nodeD')).toEqual([`${second}:0`, `${imported.id}:0`].sort())
      expect(await keysOn('nodeZ')).toEqual([])
      // A repair moves a piece of first:1 from nodeB to nodeG: the index follows.
      const before = (manifests(2)[1] as SegmentManifest).pieces
      const after = [before[0], { ...before[1], node: 'nodeG' }, before[2]] as typeof before
      expect(await store.objects.updateSegmentPieces({ objectId: first, index: 1 }, before, after, [], 50)).toBe(true)
      expect(await keysOn('nodeB')).toEqual([`${first}:0`])
      expect(await keysOn('nodeG')).toEqual([`${first}:1`])
      // A deleted object's segments leave every node's list.
      await store.objects.deleteObject(first, [], 60)
      expect(await keysOn('nodeA')).toEqual([`${second}:0`])
      expect(await keysOn('nodeG')).toEqual([])
      expect(await keysOn('nodeC')).toEqual([])
      expect(await keysOn('nodeF', await reopen())).toEqual([`${imported.id}:0`])
    })

    it('replaces the pieces of a segment only if they are unchanged, queueing deletes with it', async () => {
      const { store } = await open()
      const account = accountRecord({ quota: 1000 })
      await store.accounts.createAccount(account)
      const upload = uploadRecord(account.id, { size: 100, segmentCount: 2 })
      await store.uploads.beginUpload(upload)
      const segments = manifests(2)
      await store.uploads.commitUpload({ uploadId: upload.id, object: objectFrom(upload), segments, deletes: [] })
      const before = (segments[1] as SegmentManifest).pieces
      const after = [
        before[0],
        before[1],
        { index: 2, cid: CIDS[2] as string, node: 'nodeD', root: 'r'.repeat(43) }
      ] as typeof before
      const key = { objectId: upload.id, index: 1 }
      expect(await store.objects.updateSegmentPieces(key, before, after, [order('nodeC', 7)], 77)).toBe(true)
      expect((await store.objects.getObjectSegments(upload.id, 1, 2))[0]?.pieces).toEqual(after)
      expect(await store.nodes.listDeleteOrders('nodeC', 10)).toHaveLength(1)
      // The move is recorded with the swap, for node payouts: piece 2 went from nodeC to nodeD at 77.
      const bytes = pieceSize(objectFrom(upload), 1)
      expect(await store.ledger.listPieceMoves([upload.id, 'another-object'])).toEqual([
        { objectId: upload.id, at: 77, from: 'nodeC', to: 'nodeD', bytes }
      ])
      // A second repair that read the old pieces changes nothing, queues nothing and records no move.
      expect(await store.objects.updateSegmentPieces(key, before, before, [order('nodeE', 8)], 88)).toBe(false)
      expect(await store.ledger.listPieceMoves([upload.id])).toHaveLength(1)
      expect((await store.objects.getObjectSegments(upload.id, 1, 2))[0]?.pieces).toEqual(after)
      expect(await store.nodes.listDeleteOrders('nodeE', 10)).toEqual([])
      // Segment 0 is untouched.
      expect((await store.objects.getObjectSegments(upload.id, 0, 1))[0]?.pieces).toEqual(
        (segments[0] as SegmentManifest).pieces
      )
      await store.objects.deleteObject(upload.id, [], 99)
      expect(await codeOf(store.objects.updateSegmentPieces(key, after, before, [], 100))).toBe(
        ErrorCode.OBJECT_NOT_FOUND
      )
      await store.nodes.queueDeletes([order('nodeF', 9), order('nodeF', 3)])
      expect((await store.nodes.listDeleteOrders('nodeF', 10)).map((o) => o.createdAt)).toEqual([3, 9])
    })

    it('keeps node reputations with optimistic versions', async () => {
      const { store, reopen } = await open()
      const rep = {
        peerId: 'nodeA',
        version: 1,
        firstSeen: 5,
        audits: { passed: 0, failed: 0, timedOut: 0 },
        auditAlpha: 1,
        auditBeta: 0,
        uptimeAlpha: 1,
        uptimeBeta: 0
      }
      expect(await store.reputations.getReputation('nodeA')).toBeUndefined()
      expect(await store.reputations.putReputation({ ...rep, version: 2 })).toBe(false)
      expect(await store.reputations.putReputation(rep)).toBe(true)
      expect(await store.reputations.putReputation(rep)).toBe(false)
      const next = { ...rep, version: 2, audits: { passed: 1, failed: 0, timedOut: 0 }, vettedAt: 9 }
      const [a, b] = await Promise.all([
        store.reputations.putReputation(next),
        store.reputations.putReputation({ ...next, auditBeta: 3 })
      ])
      expect([a, b].filter(Boolean)).toHaveLength(1)
      await store.reputations.putReputation({ ...rep, peerId: 'nodeB' })
      const reopened = await reopen()
      expect((await reopened.reputations.getReputation('nodeA'))?.version).toBe(2)
      expect((await reopened.reputations.listReputations()).map((r) => r.peerId)).toEqual(['nodeA', 'nodeB'])
    })

    it('leases a job to one holder at a time, until it expires or is given up', async () => {
      const { store } = await open()
      expect(await store.coordination.acquireLease('ops', 'A', 1000, 300)).toBe(true)
      expect(await store.coordination.acquireLease('ops', 'B', 1000, 300)).toBe(false)
      expect(await store.coordination.acquireLease('other', 'B', 1000, 300)).toBe(true)
      // Renewed by its holder, it lasts from the renewal.
      expect(await store.coordination.acquireLease('ops', 'A', 1200, 300)).toBe(true)
      expect(await store.coordination.acquireLease('ops', 'B', 1400, 300)).toBe(false)
      expect(await store.coordination.acquireLease('ops', 'B', 1500, 300)).toBe(true)
      expect(await store.coordination.acquireLease('ops', 'A', 1500, 300)).toBe(false)
      // Only the holder can give it up.
      await store.coordination.releaseLease('ops', 'A')
      expect(await store.coordination.acquireLease('ops', 'A', 1600, 300)).toBe(false)
      await store.coordination.releaseLease('ops', 'B')
      expect(await store.coordination.acquireLease('ops', 'A', 1600, 300)).toBe(true)
      // Racing for a free lease: one wins.
      const race = await Promise.all(['X', 'Y', 'Z'].map((h) => store.coordination.acquireLease('race', h, 2000, 300)))
      expect(race.filter(Boolean)).toHaveLength(1)
    })

    moneyCompliance(open)
    moderationCompliance(open)
    coordinationCompliance(open)
    versionsCompliance(open)
    importCompliance(open)
  })
}
