import { describe, expect, it } from 'vitest'
import { RetainFilters } from '../src/ops/retain.ts'
import { bothStores } from './both-stores.ts'
import { TestClock } from './helpers.ts'
import { accountRecord, commitObject, uploadRecord } from './store-compliance.ts'

describe.each(bothStores)('retain filters on %s', (_, open) => {
  it('hold the pieces of every upload in progress, however many, beside those of committed objects', async () => {
    const { first: store } = await open()
    const account = accountRecord({ quota: 1_000_000 })
    await store.accounts.createAccount(account)
    // More uploads in progress than one page of the walk (500), each with a piece on nodeU.
    const uploads = 1_100
    for (let i = 0; i < uploads; i++) {
      const upload = uploadRecord(account.id, { size: 1, expiresAt: 5_000 + (i % 7) })
      await store.uploads.beginUpload(upload)
      await store.uploads.placeSegment(upload.id, {
        index: 0,
        placement: {
          index: 0,
          id: 'p',
          pieces: [{ index: 0, cid: `cid-${i}`, node: 'nodeU', serial: `s${i}`, size: 1 }]
        }
      })
    }
    await commitObject(store, account.id, 2)
    const retain = new RetainFilters(store, new TestClock(), { retainCacheMs: 60_000, retainFalsePositiveRate: 1e-6 })
    const own = await retain.forNode('nodeU')
    expect(own.pieces).toBe(uploads)
    const missing = Array.from({ length: uploads }, (_, i) => `cid-${i}`).filter((cid) => !own.filter.has(cid))
    expect(missing).toEqual([])
    expect(own.filter.has('cid-never-placed')).toBe(false)
    // The committed object's pieces are in their nodes' filters (2 segments each).
    expect((await retain.forNode('nodeA')).pieces).toBe(2)
  })
})
