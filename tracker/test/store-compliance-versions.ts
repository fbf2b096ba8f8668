import { ErrorCode } from '@shoal/core'
import { expect, it } from 'vitest'
import type { ObjectRecord, Store, VersionKey } from '../src/store/store.ts'
import { accountRecord, codeOf, manifests, objectFrom, order, uploadRecord } from './store-compliance.ts'

/** Commits `size` bytes under `nameHash` at `at`, over the name's current object if there is one. */
async function putVersion(store: Store, owner: string, nameHash: string, size: number, at: number) {
  const upload = uploadRecord(owner, { size, segmentCount: 1, nameHash, overwrite: true, createdAt: at })
  await store.uploads.beginUpload(upload)
  const current = await store.objects.getObjectByName(owner, nameHash)
  await store.uploads.commitUpload({
    uploadId: upload.id,
    object: objectFrom(upload, at),
    segments: manifests(1),
    ...(current === undefined ? {} : { replaces: current.id }),
    deletes: []
  })
  return upload.id
}

const keyOf = (v: ObjectRecord): VersionKey => ({
  owner: v.owner,
  nameHash: v.nameHash,
  supersededAt: v.supersededAt as number,
  id: v.id
})

/** Versions (docs/versions.md): what both stores must do, in the same way. */
export function versionsCompliance(open: () => Promise<{ store: Store; reopen(): Promise<Store> }>): void {
  it('keeps every overwritten object as a version, newest first, in pages, still counted in used', async () => {
    const { store, reopen } = await open()
    const account = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(account)
    const name = 'nameVersioned'
    const ids = []
    for (let i = 0; i < 4; i++) ids.push(await putVersion(store, account.id, name, 10 * (i + 1), 100 + i))
    expect((await store.objects.getObjectByName(account.id, name))?.id).toBe(ids[3])
    expect(await store.objects.listObjects(account.id, { limit: 10 })).toHaveLength(1)
    const all = await store.objects.listVersions(account.id, name, { limit: 10 })
    expect(all.map((v) => v.id)).toEqual([ids[2], ids[1], ids[0]])
    expect(all.map((v) => v.supersededAt)).toEqual([103, 102, 101])
    const first = await store.objects.listVersions(account.id, name, { limit: 2 })
    const last = first.at(-1) as ObjectRecord
    const rest = await store.objects.listVersions(account.id, name, {
      limit: 2,
      after: { supersededAt: last.supersededAt as number, id: last.id }
    })
    expect([...first, ...rest].map((v) => v.id)).toEqual([ids[2], ids[1], ids[0]])
    expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 100, objects: 1 })
    expect(await store.objects.versionUsage(account.id)).toEqual({ versions: 3, bytes: 60 })
    // A version's storage span stays open: it is billed while it exists.
    const spans = await store.ledger.listStorageSpans({ account: account.id, from: 0, to: 1000 })
    expect(spans.filter((s) => s.to === undefined)).toHaveLength(4)
    const again = await reopen()
    expect((await again.objects.listVersions(account.id, name, { limit: 10 })).map((v) => v.id)).toEqual(
      all.map((v) => v.id)
    )
  })

  it('restores a version: it becomes current with new metadata and the current one becomes a version', async () => {
    const { store } = await open()
    const account = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(account)
    const name = 'nameRestored'
    const old = await putVersion(store, account.id, name, 10, 100)
    const now = await putVersion(store, account.id, name, 20, 200)
    const restored = await store.objects.restoreVersion(old, 'bmV3bWV0YQ', 300)
    expect(restored).toMatchObject({ id: old, meta: 'bmV3bWV0YQ' })
    expect(restored.supersededAt).toBeUndefined()
    expect(await store.objects.getObjectByName(account.id, name)).toEqual(restored)
    expect(
      (await store.objects.listVersions(account.id, name, { limit: 10 })).map((v) => [v.id, v.supersededAt])
    ).toEqual([[now, 300]])
    expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 30, objects: 1 })
    // Only an older version can be restored; nothing changes on a refusal.
    expect(await codeOf(store.objects.restoreVersion(old, 'eA', 400))).toBe(ErrorCode.OBJECT_NOT_FOUND)
    expect(await codeOf(store.objects.restoreVersion('missing', 'eA', 400))).toBe(ErrorCode.OBJECT_NOT_FOUND)
    expect((await store.objects.getObjectByName(account.id, name))?.id).toBe(old)
    // A version cannot be renamed on its own: it follows its file.
    expect(await codeOf(store.objects.renameObject(now, 'elsewhere', 'eA'))).toBe(ErrorCode.OBJECT_NOT_FOUND)
  })

  it('moves versions with their file on rename (and to trash and back)', async () => {
    const { store } = await open()
    const account = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(account)
    const v1 = await putVersion(store, account.id, 'nameA', 10, 100)
    const v2 = await putVersion(store, account.id, 'nameA', 20, 200)
    await store.objects.renameObject(v2, 'nameTrashed', 'dHJhc2g')
    expect(await store.objects.listVersions(account.id, 'nameA', { limit: 10 })).toEqual([])
    const moved = await store.objects.listVersions(account.id, 'nameTrashed', { limit: 10 })
    expect(moved.map((v) => [v.id, v.nameHash])).toEqual([[v1, 'nameTrashed']])
    // A new file under the old name starts without versions.
    await putVersion(store, account.id, 'nameA', 5, 300)
    expect(await store.objects.listVersions(account.id, 'nameA', { limit: 10 })).toEqual([])
    expect(await codeOf(store.objects.renameObject(v2, 'nameA', 'eA'))).toBe(ErrorCode.CONFLICT)
    expect((await store.objects.listVersions(account.id, 'nameTrashed', { limit: 10 })).map((v) => v.id)).toEqual([v1])
  })

  it('deletes a version on its own: out of used, not out of the file count, span closed, deletes queued', async () => {
    const { store } = await open()
    const account = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(account)
    const v1 = await putVersion(store, account.id, 'nameD', 10, 100)
    await putVersion(store, account.id, 'nameD', 20, 200)
    await store.objects.deleteObject(v1, [order('nodeV', 5)], 500)
    expect(await store.objects.getObject(v1)).toBeUndefined()
    expect(await store.objects.listVersions(account.id, 'nameD', { limit: 10 })).toEqual([])
    expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 20, objects: 1 })
    expect(await store.nodes.listDeleteOrders('nodeV', 10)).toHaveLength(1)
    const spans = await store.ledger.listStorageSpans({ account: account.id, from: 0, to: 1000 })
    expect(spans.find((s) => s.objectId === v1)?.to).toBe(500)
  })

  it('walks every version of every owner grouped by name, newest first, in pages', async () => {
    const { store } = await open()
    const a = accountRecord({ quota: 10_000 })
    const b = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(a)
    await store.accounts.createAccount(b)
    for (const [owner, name] of [
      [a.id, 'nameX'],
      [a.id, 'nameY'],
      [b.id, 'nameX']
    ] as const) {
      for (let i = 0; i < 3; i++) await putVersion(store, owner, name, 10, 100 + i)
    }
    const seen: ObjectRecord[] = []
    let after: VersionKey | undefined
    for (;;) {
      const page = await store.objects.listAllVersions(after, 4)
      seen.push(...page)
      const last = page.at(-1)
      if (page.length < 4 || last === undefined) break
      after = keyOf(last)
    }
    expect(seen).toHaveLength(6)
    const groups = seen.map((v) => `${v.owner}/${v.nameHash}`)
    // Each group together, two versions each, newest first within it.
    expect(new Set(groups).size).toBe(3)
    for (let i = 0; i < seen.length; i += 2) {
      expect(groups[i]).toBe(groups[i + 1])
      expect((seen[i] as ObjectRecord).supersededAt).toBeGreaterThan(
        (seen[i + 1] as ObjectRecord).supersededAt as number
      )
    }
  })

  it('keeps a version policy per account', async () => {
    const { store, reopen } = await open()
    const account = accountRecord()
    await store.accounts.createAccount(account)
    expect(await store.accounts.getVersionPolicy(account.id)).toBeUndefined()
    await store.accounts.setVersionPolicy(account.id, { keep: 3 })
    await store.accounts.setVersionPolicy(account.id, { keep: 2, days: 7 })
    expect(await (await reopen()).accounts.getVersionPolicy(account.id)).toEqual({ keep: 2, days: 7 })
  })
}
