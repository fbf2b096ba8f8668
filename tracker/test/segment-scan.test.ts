import { afterEach, describe, expect, it, vi } from 'vitest'
import { ScanPace } from '../src/ops/ops-config.ts'
import { type ScanSlice, SegmentScan } from '../src/ops/segment-scan.ts'
import type { ScanCursor, Store } from '../src/store/store.ts'
import { bothStores } from './both-stores.ts'
import { TestClock } from './helpers.ts'
import { accountRecord, commitObject } from './store-compliance.ts'

/** Objects of these segment counts; returns every segment as `objectId/index`. */
async function seed(store: Store, counts: readonly number[]): Promise<string[]> {
  const account = accountRecord({ quota: 1_000_000 })
  await store.accounts.createAccount(account)
  const all: string[] = []
  for (const count of counts) {
    const id = await commitObject(store, account.id, count)
    for (let i = 0; i < count; i++) all.push(`${id}/${i}`)
  }
  return all.sort()
}

const ids = (slice: ScanSlice) => slice.segments.map((s) => `${s.key.objectId}/${s.key.index}`)

describe.each(bothStores)('SegmentScan on %s', (_, open) => {
  it('goes a slice at a time from where it stood, also after a restart, and waits for the next pass', async () => {
    const { first, reopen } = await open()
    const all = await seed(first, [3, 1, 4, 2])
    const clock = new TestClock(1000)
    const seen: string[] = []
    const scan = new SegmentScan('test-walk', first, clock)
    const one = (await scan.next(4, 60_000)) as ScanSlice
    expect(one).toMatchObject({ started: true, finished: false })
    seen.push(...ids(one))
    // The process stops; a new one goes on from the stored cursor, not from the start.
    const again = new SegmentScan('test-walk', await reopen(), clock)
    for (;;) {
      const slice = (await again.next(4, 60_000)) as ScanSlice
      expect(slice.started).toBe(false)
      seen.push(...ids(slice))
      if (slice.finished) {
        expect(slice.cursor).toMatchObject({ pass: 1, segments: 10, startedAt: 1000 })
        break
      }
    }
    expect(seen).toEqual(all)
    // The next pass begins only once the period since this one began is over.
    clock.advance(59_999)
    expect(await again.next(4, 60_000)).toBeUndefined()
    clock.advance(1)
    const next = (await again.next(4, 60_000)) as ScanSlice
    expect(next).toMatchObject({ started: true, cursor: { pass: 2 } })
    expect(ids(next)).toEqual(all.slice(0, 4))
  })

  it('never hands one slice to two trackers walking at once, and together they see every segment once', async () => {
    const { first, second } = await open()
    const all = await seed(
      first,
      Array.from({ length: 12 }, (_, i) => 1 + (i % 4))
    )
    const clock = new TestClock(1000)
    const walk = async (store: Store): Promise<string[]> => {
      const scan = new SegmentScan('shared-walk', store, clock)
      const seen: string[] = []
      for (;;) {
        const slice = await scan.next(3, 60_000)
        if (slice === undefined) return seen
        seen.push(...ids(slice))
      }
    }
    const [a, b, c] = await Promise.all([walk(first), walk(second), walk(second)])
    expect([...(a ?? []), ...(b ?? []), ...(c ?? [])].sort()).toEqual(all)
    expect((await first.coordination.getCursor('shared-walk'))?.segments).toBe(all.length)
  })

  it("a tick begins no pass before a period of the process's own time, whatever the store's clock says", async () => {
    const { first } = await open()
    const all = await seed(first, [2, 3])
    const clock = new TestClock(1000)
    const scan = new SegmentScan('ticked', first, clock)
    const seen: ScanSlice[] = []
    const work = async (slice: ScanSlice) => void seen.push(slice)
    await scan.tick(100, 60_000, work)
    clock.advance(30 * 24 * 3_600_000)
    await scan.tick(100, 60_000, work)
    expect(seen).toEqual([])
    // Without a period the pass begins, and a budget of 100 takes it whole in one tick.
    await scan.tick(100, 0, work)
    expect(seen.flatMap(ids)).toEqual(all)
    expect(seen.at(-1)).toMatchObject({ finished: true })
  })
})

describe.each(bothStores)('SegmentScan ticks on %s', (_, open) => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('reads nothing between passes, and begins the next one on the first tick both clocks allow', async () => {
    vi.useFakeTimers({ toFake: ['performance'] })
    const { first } = await open()
    const all = await seed(first, [2, 3])
    let reads = 0
    const coordination = first.coordination
    // The walk's two calls on the coordination part, the cursor reads counted.
    const counted = {
      objects: first.objects,
      coordination: {
        getCursor: (name: string) => {
          reads++
          return coordination.getCursor(name)
        },
        putCursor: (name: string, cursor: ScanCursor) => coordination.putCursor(name, cursor)
      }
    } as unknown as Store
    const clock = new TestClock(1000)
    const scan = new SegmentScan('idle-walk', counted, clock)
    const seen: ScanSlice[] = []
    const work = async (slice: ScanSlice) => void seen.push(slice)
    vi.advanceTimersByTime(60_000)
    await scan.tick(100, 60_000, work)
    expect(seen.flatMap(ids)).toEqual(all)
    reads = 0
    // The pass is over: one read finds it so, then the ticks read nothing for the period.
    for (let i = 0; i < 5; i++) await scan.tick(100, 60_000, work)
    expect(reads).toBe(1)
    // The store's clock alone does not begin a pass; the process's own time alone neither.
    clock.advance(60_000)
    await scan.tick(100, 60_000, work)
    vi.advanceTimersByTime(59_000)
    clock.advance(-60_000)
    await scan.tick(100, 60_000, work)
    expect(reads).toBe(1)
    expect(seen).toHaveLength(1)
    // Both: the next tick reads the cursor and walks the second pass.
    clock.advance(60_000)
    vi.advanceTimersByTime(1_000)
    await scan.tick(100, 60_000, work)
    expect(seen).toHaveLength(2)
    expect(seen[1]).toMatchObject({ started: true, finished: true, cursor: { pass: 2 } })
  })
})

describe('ScanPace', () => {
  it('keeps the rate over time: a budget for the time since the last tick began, at most two ticks of it', () => {
    const pace = new ScanPace(1000, () => 6000)
    expect(pace.budget(10_000)).toBe(6000)
    // The tick's work took 400 ms and the loop paused 1 s after it: 1.4 s of the rate.
    expect(pace.budget(11_400)).toBe(8400)
    // After a long stall, no burst beyond two ticks.
    expect(pace.budget(61_400)).toBe(12_000)
    // Never less than one segment, whatever the clock did.
    expect(pace.budget(61_000)).toBe(1)
  })
})
