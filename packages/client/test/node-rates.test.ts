import { describe, expect, it } from 'vitest'
import { NodeRates } from '../src/node-rates.ts'
import { NodeScoreboard } from '../src/node-scoreboard.ts'

const DAY_MS = 24 * 60 * 60_000

describe('NodeRates', () => {
  it('keeps the last rate per node, trusts it for a day, and survives a save and load', () => {
    let now = 1_000_000
    const rates = new NodeRates(() => now)
    expect(rates.changed).toBe(false)
    rates.record('a', 10)
    rates.record('b', 40)
    rates.record('a', 12)
    expect(rates.changed).toBe(true)
    expect(rates.rate('a')).toBe(12)
    expect(rates.best()).toBe(40)

    const loaded = NodeRates.fromJSON(JSON.parse(JSON.stringify(rates)), () => now)
    expect(loaded.changed).toBe(false)
    expect(loaded.rate('a')).toBe(12)
    expect(loaded.rate('b')).toBe(40)

    now += DAY_MS + 1
    expect(loaded.rate('a')).toBeUndefined()
    expect(loaded.best()).toBe(0)
  })

  it('ignores rates that are not positive numbers', () => {
    const rates = new NodeRates()
    rates.record('a', 0)
    rates.record('b', Number.NaN)
    rates.record('c', -3)
    rates.record('d', Number.POSITIVE_INFINITY)
    expect(rates.changed).toBe(false)
    expect(rates.toJSON().rates).toEqual([])
  })

  it('loads what it can from a malformed file and never throws', () => {
    for (const bad of [null, 42, 'x', {}, { v: 2, rates: [] }, { v: 1, rates: 'no' }]) {
      expect(NodeRates.fromJSON(bad).toJSON().rates).toEqual([])
    }
    const now = Date.now()
    const mixed = NodeRates.fromJSON({
      v: 1,
      rates: [['good', 5, now], ['bad-rate', -1, now], [7, 5, now], 'junk', ['no-time', 5], ['inf', Infinity, now]]
    })
    expect(mixed.toJSON().rates).toEqual([['good', 5, now]])
  })

  it('forgets the least recently measured nodes beyond 4096', () => {
    const rates = new NodeRates()
    for (let i = 0; i < 4100; i++) rates.record(`n${i}`, 1)
    rates.record('n10', 2)
    expect(rates.toJSON().rates).toHaveLength(4096)
    expect(rates.rate('n0')).toBeUndefined()
    expect(rates.rate('n4')).toBe(1)
    expect(rates.rate('n10')).toBe(2)
  })
})

describe('NodeScoreboard with rates from earlier downloads', () => {
  it('starts from them, so the first request goes to the node known to be fast', () => {
    const priors = new NodeRates()
    priors.record('slow', 3)
    priors.record('fast', 40)
    const board = new NodeScoreboard(() => 0, undefined, priors)
    expect(board.cost('fast', 2000)).toBe(50)
    expect(board.cost('slow', 2000)).toBeCloseTo(666.7, 1)
    // A node never measured is assumed as fast as the best known one, so it still gets tried.
    expect(board.cost('new', 2000)).toBe(50)
  })

  it("this download's measurement wins over the earlier one, and is kept for the next", () => {
    let now = 0
    const priors = new NodeRates()
    priors.record('a', 40)
    const board = new NodeScoreboard(() => now, undefined, priors)
    board.started('a', 1000)
    for (let t = 10; t <= 100; t += 10) {
      now = t
      board.received('a', 100)
    }
    board.succeeded('a', 100)
    // ~10 bytes/ms measured here (the first chunk's bytes count from its own arrival), not the 40 known before.
    expect(board.rate('a')).toBeLessThan(13)
    expect(board.cost('a', 1000)).toBeGreaterThan(75)
    expect(priors.rate('a')).toBe(board.rate('a'))
  })
})
