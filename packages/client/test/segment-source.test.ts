import { ErrorCode, type ObjectLayout, randomBytes } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { forEachBounded, segmentSource } from '../src/index.ts'

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
}

async function collect(layout: ObjectLayout, source: AsyncIterable<Uint8Array>) {
  const out: { index: number; plaintext: Uint8Array }[] = []
  for await (const s of segmentSource(source, layout)) out.push({ index: s.index, plaintext: s.plaintext.slice() })
  return out
}

describe('segmentSource', () => {
  for (const size of [0, 1, 99, 100, 101, 1000, 1234]) {
    for (const chunk of [1, 7, 100, 4096]) {
      it(`regroups ${size} bytes read ${chunk} at a time into 100-byte segments`, async () => {
        const layout = { size, segmentSize: 100, k: 2, m: 1 }
        const data = randomBytes(size)
        const segments = await collect(layout, chunked(data, chunk))
        expect(segments.map((s) => s.index)).toEqual(segments.map((_, i) => i))
        expect(segments.length).toBe(Math.max(1, Math.ceil(size / 100)))
        const joined = Buffer.concat(segments.map((s) => s.plaintext))
        expect(joined.equals(Buffer.from(data))).toBe(true)
      })
    }
  }

  it('a source longer or shorter than announced is ERR_INVALID_INPUT', async () => {
    const layout = { size: 250, segmentSize: 100, k: 2, m: 1 }
    expect((await collect(layout, chunked(randomBytes(251), 50)).catch((e) => e)).code).toBe(ErrorCode.INVALID_INPUT)
    expect((await collect(layout, chunked(randomBytes(249), 50)).catch((e) => e)).code).toBe(ErrorCode.INVALID_INPUT)
    expect((await collect(layout, chunked(randomBytes(300), 300)).catch((e) => e)).code).toBe(ErrorCode.INVALID_INPUT)
  })
})

describe('forEachBounded', () => {
  it('never runs more than the limit at once and pulls lazily', async () => {
    let running = 0
    let peak = 0
    let pulled = 0
    async function* items() {
      for (let i = 0; i < 20; i++) {
        pulled++
        yield i
      }
    }
    const seen: number[] = []
    await forEachBounded(items(), 3, async (i) => {
      running++
      peak = Math.max(peak, running)
      expect(pulled - seen.length).toBeLessThanOrEqual(3)
      await new Promise((r) => setTimeout(r, 1))
      seen.push(i)
      running--
    })
    expect(peak).toBe(3)
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(20).keys()])
  })

  it('stops taking items after a failure and rethrows it', async () => {
    let pulled = 0
    async function* items() {
      for (let i = 0; i < 100; i++) {
        pulled++
        yield i
      }
    }
    const err = await forEachBounded(items(), 2, async (i) => {
      if (i === 3) throw new Error('boom')
    }).catch((e) => e)
    expect(err.message).toBe('boom')
    expect(pulled).toBeLessThan(10)
  })
})
