import { describe, expect, it } from 'vitest'
import { createSegmentCipher as browserCipher } from '../src/crypto/segment-cipher.browser.ts'
import { createSegmentCipher as nodeCipher } from '../src/crypto/segment-cipher.node.ts'
import {
  ErrorCode,
  GCM_TAG_BYTES,
  generateContentKey,
  generateObjectNonce,
  importAesKey,
  loadErasureCodec,
  openSegment,
  randomBytes,
  recycledBytes,
  sealSegment
} from '../src/index.ts'

/** Splits bytes into parts at the given cut points (views, like pieces of one segment). */
function cut(bytes: Uint8Array, ...at: number[]): Uint8Array[] {
  const points = [0, ...at, bytes.byteLength]
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end))
}

describe('segment ciphers (node:crypto and WebCrypto) are interchangeable', () => {
  const key = generateContentKey()
  const nonce = generateObjectNonce()
  const implementations = { node: nodeCipher(key, nonce), browser: browserCipher(key, nonce) }

  for (const size of [0, 1, 1000, 256 * 1024, 256 * 1024 + 7, 3 * 1024 * 1024 + 5]) {
    it(`${size} bytes: every sealer's output opens with every opener, in any split, and matches aes-gcm.ts`, async () => {
      const plain = randomBytes(size)
      const sealedBy: Record<string, Uint8Array> = {}
      for (const [name, c] of Object.entries(implementations)) {
        const out = new Uint8Array(size + GCM_TAG_BYTES)
        await c.sealInto(4, size % 2 === 0, plain, out)
        sealedBy[name] = out
      }
      const reference = await sealSegment(await importAesKey(key), nonce, 4, size % 2 === 0, plain)
      expect(Buffer.from(sealedBy.node!).equals(Buffer.from(reference))).toBe(true)
      expect(Buffer.from(sealedBy.browser!).equals(Buffer.from(reference))).toBe(true)
      const total = reference.byteLength
      // Splits inside the body, exactly at the tag, and inside the tag.
      const splits = [[], [Math.floor(total / 3), Math.floor((2 * total) / 3)], [total - GCM_TAG_BYTES], [total - 5]]
      for (const c of Object.values(implementations)) {
        for (const split of splits) {
          const opened = await c.open(4, size % 2 === 0, cut(reference, ...split.filter((p) => p > 0 && p < total)))
          expect(Buffer.from(opened).equals(Buffer.from(plain))).toBe(true)
        }
      }
      const opened = await openSegment(await importAesKey(key), nonce, 4, size % 2 === 0, sealedBy.node!)
      expect(Buffer.from(opened).equals(Buffer.from(plain))).toBe(true)
    })
  }

  for (const [name, c] of Object.entries(implementations)) {
    it(`${name}: a flipped bit, a wrong index, a wrong last flag or a short input is ERR_DECRYPT_FAILED`, async () => {
      const plain = randomBytes(70_000)
      const sealed = new Uint8Array(plain.byteLength + GCM_TAG_BYTES)
      await c.sealInto(2, false, plain, sealed)
      const flipped = sealed.slice()
      flipped[12_345]! ^= 1
      for (const attempt of [
        () => c.open(2, false, [flipped]),
        () => c.open(3, false, [sealed]),
        () => c.open(2, true, [sealed]),
        () => c.open(2, false, [sealed.subarray(0, 10)])
      ]) {
        const err = await attempt().catch((e: unknown) => e)
        expect((err as { code?: string }).code).toBe(ErrorCode.DECRYPT_FAILED)
      }
      await expect(c.sealInto(2, false, plain, new Uint8Array(10))).rejects.toThrow(RangeError)
    })
  }
})

describe('the browser cipher reuses its gather buffer', () => {
  it('segments opened one after another and many at once each open to their own bytes', async () => {
    const key = generateContentKey()
    const nonce = generateObjectNonce()
    const c = browserCipher(key, nonce)
    const plains = Array.from({ length: 6 }, () => randomBytes(300_000))
    const sealed = await Promise.all(
      plains.map(async (plain, i) => {
        const out = new Uint8Array(plain.byteLength + GCM_TAG_BYTES)
        await c.sealInto(i, false, plain, out)
        return out
      })
    )
    const before = recycledBytes()
    // In turn: from the second on, the gather buffer is the one the previous open gave back.
    for (const [i, s] of sealed.entries()) {
      const opened = await c.open(i, false, cut(s, 1000, 200_000))
      expect(Buffer.from(opened).equals(Buffer.from(plains[i]!))).toBe(true)
    }
    expect(recycledBytes() - before).toBe(300_000 + GCM_TAG_BYTES)
    // All at once: a buffer given back while another open is in flight must not change what that one reads.
    const opened = await Promise.all(sealed.map((s, i) => c.open(i, false, cut(s, 7))))
    for (const [i, o] of opened.entries()) expect(Buffer.from(o).equals(Buffer.from(plains[i]!))).toBe(true)
  })
})

describe('ErasureCodec.withDataShards', () => {
  it('hands over the data shards, rebuilt where missing, identical to reconstruct()', async () => {
    const rs = await loadErasureCodec()
    const k = 4
    const m = 3
    const size = 4096
    const shards = randomBytes(size * (k + m))
    rs.encode(shards, k, m)
    const pieces = Array.from({ length: k + m }, (_, i) => shards.slice(i * size, (i + 1) * size))
    for (const missing of [[], [0], [1, 3], [0, 2, 3], [4, 5, 6]]) {
      const given = pieces.map((p, i) => (missing.includes(i) ? undefined : p))
      const joined = rs.withDataShards(given, k, m, (data) => Buffer.concat(data.map((d) => Buffer.from(d))))
      expect(joined.equals(Buffer.from(shards.subarray(0, k * size)))).toBe(true)
    }
  })

  it('fewer than k pieces is ERR_NOT_ENOUGH_PIECES; the caller’s own error surfaces unchanged', async () => {
    const rs = await loadErasureCodec()
    const size = 1024
    const shards = randomBytes(size * 5)
    rs.encode(shards, 3, 2)
    const pieces = Array.from({ length: 5 }, (_, i) => shards.slice(i * size, (i + 1) * size))
    const two = pieces.map((p, i) => (i < 2 ? p : undefined))
    expect(() => rs.withDataShards(two, 3, 2, () => 1)).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_ENOUGH_PIECES' })
    )
    const mine = new Error('mine')
    const withParity = pieces.map((p, i) => (i === 0 ? undefined : p))
    expect(() =>
      rs.withDataShards(withParity, 3, 2, () => {
        throw mine
      })
    ).toThrow(mine)
    // The codec is still usable afterwards.
    expect(rs.withDataShards(withParity, 3, 2, (d) => d.length)).toBe(3)
  })
})
