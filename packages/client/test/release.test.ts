import { generateContentKey, generateObjectNonce, type ObjectLayout, randomBytes } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { LocalCodecEngine } from '../src/codec/local-engine.ts'
import { release } from '../src/codec/release.ts'

describe('release', () => {
  it('frees a buffer it owns whole at once, and leaves views of larger buffers alone', () => {
    const owned = new Uint8Array(1 << 20).fill(7)
    const big = new Uint8Array(1 << 20).fill(9)
    const view = big.subarray(10, 100)
    release(owned)
    release(view)
    release(undefined)
    expect(owned.byteLength).toBe(0)
    expect(view.byteLength).toBe(90)
    expect(view[0]).toBe(9)
    release(owned) // twice is harmless
  })

  it('the codec frees pieces after decoding them and after a discard, and the plaintext is intact', async () => {
    const layout: ObjectLayout = { size: 300_000, segmentSize: 100_000, k: 3, m: 2 }
    const engine = new LocalCodecEngine()
    const key = generateContentKey()
    const nonce = generateObjectNonce()
    const codec = await engine.open(layout, key, nonce)
    const data = randomBytes(300_000)
    const given: Uint8Array[][] = []
    for (let s = 0; s < 3; s++) {
      const encoded = await codec.encode(s, data.slice(s * 100_000, (s + 1) * 100_000))
      // Pieces 1..3: one data piece missing, so Reed-Solomon rebuilds it.
      const pieces = encoded.pieces.slice(1, 4).map((p) => p.slice())
      given.push(pieces)
      for (const [i, p] of pieces.entries()) await codec.addPiece(s, i + 1, encoded.cids[i + 1]!, p)
    }
    const first = await codec.decode(0)
    expect(Buffer.from(first).equals(Buffer.from(data.subarray(0, 100_000)))).toBe(true)
    expect(given[0]!.every((p) => p.byteLength === 0)).toBe(true)
    codec.discard(1)
    expect(given[1]!.every((p) => p.byteLength === 0)).toBe(true)
    const third = await codec.decode(2)
    expect(Buffer.from(third).equals(Buffer.from(data.subarray(200_000)))).toBe(true)
    await engine.stop()
  })
})
