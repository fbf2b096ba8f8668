import { describe, expect, it } from 'vitest'
import { parseDuration } from '../src/config.ts'
import { choosePlacement } from '../src/placement.ts'

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
