import { ErrorCode } from '@shoal/core'
import { expect, it } from 'vitest'
import type { ImportedObject, Store } from '../src/store/store.ts'
import { accountRecord, codeOf, manifests, objectFrom, uploadRecord } from './store-compliance.ts'

/** What an upload's begin and commit leave in the store, read back whole. */
async function readBack(store: Store, accountId: string, objectIds: readonly string[]) {
  const account = await store.accounts.getAccount(accountId)
  const objects = await Promise.all(objectIds.map((id) => store.objects.getObject(id)))
  const segments = await Promise.all(objectIds.map((id) => store.objects.getObjectSegments(id, 0, 10)))
  const spans = await store.ledger.listStorageSpans({ account: accountId, from: 0, to: 100 })
  const listed = await store.objects.listObjects(accountId, { limit: 10 })
  const walked = (await store.objects.listSegments(undefined, 100)).filter((s) => objectIds.includes(s.objectId))
  return { account, objects, segments, spans, listed, walked }
}

/** importObjects (bulk seeding) in every Store; called from runStoreCompliance. */
export function importCompliance(open: () => Promise<{ store: Store }>): void {
  it('imports objects exactly as begin and commit would have written them', async () => {
    const { store } = await open()
    const viaCommit = accountRecord({ id: 'acctCOMMIT', quota: 10_000 })
    const viaImport = accountRecord({ id: 'acctIMPORT', quota: 10_000 })
    await store.accounts.createAccount(viaCommit)
    await store.accounts.createAccount(viaImport)
    const nodeBytes = { nodeA: 50, nodeB: 50, nodeC: 50 }
    const uploads = [0, 1].map((i) => uploadRecord(viaCommit.id, { id: `objC${i}`, nameHash: `name${i}`, size: 10 }))
    for (const upload of uploads) {
      await store.uploads.beginUpload(upload)
      await store.uploads.commitUpload({
        uploadId: upload.id,
        object: objectFrom(upload),
        segments: manifests(2),
        nodeBytes,
        deletes: []
      })
    }
    const imported: ImportedObject[] = uploads.map((u, i) => ({
      object: { ...objectFrom(u), id: `objI${i}`, owner: viaImport.id },
      segments: manifests(2),
      nodeBytes
    }))
    await store.uploads.importObjects(imported)

    const a = await readBack(store, viaCommit.id, ['objC0', 'objC1'])
    const b = await readBack(store, viaImport.id, ['objI0', 'objI1'])
    // Same records but for the ids: rename the imported ones back and compare whole.
    const rename = (value: unknown) =>
      JSON.parse(JSON.stringify(value).replaceAll('objI', 'objC').replaceAll(viaImport.id, viaCommit.id))
    expect(b.account).toEqual({ ...viaImport, used: 20, objects: 2, reserved: 0 })
    expect(rename(b)).toEqual({ ...a, account: rename(b.account) })
    expect(a.account).toMatchObject({ used: 20, objects: 2, reserved: 0 })
    expect(b.walked).toHaveLength(4)
    expect(await store.objects.getObjectByName(viaImport.id, 'name1')).toEqual(imported[1]?.object)
  })

  it('imports all or nothing: a taken name, a name given twice, a missing owner, a quota passed', async () => {
    const { store } = await open()
    const account = accountRecord({ id: 'acctTAKEN', quota: 100 })
    await store.accounts.createAccount(account)
    const object = (id: string, nameHash: string, size = 10): ImportedObject => ({
      object: { ...objectFrom(uploadRecord(account.id, { size, nameHash })), id },
      segments: manifests(1)
    })
    await store.uploads.importObjects([object('objT0', 'taken')])
    expect(await codeOf(store.uploads.importObjects([object('objT1', 'free'), object('objT2', 'taken')]))).toBe(
      ErrorCode.CONFLICT
    )
    expect(await codeOf(store.uploads.importObjects([object('objT3', 'twice'), object('objT4', 'twice')]))).toBe(
      ErrorCode.CONFLICT
    )
    expect(await codeOf(store.uploads.importObjects([object('objT5', 'big', 91)]))).toBe(ErrorCode.QUOTA_EXCEEDED)
    const stranger = { ...object('objT6', 'stranger'), object: { ...object('objT6', 'x').object, owner: 'nobody' } }
    expect(await codeOf(store.uploads.importObjects([stranger]))).toBe(ErrorCode.UNAUTHORIZED)
    for (const id of ['objT1', 'objT3', 'objT4', 'objT5', 'objT6'])
      expect(await store.objects.getObject(id)).toBeUndefined()
    expect(await store.accounts.getAccount(account.id)).toMatchObject({ used: 10, objects: 1, reserved: 0 })
    await store.uploads.importObjects([])
  })
}
