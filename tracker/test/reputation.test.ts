import { describe, expect, it } from 'vitest'
import { OPS_DEFAULTS, repairThreshold, resolveOps } from '../src/ops/ops-config.ts'
import {
  applyAudit,
  applyUptime,
  auditScore,
  failedPiece,
  MAX_FAILED_PIECES,
  newReputation,
  uptimeScore,
  withoutFailedPiece
} from '../src/ops/reputation.ts'
import { subnetOf } from '../src/ops/subnet.ts'
import { choosePlacement } from '../src/placement.ts'

const policy = { ...OPS_DEFAULTS, vettingAudits: 3, auditRetries: 2, maxOfflineMs: 1000 }

describe('reputation', () => {
  it('starts trusted, loses a little per failure and a lot per run of failures, then disqualifies', () => {
    let rep = newReputation('n', 0, policy)
    expect(auditScore(rep)).toBe(1)
    rep = applyAudit(rep, 'p', 'failed', 1, policy)
    expect(auditScore(rep)).toBeCloseTo(0.95, 5)
    expect(rep.disqualified).toBeUndefined()
    for (let i = 0; i < 9; i++) rep = applyAudit(rep, 'p', 'failed', 2, policy)
    expect(auditScore(rep)).toBeCloseTo(0.95 ** 10, 5)
    expect(rep.disqualified?.reason).toMatch(/audit score 0\.599 fell below 0\.6/)
    expect(rep.audits).toEqual({ passed: 0, failed: 10, timedOut: 0 })
  })

  it('an honest node with a rare bad piece keeps a high score', () => {
    let rep = newReputation('n', 0, policy)
    for (let i = 0; i < 200; i++) rep = applyAudit(rep, 'p', i % 50 === 49 ? 'failed' : 'passed', i, policy)
    expect(auditScore(rep)).toBeGreaterThan(0.9)
    expect(rep.disqualified).toBeUndefined()
  })

  it('vets a node after enough passed audits', () => {
    let rep = newReputation('n', 0, policy)
    for (let i = 1; i <= 3; i++) {
      expect(rep.vettedAt).toBeUndefined()
      rep = applyAudit(rep, 'p', 'passed', i * 10, policy)
    }
    expect(rep.vettedAt).toBe(30)
  })

  it('retries timeouts before they count, keeps the node on the same piece, and forgets them once it answers', () => {
    let rep = newReputation('n', 0, policy)
    rep = applyAudit(rep, 'a', 'timeout', 1, policy)
    expect(rep.pending).toEqual({ piece: 'a', attempts: 1, since: 1 })
    // Another piece timing out (an audit that ran at the same time) is not a new try at 'a'.
    rep = applyAudit(rep, 'b', 'timeout', 2, policy)
    expect(rep.pending).toEqual({ piece: 'a', attempts: 1, since: 1 })
    // Nor does answering another piece end the containment.
    rep = applyAudit(rep, 'c', 'passed', 2, policy)
    expect(rep.pending).toEqual({ piece: 'a', attempts: 1, since: 1 })
    rep = applyAudit(rep, 'a', 'timeout', 3, policy)
    expect(rep.pending).toEqual({ piece: 'a', attempts: 2, since: 1 })
    expect(auditScore(rep)).toBe(1)
    rep = applyAudit(rep, 'a', 'timeout', 4, policy)
    expect(rep.audits).toEqual({ passed: 1, failed: 1, timedOut: 4 })
    expect(auditScore(rep)).toBeLessThan(1)
    rep = applyAudit(rep, 'a', 'passed', 5, policy)
    expect(rep.pending).toBeUndefined()
  })

  it('remembers the pieces whose last audit failed, until they pass, at most MAX_FAILED_PIECES of them', () => {
    let rep = newReputation('n', 0, { ...policy, auditLambda: 0.9999, auditDisqualify: 0.01 })
    rep = applyAudit(rep, 'a', 'failed', 1, policy)
    rep = applyAudit(rep, 'b', 'failed', 2, policy)
    expect(failedPiece(rep, 'a') && failedPiece(rep, 'b')).toBe(true)
    rep = applyAudit(rep, 'a', 'passed', 3, policy)
    expect(failedPiece(rep, 'a')).toBe(false)
    expect(rep.failedPieces).toEqual([{ piece: 'b', at: 2 }])
    // A timeout that used up its retries is a failure of that piece too.
    for (let t = 4; t < 4 + policy.auditRetries + 1; t++) rep = applyAudit(rep, 'c', 'timeout', t, policy)
    expect(failedPiece(rep, 'c')).toBe(true)
    for (let i = 0; i < MAX_FAILED_PIECES + 10; i++) rep = applyAudit(rep, `x${i}`, 'failed', 10 + i, policy)
    expect(rep.failedPieces).toHaveLength(MAX_FAILED_PIECES)
    expect(failedPiece(rep, `x${MAX_FAILED_PIECES + 9}`)).toBe(true)
    expect(failedPiece(rep, 'b')).toBe(false)
  })

  it('turns the time from a failed audit to a pass or a fresh copy into an unpaid stretch, kept for 70 days', () => {
    const day = 86_400_000
    const held = { objectId: 'o1', bytes: 1000 }
    let rep = newReputation('n', 0, { ...policy, auditLambda: 0.9999, auditDisqualify: 0.01 })
    rep = applyAudit(rep, 'a', 'failed', 1 * day, policy, held)
    expect(rep.failedPieces).toEqual([{ piece: 'a', at: 1 * day, objectId: 'o1', bytes: 1000 }])
    rep = applyAudit(rep, 'a', 'failed', 2 * day, policy, held)
    rep = applyAudit(rep, 'a', 'passed', 3 * day, policy, held)
    // Failing again continues the stretch; passing closes it.
    expect(rep.unpaid).toEqual([
      { objectId: 'o1', bytes: 1000, from: 1 * day, to: 2 * day },
      { objectId: 'o1', bytes: 1000, from: 2 * day, to: 3 * day }
    ])
    expect(rep.failedPieces).toBeUndefined()
    // The repairer storing a fresh copy on the node closes a stretch the same way.
    rep = applyAudit(rep, 'b', 'failed', 10 * day, policy, { objectId: 'o2', bytes: 50 })
    rep = withoutFailedPiece(rep, 'b', 11 * day)
    expect(rep.unpaid?.at(-1)).toEqual({ objectId: 'o2', bytes: 50, from: 10 * day, to: 11 * day })
    // Pieces failed before sizes were recorded have no stretch; stretches past 70 days are dropped.
    rep = applyAudit(rep, 'c', 'failed', 12 * day, policy)
    rep = withoutFailedPiece(rep, 'c', 80 * day)
    expect(rep.unpaid).toEqual([{ objectId: 'o2', bytes: 50, from: 10 * day, to: 11 * day }])
    rep = withoutFailedPiece(rep, 'none', 82 * day)
    expect(rep.unpaid).toBeUndefined()
  })

  it('scores uptime and disqualifies a node offline for too long', () => {
    let rep = newReputation('n', 0, policy)
    rep = applyUptime(rep, false, 0, 500, policy)
    expect(uptimeScore(rep)).toBeLessThan(1)
    expect(rep.disqualified).toBeUndefined()
    rep = applyUptime(rep, false, 0, 1001, policy)
    expect(rep.disqualified?.reason).toMatch(/offline/)
  })
})

