import { describe, expect, it } from 'vitest'
import { ErrorCode, loadBackend, loadErasureCodec, randomBytes, ShoalError, simdAvailable } from '../src/index.ts'

// Layouts a tracker picks (erasure-policy.ts) and the edges: k = 2, wide codes, and m >= k.
const LAYOUTS: [number, number][] = [
  [2, 1],
  [2, 2],
  [3, 2],
  [4, 2],
  [4, 4],
  [6, 3],
  [8, 4],
  [10, 6],
  [3, 9],
  [20, 10]
]
// Shard sizes around the kernel's 32-byte step, and pieces of real segments.
const SIZES = [1, 7, 31, 32, 33, 1000, 65536, 100_003]

function shardsOf(k: number, m: number, size: number): Uint8Array {
  const shards = new Uint8Array(size * (k + m))
  shards.set(randomBytes(size * k))
  return shards
}

function dropped(k: number, m: number, count: number, seed: number): number[] {
  const order = Array.from({ length: k + m }, (_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const j = (seed * 7919 + i * 104729) % (i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order.slice(0, count)
}

describe('the SIMD Reed-Solomon codec', () => {
  it('runs here (Node has WebAssembly SIMD), and is what loadErasureCodec gives', async () => {
    expect(simdAvailable()).toBe(true)
    expect((await loadErasureCodec()).name).toBe('reed-solomon-simd')
  })

  it("writes reed-solomon-erasure's parity byte for byte", async () => {
    const crate = await loadBackend('crate')
    const simd = await loadBackend('simd')
    for (const [k, m] of LAYOUTS) {
      for (const size of SIZES) {
        const expected = shardsOf(k, m, size)
        const actual = expected.slice()
        crate.encode(expected, k, m)
        simd.encode(actual, k, m)
        expect(Buffer.from(actual).equals(Buffer.from(expected)), `${k}+${m}, ${size}-byte shards`).toBe(true)
      }
    }
  })

  it('rebuilds the data from any k shards, including pieces the crate encoded', async () => {
    const crate = await loadBackend('crate')
    const simd = await loadBackend('simd')
    for (const [k, m] of LAYOUTS) {
      for (const size of [33, 65536]) {
        const shards = shardsOf(k, m, size)
        crate.encode(shards, k, m)
        for (let seed = 0; seed < 4; seed++) {
          const lost = dropped(k, m, m, seed)
          const pieces = Array.from({ length: k + m }, (_, i) =>
            lost.includes(i) ? undefined : shards.slice(i * size, (i + 1) * size)
          )
          const data = simd.withDataShards(pieces, k, m, (views) => views.map((v) => Buffer.from(v)))
          expect(
            Buffer.concat(data).equals(Buffer.from(shards.subarray(0, k * size))),
            `${k}+${m} without ${lost}`
          ).toBe(true)
        }
      }
    }
  })

  it('reconstructs in place, leaving present shards as they were', async () => {
    const simd = await loadBackend('simd')
    const [k, m, size] = [4, 4, 4099]
    const shards = shardsOf(k, m, size)
    simd.encode(shards, k, m)
    const original = shards.slice()
    const present = [false, true, false, true, true, false, true, true]
    present.forEach((p, i) => {
      if (!p) shards.fill(0xaa, i * size, (i + 1) * size)
    })
    simd.reconstruct(shards, k, m, present)
    expect(Buffer.from(shards.subarray(0, k * size)).equals(Buffer.from(original.subarray(0, k * size)))).toBe(true)
  })

  it('grows its memory for larger shards and keeps working at smaller ones after', async () => {
    const simd = await loadBackend('simd')
    for (const size of [1000, 4 * 1024 * 1024 + 5, 64]) {
      const shards = shardsOf(4, 2, size)
      simd.encode(shards, 4, 2)
      const pieces = Array.from({ length: 6 }, (_, i) =>
        i < 2 ? undefined : shards.subarray(i * size, (i + 1) * size)
      )
      const rebuilt = simd.withDataShards(pieces, 4, 2, (views) => Buffer.concat(views.map((v) => Buffer.from(v))))
      expect(rebuilt.equals(Buffer.from(shards.subarray(0, 4 * size))), `${size}-byte shards`).toBe(true)
    }
  })

  it('refuses too few pieces, mixed sizes and bad layouts with clear errors', async () => {
    const simd = await loadBackend('simd')
    const piece = new Uint8Array(64)
    const tooFew = [undefined, undefined, undefined, piece, piece, piece]
    expect(() => simd.withDataShards(tooFew, 4, 2, () => 0)).toThrow(ShoalError)
    try {
      simd.withDataShards(tooFew, 4, 2, () => 0)
    } catch (err) {
      expect((err as ShoalError).code).toBe(ErrorCode.NOT_ENOUGH_PIECES)
    }
    expect(() =>
      simd.withDataShards([undefined, piece, piece, new Uint8Array(65), piece, piece], 4, 2, () => 0)
    ).toThrow(/differ in size/)
    expect(() => simd.encode(new Uint8Array(10), 4, 2)).toThrow(/equal non-empty shards/)
    expect(() => simd.encode(new Uint8Array(12), 1, 2)).toThrow(/invalid erasure parameters/)
  })
})
