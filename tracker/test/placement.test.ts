import { describe, expect, it } from 'vitest'
import { parseDuration } from '../src/config.ts'
import {
  byRank,
  choosePlacement,
  type PlacementCandidate,
  pickPlacement,
  rankCandidates,
  scoreBucket
} from '../src/placement.ts'

describe('choosePlacement', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'].map((peerId, i) => ({ peerId, free: 1000 - i }))

  it('prefers free space and rotates the start with the segment index', () => {
    expect(choosePlacement(nodes, 3, 10, 0)).toEqual(['a', 'b', 'c'])
    expect(choosePlacement(nodes, 3, 10, 1)).toEqual(['b', 'c', 'd'])
    expect(choosePlacement(nodes, 3, 10, 4)).toEqual(['e', 'a', 'b'])
    expect(choosePlacement(nodes, 3, 10, 5)).toEqual(['a', 'b', 'c'])
  })

  it('skips nodes without room and gives up when too few remain', () => {
    expect(choosePlacement(nodes, 3, 998, 0)).toEqual(['a', 'b', 'c'])
    expect(choosePlacement(nodes, 3, 999, 0)).toBeUndefined()
    expect(choosePlacement([], 1, 0, 0)).toBeUndefined()
  })

  it('keeps pieces of an earlier placement where they were when those nodes are still candidates', () => {
    expect(choosePlacement(nodes, 3, 10, 0, ['c', 'x', 'a'])).toEqual(['c', 'b', 'a'])
    expect(choosePlacement(nodes, 3, 10, 1, [undefined, 'e', undefined])).toEqual(['b', 'e', 'c'])
    // A node named twice keeps only the first piece.
    expect(choosePlacement(nodes, 3, 10, 0, ['d', 'd', 'd'])).toEqual(['d', 'a', 'b'])
    const excluded = nodes.filter((n) => n.peerId !== 'a')
    expect(choosePlacement(excluded, 3, 10, 0, ['a', 'b', 'c'])).toEqual(['d', 'b', 'c'])
  })

  it('never picks a node twice', () => {
    for (let r = 0; r < 10; r++) {
      expect(new Set(choosePlacement(nodes, 5, 1, r)).size).toBe(5)
      expect(new Set(choosePlacement(nodes, 5, 1, r, ['b', 'b', undefined, 'e', 'a'])).size).toBe(5)
    }
  })
})

describe('pickPlacement', () => {
  /** mulberry32: seeded, so a failure can be run again. */
  function random(seed: number): () => number {
    let a = seed
    return () => {
      a = (a + 0x6d2b79f5) | 0
      let t = Math.imul(a ^ (a >>> 15), 1 | a)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
    }
  }

  it('over candidates kept ranked between calls, picks what choosePlacement picks from scratch', () => {
    const rand = random(12)
    const candidates = Array.from({ length: 40 }, (_, i) => ({
      peerId: `n${String(i).padStart(2, '0')}`,
      free: Math.floor(rand() * 5) * 100,
      subnet: `s${Math.floor(rand() * 25)}`,
      vetted: rand() < 0.7,
      score: rand() < 0.2 ? 0.5 + rand() / 2 : 1,
      bucket: 0
    }))
    for (const c of candidates) c.bucket = scoreBucket(c.score)
    // One array, re-sorted in place as free space changes: what the node registry does.
    const ranked = [...candidates]
    for (let round = 0; round < 300; round++) {
      for (const c of candidates) if (rand() < 0.1) c.free = Math.max(0, c.free + Math.floor(rand() * 300) - 150)
      ranked.sort(byRank)
      const count = 1 + Math.floor(rand() * 6)
      const pieceSize = Math.floor(rand() * 300)
      const rotation = Math.floor(rand() * 100)
      const previous = Array.from({ length: count }, () =>
        rand() < 0.3 ? (candidates[Math.floor(rand() * 40)] as PlacementCandidate).peerId : undefined
      )
      const exclude = new Set(candidates.filter(() => rand() < 0.1).map((c) => c.peerId))
      const options = { newNodeFraction: rand() < 0.5 ? 0.34 : 1 }
      const fresh = candidates.filter((c) => !exclude.has(c.peerId)).map(({ bucket: _, ...c }) => ({ ...c }))
      expect(pickPlacement(ranked, count, pieceSize, rotation, previous, { ...options, exclude })).toEqual(
        choosePlacement(fresh, count, pieceSize, rotation, previous, options)
      )
    }
  })

  it('ranks by score bucket, then free space, then peer id', () => {
    const ranked = rankCandidates([
      { peerId: 'b', free: 10 },
      { peerId: 'a', free: 10 },
      { peerId: 'c', free: 50, score: 0.9 },
      { peerId: 'd', free: 5, score: 0.96 },
      { peerId: 'e', free: 1, score: 0.999 }
    ])
    // 0.96 and 0.999 share a bucket (scores within 0.05 count as equal): free space puts d before e.
    expect(ranked.map((c) => c.peerId)).toEqual(['a', 'b', 'd', 'e', 'c'])
  })
})

describe('parseDuration', () => {
  it('reads units', () => {
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('10s')).toBe(10_000)
    expect(parseDuration('1.5m')).toBe(90_000)
    expect(parseDuration('24h')).toBe(86_400_000)
    expect(parseDuration('250')).toBe(250)
    for (const bad of ['', 'ten', '-1s', '0s', '5 weeks']) expect(() => parseDuration(bad)).toThrow(TypeError)
  })
})
