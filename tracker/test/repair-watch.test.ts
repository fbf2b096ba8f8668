import { describe, expect, it } from 'vitest'
import { nodeGotWorse } from '../src/ops/repairer.ts'
import { expectOk, FakeNode, signup, startTracker, uploadObject } from './helpers.ts'

/**
 * The repair check's node watch: the segments of a node whose state got worse are checked (through the store's
 * index of segments by node) within a tick, without waiting for the pass over every segment.
 */
describe('repair node watch', () => {
  const good = { online: true, graceOver: false, disqualified: false, exiting: false, failed: 0 }

  it('calls a node worse when it goes offline, its grace ends, it is disqualified, leaves or fails an audit', () => {
    expect(nodeGotWorse(undefined, good)).toBe(false)
    expect(nodeGotWorse(undefined, { ...good, online: false })).toBe(true)
    expect(nodeGotWorse(undefined, { ...good, failed: 1 })).toBe(true)
    expect(nodeGotWorse(good, good)).toBe(false)
    expect(nodeGotWorse(good, { ...good, online: false })).toBe(true)
    const offline = { ...good, online: false }
    expect(nodeGotWorse(offline, offline)).toBe(false)
    expect(nodeGotWorse(offline, { ...offline, graceOver: true })).toBe(true)
    expect(nodeGotWorse(good, { ...good, disqualified: true })).toBe(true)
    expect(nodeGotWorse(good, { ...good, exiting: true })).toBe(true)
    expect(nodeGotWorse({ ...good, failed: 2 }, { ...good, failed: 3 })).toBe(true)
    // Getting better is nothing to check: the queue's repairs look again anyway.
    expect(nodeGotWorse(offline, good)).toBe(false)
    expect(nodeGotWorse({ ...good, failed: 3 }, { ...good, failed: 1 })).toBe(false)
    // Offline at both looks, but heard from in between: it came back and went offline again.
    const gone = { ...offline, graceOver: true, lastSeen: 100 }
    expect(nodeGotWorse(gone, gone)).toBe(false)
    expect(nodeGotWorse(gone, { ...gone, graceOver: false, lastSeen: 200 })).toBe(true)
    expect(nodeGotWorse(gone, { ...good, lastSeen: 200 })).toBe(false)
  })

  it('an idle tick reads nothing from the store, and a node going offline is checked at the first tick after', async () => {
    // The loop's ticks an hour apart: only the test's own calls tick.
    // Nodes offline 3 s after their last heartbeat: sooner than the watch's re-read of reputations (10 s).
    const t = await startTracker({
      heartbeatIntervalMs: 1000,
      ops: { repairIntervalMs: 3_600_000, scanTickMs: 3_600_000, auditIntervalMs: 0, repairOfflineGraceMs: 0 }
    })
    const nodes = await FakeNode.many(t, 5)
    const { token } = await signup(t)
    for (let i = 0; i < 3; i++) await uploadObject(t, token, nodes, { size: 3000 })
    expect(t.tracker.config.offlineAfterMs).toBe(3000)
    const { repairer } = t.tracker.maintenance
    const { store } = t.tracker.components
    // Every store call the repairer could make on a tick, counted.
    const calls: string[] = []
    const count = <T extends object>(part: T, names: (keyof T & string)[]) => {
      for (const name of names) {
        const call = (part[name] as (...args: unknown[]) => unknown).bind(part)
        Object.assign(part, {
          [name]: (...args: unknown[]) => {
            calls.push(name)
            return call(...args)
          }
        })
      }
    }
    count(store.coordination, ['getCursor', 'putCursor', 'claimRepairs', 'queueRepairs', 'countRepairs'])
    count(store.nodes, ['listNodes'])
    count(store.reputations, ['listReputations'])
    count(store.objects, ['listSegments', 'listSegmentsOnNode'])
    await repairer.tick()
    expect(calls.length).toBeGreaterThan(0)
    calls.length = 0
    // Fifteen idle ticks: the queue looked at three times (after each empty look the wait doubles: the first
    // tick found it empty, then 1, 2, 4 and 8 ticks pass between looks), nothing else.
    for (let i = 0; i < 15; i++) await repairer.tick()
    expect(calls).toEqual(['claimRepairs', 'claimRepairs', 'claimRepairs'])

    // A node's heartbeat grows too old: the first tick after walks its segments, queues them and drains at once.
    const [, ...alive] = nodes as [FakeNode, ...FakeNode[]]
    t.clock.advance(t.tracker.config.offlineAfterMs)
    for (const n of alive) expectOk(await n.heartbeat())
    calls.length = 0
    await repairer.tick()
    expect(calls).toEqual([])
    t.clock.advance(1)
    await repairer.tick()
    expect(calls).toContain('listSegmentsOnNode')
    expect(calls.indexOf('claimRepairs')).toBeGreaterThan(calls.indexOf('queueRepairs'))
    expect(repairer.stats.failures + repairer.stats.repaired).toBeGreaterThan(0)
  })

  it("queues a dead node's segments within a tick, a budget at a time, without a pass over every segment", async () => {
    // The pass and the loop's ticks an hour apart: only the test's own calls check anything.
    const t = await startTracker({
      ops: { repairIntervalMs: 3_600_000, scanTickMs: 3_600_000, auditIntervalMs: 0, repairOfflineGraceMs: 0 }
    })
    const nodes = await FakeNode.many(t, 5)
    const { token } = await signup(t)
    for (let i = 0; i < 4; i++) await uploadObject(t, token, nodes, { size: 3000 })
    const { repairer } = t.tracker.maintenance
    const { store } = t.tracker.components
    expect(await repairer.watchNodes()).toBe(0)

    const [dead, dying, ...alive] = nodes as [FakeNode, FakeNode, ...FakeNode[]]
    const segmentsOn = async (node: FakeNode) =>
      (await store.objects.listSegments(undefined, 1000)).filter((s) =>
        s.segment.pieces.some((p) => p.node === node.peerId)
      ).length
    const onDead = await segmentsOn(dead)
    expect(onDead).toBeGreaterThan(1)
    t.clock.advance(t.tracker.config.offlineAfterMs + 1)
    for (const n of [dying, ...alive]) expectOk(await n.heartbeat())
    // k=2, m=1: a segment with a piece on the dead node is down to k healthy pieces, so each is queued.
    expect(await repairer.watchNodes()).toBe(onDead)
    expect(await store.coordination.countRepairs()).toBe(onDead)
    expect(await store.coordination.getCursor('repair-check')).toBeUndefined()
    expect(await repairer.watchNodes()).toBe(0)

    // A budget smaller than a node's segments: the walk goes on at the next call, where it stopped.
    const onDying = await segmentsOn(dying)
    // Queued by now: the dead node's segments, and the dying node's others (one with both is down to one piece,
    // below k: lost, nothing to rebuild from; it stays queued from before).
    const queued = (await store.objects.listSegments(undefined, 1000)).filter((s) =>
      s.segment.pieces.some((p) => p.node === dead.peerId || p.node === dying.peerId)
    ).length
    t.clock.advance(t.tracker.config.offlineAfterMs + 1)
    for (const n of alive) expectOk(await n.heartbeat())
    expect(await repairer.watchNodes(1)).toBe(1)
    expect(await repairer.watchNodes(onDying)).toBe(onDying - 1)
    expect(await repairer.watchNodes()).toBe(0)
    expect(await store.coordination.countRepairs()).toBe(queued)
  })
})