describe('subnets', () => {
  it('groups by the /24 or /64 the heartbeat came from, whatever the node announces', () => {
    expect(subnetOf('203.0.113.7', ['/ip4/10.0.0.1/tcp/1'], 'n', 'node')).toBe('203.0.113.0/24')
    expect(subnetOf('::ffff:198.51.100.200', [], 'n', 'node')).toBe('198.51.100.0/24')
    expect(subnetOf('2001:db8:1:2:3::4', [], 'n', 'node')).toBe('2001:db8:1:2::/64')
    expect(subnetOf('2001:db8::1', [], 'n', 'node')).toBe('2001:db8:0:0::/64')
  })

  it('loopback: each node alone, or by the 127.0.0.N address it listens on', () => {
    expect(subnetOf('127.0.0.1', ['/ip4/127.0.0.12/tcp/5'], 'peerA', 'node')).toBe('node:peerA')
    expect(subnetOf('127.0.0.1', ['/ip4/127.0.0.12/tcp/5'], 'peerA', 'address')).toBe('127.0.0.12')
    expect(subnetOf('::1', ['/ip6/::1/tcp/5'], 'peerA', 'address')).toBe('node:peerA')
    expect(subnetOf(undefined, [], 'peerB', 'address')).toBe('node:peerB')
  })
})

describe('placement with reputations', () => {
  const node = (peerId: string, subnet: string, over: Record<string, unknown> = {}) => ({
    peerId,
    free: 1000,
    subnet,
    ...over
  })

  it('never puts two pieces of a segment in one subnet, and says so when there are too few', () => {
    const nodes = [node('a', 's1'), node('b', 's1'), node('c', 's2'), node('d', 's3')]
    for (let r = 0; r < 8; r++) {
      const chosen = choosePlacement(nodes, 3, 10, r) as string[]
      expect(new Set(chosen.map((id) => nodes.find((n) => n.peerId === id)?.subnet)).size).toBe(3)
    }
    expect(choosePlacement(nodes, 4, 10, 0)).toBeUndefined()
    expect(choosePlacement(nodes, 2, 10, 0, [], { takenSubnets: ['s1', 's2'] })).toBeUndefined()
    expect(choosePlacement(nodes, 1, 10, 0, [], { takenSubnets: ['s1', 's2'] })).toEqual(['d'])
  })

  it('prefers better scores, and gives unvetted nodes few pieces while vetted ones have room', () => {
    const nodes = [
      node('bad', 'x1', { score: 0.5 }),
      node('new1', 'x2', { vetted: false }),
      node('new2', 'x3', { vetted: false }),
      node('good1', 'x4'),
      node('good2', 'x5'),
      node('good3', 'x6')
    ]
    const chosen = choosePlacement(nodes, 4, 10, 0, [], { newNodeFraction: 0.25 }) as string[]
    expect(chosen.filter((id) => id.startsWith('new'))).toHaveLength(1)
    expect(chosen).not.toContain('bad')
    // A new network: nothing is vetted, everything still places.
    const fresh = ['a', 'b', 'c'].map((id, i) => node(id, `y${i}`, { vetted: false }))
    expect(choosePlacement(fresh, 3, 10, 0, [], { newNodeFraction: 0.05 })).toHaveLength(3)
  })

  it('repairs at k + floor(m / 2) healthy pieces unless a margin is set (capped at m - 1)', () => {
    expect(repairThreshold(4, 4, undefined)).toBe(6)
    expect(repairThreshold(2, 1, undefined)).toBe(2)
    expect(repairThreshold(2, 2, 1)).toBe(3)
    expect(repairThreshold(2, 2, 9)).toBe(3)
    expect(() => resolveOps({ auditRate: 2 })).toThrow(/auditRate/)
    expect(() => resolveOps({ loopbackSubnets: 'all' as 'node' })).toThrow(/loopbackSubnets/)
  })
})
