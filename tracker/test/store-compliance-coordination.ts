import { expect, it } from 'vitest'
import type { RepairItem, ScanCursor, Store } from '../src/store/store.ts'

const item = (objectId: string, index: number, healthy: number): RepairItem => ({
  objectId,
  index,
  healthy,
  queuedAt: 100
})
const keys = (items: readonly RepairItem[]) => items.map((i) => `${i.objectId}/${i.index}`)

/** Cursors of the background walks and the repair queue in every Store; called from runStoreCompliance. */
export function coordinationCompliance(open: () => Promise<{ store: Store; reopen(): Promise<Store> }>): void {
  it('moves a walk cursor only over the version it read, and keeps it across a reopen', async () => {
    const { store, reopen } = await open()
    const c = store.coordination
    expect(await c.getCursor('repair-check')).toBeUndefined()
    const first: ScanCursor = { version: 1, pass: 1, startedAt: 10, segments: 0 }
    expect(await c.putCursor('repair-check', { ...first, version: 2 })).toBe(false)
    expect(await c.putCursor('repair-check', first)).toBe(true)
    expect(await c.putCursor('repair-check', first)).toBe(false)
    // Two trackers claiming the next slice from the same read: one wins, the other re-reads.
    const next = (objectId: string): ScanCursor => ({
      ...first,
      version: 2,
      after: { objectId, index: 3 },
      segments: 4
    })
    const race = await Promise.all([
      c.putCursor('repair-check', next('objA')),
      c.putCursor('repair-check', next('objB'))
    ])
    expect(race.filter(Boolean)).toHaveLength(1)
    const won = race[0] === true ? next('objA') : next('objB')
    expect(await c.getCursor('repair-check')).toEqual(won)
    expect(await c.getCursor('audit')).toBeUndefined()
    const again = await reopen()
    expect(await again.coordination.getCursor('repair-check')).toEqual(won)
    const done: ScanCursor = { version: 3, pass: 1, startedAt: 10, finishedAt: 50, segments: 9 }
    expect(await again.coordination.putCursor('repair-check', done)).toBe(true)
    expect(await again.coordination.getCursor('repair-check')).toEqual(done)
  })

  it('queues repairs durably and hands each to one holder at a time, fewest healthy first', async () => {
    const { store, reopen } = await open()
    const c = store.coordination
    expect(await c.countRepairs()).toBe(0)
    expect(await c.claimRepairs('A', 1000, 500, 10)).toEqual([])
    await c.queueRepairs([item('objB', 0, 5), item('objA', 1, 3), item('objA', 0, 4)])
    // Queued again by a later check: the count is updated, not doubled, and the first queue time stays.
    await c.queueRepairs([{ ...item('objB', 0, 2), queuedAt: 900 }])
    expect(await c.countRepairs()).toBe(3)

    const restarted = (await reopen()).coordination
    expect(await restarted.countRepairs()).toBe(3)
    const a = await restarted.claimRepairs('A', 1000, 500, 2)
    expect(keys(a)).toEqual(['objB/0', 'objA/1'])
    expect(a[0]).toEqual({ objectId: 'objB', index: 0, healthy: 2, queuedAt: 100 })
    // Claimed items are not handed out again while the claim lasts.
    expect(keys(await restarted.claimRepairs('B', 1200, 500, 10))).toEqual(['objA/0'])
    expect(await restarted.claimRepairs('B', 1300, 500, 10)).toEqual([])
    // Only the holder takes an item off the queue.
    await restarted.finishRepair({ objectId: 'objB', index: 0 }, 'B')
    expect(await restarted.countRepairs()).toBe(3)
    await restarted.finishRepair({ objectId: 'objB', index: 0 }, 'A')
    expect(await restarted.countRepairs()).toBe(2)
    // A claim that expired (its holder died) is free again.
    expect(keys(await restarted.claimRepairs('C', 1500, 500, 10))).toEqual(['objA/1'])
    await restarted.finishRepair({ objectId: 'objA', index: 1 }, 'A')
    expect(await restarted.countRepairs()).toBe(2)
    await restarted.finishRepair({ objectId: 'objA', index: 1 }, 'C')
    expect(await restarted.countRepairs()).toBe(1)
  })

  it('never hands one queued repair to two claimers at once', async () => {
    const { store } = await open()
    const c = store.coordination
    await c.queueRepairs(Array.from({ length: 20 }, (_, i) => item(`obj${String(i).padStart(2, '0')}`, 0, i % 4)))
    const claims = await Promise.all(['A', 'B', 'C', 'D'].map((h) => c.claimRepairs(h, 1000, 500, 6)))
    const all = claims.flatMap(keys)
    expect(all).toHaveLength(20)
    expect(new Set(all).size).toBe(20)
  })
}
