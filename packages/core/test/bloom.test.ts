import { describe, expect, it } from 'vitest'
import { BloomFilter, ErrorCode, isShoalError } from '../src/index.ts'

const items = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

describe('BloomFilter', () => {
  it('finds every item added, and few others (near the rate it was sized for)', () => {
    const added = items('kept', 20_000)
    const filter = BloomFilter.forCount(added.length, 0.01)
    for (const item of added) filter.add(item)
    expect(added.every((item) => filter.has(item))).toBe(true)
    const others = items('other', 20_000)
    const falsePositives = others.filter((item) => filter.has(item)).length / others.length
    expect(falsePositives).toBeLessThan(0.02)
    // About 1.2 bytes per item at 1%, against ~60 for a CID in a JSON list.
    expect(filter.bits.byteLength / added.length).toBeLessThan(1.3)
  })

  it('survives JSON, and two filters of the same items (new seeds) miss different others', () => {
    const added = items('kept', 2_000)
    const a = BloomFilter.forCount(added.length, 0.05)
    const b = BloomFilter.forCount(added.length, 0.05)
    for (const item of added) {
      a.add(item)
      b.add(item)
    }
    const copy = BloomFilter.fromJSON(JSON.parse(JSON.stringify(a)))
    expect(added.every((item) => copy.has(item))).toBe(true)
    const others = items('other', 5_000)
    const inA = others.filter((item) => copy.has(item))
    expect(inA).toEqual(others.filter((item) => a.has(item)))
    // A garbage piece kept by one filter's false positive is dropped by a later one.
    expect(inA.filter((item) => b.has(item)).length).toBeLessThan(inA.length / 4)
  })

  it('an empty filter holds nothing', () => {
    const filter = BloomFilter.forCount(0)
    expect(items('x', 1_000).some((item) => filter.has(item))).toBe(false)
  })

  it('refuses malformed filters with ERR_INVALID_INPUT', () => {
    const good = BloomFilter.forCount(10).toJSON()
    for (const bad of [
      null,
      'filter',
      { ...good, v: 2 },
      { ...good, hashes: 0 },
      { ...good, hashes: 99 },
      { ...good, hashes: '3' },
      { ...good, bits: '' },
      { ...good, bits: 'not base64!' },
      { ...good, seed: undefined }
    ]) {
      let caught: unknown
      try {
        BloomFilter.fromJSON(bad)
      } catch (err) {
        caught = err
      }
      expect(isShoalError(caught, ErrorCode.INVALID_INPUT), JSON.stringify(bad)).toBe(true)
    }
  })
})
