import { expect, it } from 'vitest'
import type { ModerationAction, ModerationActionKind, Store } from '../src/store/store.ts'

let n = 0
const action = (kind: ModerationActionKind, target: string, at: number): ModerationAction => ({
  id: `${String(at).padStart(16, '0')}-${++n}`,
  at,
  action: kind,
  target,
  reason: `${kind} ${target}`,
  by: 'admin'
})

/** Takedowns, suspensions and reports in every Store; called from runStoreCompliance with its `open`. */
export function moderationCompliance(open: () => Promise<{ store: Store; reopen(): Promise<Store> }>): void {
  it('takes a share down and restores it, logging each change once, and keeps it across a reopen', async () => {
    const { store, reopen } = await open()
    const m = store.moderation
    const takedown = { shareId: 's1', reason: 'report 7', at: 10, by: 'admin' }
    expect(await m.getTakedown('s1')).toBeUndefined()
    expect(await m.setTakedown('s1', takedown, action('takedown', 's1', 10))).toBe(true)
    // Already down: nothing changes and nothing is logged.
    expect(await m.setTakedown('s1', { ...takedown, reason: 'again' }, action('takedown', 's1', 11))).toBe(false)
    expect(await m.getTakedown('s1')).toEqual(takedown)
    const again = await reopen()
    expect(await again.moderation.getTakedown('s1')).toEqual(takedown)
    expect(await again.moderation.setTakedown('s1', undefined, action('restore', 's1', 12))).toBe(true)
    expect(await again.moderation.setTakedown('s1', undefined, action('restore', 's1', 13))).toBe(false)
    expect(await again.moderation.getTakedown('s1')).toBeUndefined()
    const log = await again.moderation.listActions(10)
    expect(log.map((a) => `${a.action} ${a.at}`)).toEqual(['restore 12', 'takedown 10'])
    expect(await again.moderation.listActions(1)).toHaveLength(1)
  })

  it('suspends and unsuspends accounts; concurrent suspensions log one action', async () => {
    const { store } = await open()
    const m = store.moderation
    const suspension = { accountId: 'a1', reason: 'abuse', at: 20, by: 'admin' }
    const results = await Promise.all(
      [21, 22, 23].map((at) => m.setSuspension('a1', { ...suspension, at }, action('suspend', 'a1', at)))
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    expect((await m.getSuspension('a1'))?.accountId).toBe('a1')
    expect(await m.getSuspension('a2')).toBeUndefined()
    expect(await m.setSuspension('a1', undefined, action('unsuspend', 'a1', 30))).toBe(true)
    expect(await m.getSuspension('a1')).toBeUndefined()
    expect((await m.listActions(10)).map((a) => a.action)).toEqual(['unsuspend', 'suspend'])
  })

  it('keeps abuse reports, newest first', async () => {
    const { store } = await open()
    for (const at of [1, 3, 2]) {
      await store.moderation.addReport({
        id: `${String(at).padStart(16, '0')}-r`,
        shareId: `s${at}`,
        reason: 'spam',
        at,
        from: '198.51.100.1'
      })
    }
    expect((await store.moderation.listReports(10)).map((r) => r.shareId)).toEqual(['s3', 's2', 's1'])
    expect(await store.moderation.listReports(2)).toHaveLength(2)
  })
}
