import type { PiecePlacement } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { type PieceNodeState, segmentHealth } from '../src/ops/repairer.ts'

const MINUTE = 60_000
const NOW = 1_000 * MINUTE
const GRACE = 10 * MINUTE

/** Pieces 0..n-1 of one segment, piece i on node `n<i>`. */
const pieces = (n: number): PiecePlacement[] =>
  Array.from({ length: n }, (_, i) => ({ index: i, cid: `cid${i}`, node: `n${i}` }))

function states(over: Record<string, Partial<PieceNodeState>>): (peerId: string) => PieceNodeState | undefined {
  return (peerId) => ({ online: true, lastSeen: NOW, disqualified: false, exiting: false, ...over[peerId] })
}

const layout = { k: 2, m: 2 }
const none = () => false
const indexes = (list: readonly PiecePlacement[]) => list.map((p) => p.index).sort()

describe('segment health and the offline grace', () => {
  it('counts a piece on a node offline for less than the grace, and not one offline for longer', () => {
    const brief = segmentHealth(
      layout,
      pieces(4),
      states({ n1: { online: false, lastSeen: NOW - 2 * MINUTE } }),
      none,
      GRACE,
      NOW
    )
    expect(indexes(brief.healthy)).toEqual([0, 1, 2, 3])
    expect(brief.replace).toEqual([])
    // It cannot be fetched while offline: never a repair source.
    expect(indexes(brief.sources)).toEqual([0, 2, 3])

    const long = segmentHealth(
      layout,
      pieces(4),
      states({ n1: { online: false, lastSeen: NOW - GRACE } }),
      none,
      GRACE,
      NOW
    )
    expect(indexes(long.healthy)).toEqual([0, 2, 3])
    expect(long.replace).toEqual([1])
  })

  it('ends the grace at once when the segment is down to k pieces on online nodes', () => {
    const offline = { online: false, lastSeen: NOW - MINUTE }
    const h = segmentHealth(layout, pieces(4), states({ n2: offline, n3: offline }), none, GRACE, NOW)
    expect(indexes(h.healthy)).toEqual([0, 1])
    expect(h.replace).toEqual([2, 3])
  })

  it('grants no grace to disqualified, leaving or suspect pieces, nor with a grace of 0', () => {
    const offline = { online: false, lastSeen: NOW - MINUTE }
    const dq = segmentHealth(layout, pieces(4), states({ n0: { disqualified: true } }), none, GRACE, NOW)
    expect(dq.replace).toEqual([0])
    const leaving = segmentHealth(layout, pieces(4), states({ n1: { ...offline, exiting: true } }), none, GRACE, NOW)
    expect(leaving.replace).toEqual([1])
    const suspect = segmentHealth(layout, pieces(4), states({}), (p) => p.index === 3, GRACE, NOW)
    expect(suspect.replace).toEqual([3])
    const noGrace = segmentHealth(layout, pieces(4), states({ n1: offline }), none, 0, NOW)
    expect(noGrace.replace).toEqual([1])
  })

  it('an online node that is leaving still serves as a source but is replaced', () => {
    const h = segmentHealth(layout, pieces(4), states({ n2: { exiting: true } }), none, GRACE, NOW)
    expect(indexes(h.sources)).toEqual([0, 1, 2, 3])
    expect(h.replace).toEqual([2])
  })

  it('an unknown node holds nothing healthy, and a missing index is replaced', () => {
    const known = states({})
    const h = segmentHealth(layout, pieces(3), (id) => (id === 'n0' ? undefined : known(id)), none, GRACE, NOW)
    expect(h.replace).toEqual([0, 3])
  })
})
