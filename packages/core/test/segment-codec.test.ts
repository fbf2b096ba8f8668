import { describe, expect, it } from 'vitest'
import {
  ErrorCode,
  generateContentKey,
  generateObjectNonce,
  loadErasureCodec,
  type ObjectLayout,
  pieceCid,
  randomBytes,
  SegmentCodec,
  ShoalError,
  segmentCount,
  segmentPlainLength,
  verifyPiece
} from '../src/index.ts'

const SEGMENT = 64 * 1024

async function roundTrip(size: number, k = 4, m = 2): Promise<void> {
  const layout: ObjectLayout = { size, segmentSize: SEGMENT, k, m }
  const data = randomBytes(size)
  const codec = await SegmentCodec.create(layout, await loadErasureCodec(), generateContentKey(), generateObjectNonce())
  const out = new Uint8Array(size)
  for (let s = 0; s < segmentCount(layout); s++) {
    const offset = s * SEGMENT
    const plain = data.subarray(offset, offset + segmentPlainLength(layout, s))
    const encoded = await codec.encode(s, plain)
    expect(encoded.pieces).toHaveLength(k + m)
    for (let i = 0; i < k + m; i++) await verifyPiece(encoded.cids[i]!, encoded.pieces[i]!)
    // Drop the first m pieces (all data pieces when m >= k would be too many): parity must carry the rebuild.
    const partial = encoded.pieces.map((p, i) => (i < m ? undefined : p))
    out.set(await codec.decode(s, partial), offset)
  }
  expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true)
}

describe('SegmentCodec round trips', () => {
  for (const size of [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17]) {
    it(`size ${size}`, () => roundTrip(size))
  }
  it('random sizes and codes', async () => {
    for (let i = 0; i < 8; i++) {
      const size = Math.floor(Math.random() * 4 * SEGMENT)
      const k = 2 + Math.floor(Math.random() * 10)
      const m = Math.floor(Math.random() * 6)
      await roundTrip(size, k, Math.min(m, k))
    }
  })
})

describe('any k of k+m pieces rebuild a segment', () => {
  it('every subset of 4 of 6 pieces', async () => {
    const layout: ObjectLayout = { size: 10_000, segmentSize: SEGMENT, k: 4, m: 2 }
    const data = randomBytes(layout.size)
    const codec = await SegmentCodec.create(
      layout,
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const { pieces } = await codec.encode(0, data)
    let subsets = 0
    for (let mask = 0; mask < 64; mask++) {
      const bits = [0, 1, 2, 3, 4, 5].filter((i) => (mask >> i) & 1)
      if (bits.length !== 4) continue
      subsets++
      const partial = pieces.map((p, i) => (bits.includes(i) ? p.slice() : undefined))
      expect(Buffer.from(await codec.decode(0, partial)).equals(Buffer.from(data))).toBe(true)
    }
    expect(subsets).toBe(15)
  })

  it('fewer than k pieces is ERR_NOT_ENOUGH_PIECES', async () => {
    const layout: ObjectLayout = { size: 1000, segmentSize: SEGMENT, k: 4, m: 2 }
    const codec = await SegmentCodec.create(
      layout,
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const { pieces } = await codec.encode(0, randomBytes(1000))
    const err = await codec
      .decode(0, [pieces[0], pieces[1], pieces[2], undefined, undefined, undefined])
      .catch((e) => e)
    expect(err).toBeInstanceOf(ShoalError)
    expect(err.code).toBe(ErrorCode.NOT_ENOUGH_PIECES)
  })
})

describe('tampering is a typed error, never wrong bytes', () => {
  it('a flipped bit in any piece fails its CID check', async () => {
    const layout: ObjectLayout = { size: 5000, segmentSize: SEGMENT, k: 4, m: 2 }
    const codec = await SegmentCodec.create(
      layout,
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const { pieces, cids } = await codec.encode(0, randomBytes(5000))
    for (let i = 0; i < pieces.length; i++) {
      const bad = pieces[i]!.slice()
      const bit = Math.floor(Math.random() * bad.byteLength * 8)
      bad[bit >> 3]! ^= 1 << (bit & 7)
      const err = await verifyPiece(cids[i]!, bad).catch((e) => e)
      expect(err?.code).toBe(ErrorCode.PIECE_CORRUPT)
    }
  })

  it('a flipped bit that slips past the CID check (bad piece, fresh CID) fails authentication', async () => {
    const layout: ObjectLayout = { size: 5000, segmentSize: SEGMENT, k: 4, m: 2 }
    const codec = await SegmentCodec.create(
      layout,
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const { pieces } = await codec.encode(0, randomBytes(5000))
    for (let trial = 0; trial < 20; trial++) {
      const i = Math.floor(Math.random() * 4)
      const bad = pieces.map((p) => p.slice())
      const bit = Math.floor(Math.random() * 1250 * 8)
      bad[i]![bit >> 3]! ^= 1 << (bit & 7)
      await pieceCid(bad[i]!)
      const err = await codec.decode(0, bad).catch((e) => e)
      // Padding bytes of the last data piece are outside the ciphertext: a flip there changes nothing.
      if (!(err instanceof Error)) continue
      expect(err).toMatchObject({ code: ErrorCode.DECRYPT_FAILED })
    }
  })

  it('segments cannot be swapped, reordered or truncated', async () => {
    const layout: ObjectLayout = { size: 3 * 1000, segmentSize: 1000, k: 2, m: 1 }
    const codec = await SegmentCodec.create(
      layout,
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const s0 = await codec.encode(0, randomBytes(1000))
    const s1 = await codec.encode(1, randomBytes(1000))
    // Segment 1 presented as segment 0: different nonce and AAD.
    expect(await codec.decode(0, s1.pieces).catch((e) => e.code)).toBe(ErrorCode.DECRYPT_FAILED)
    // The object cut short after segment 1: segment 1 was sealed as "not last".
    const short = await SegmentCodec.create(
      { ...layout, size: 2000 },
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    expect(await short.decode(1, s1.pieces).catch((e) => e.code)).toBe(ErrorCode.DECRYPT_FAILED)
    expect(s0.pieces).toHaveLength(3)
  })

  it('a wrong key is ERR_DECRYPT_FAILED', async () => {
    const layout: ObjectLayout = { size: 100, segmentSize: SEGMENT, k: 2, m: 1 }
    const nonce = generateObjectNonce()
    const a = await SegmentCodec.create(layout, await loadErasureCodec(), generateContentKey(), nonce)
    const b = await SegmentCodec.create(layout, await loadErasureCodec(), generateContentKey(), nonce)
    const { pieces } = await a.encode(0, randomBytes(100))
    expect(await b.decode(0, pieces).catch((e) => e.code)).toBe(ErrorCode.DECRYPT_FAILED)
  })
})

describe('WasmReedSolomon', () => {
  // The package's own wrapper double-frees the reconstruct flags buffer, which traps a few calls later.
  it('one instance survives hundreds of mixed encode and reconstruct calls', async () => {
    const codec = await loadErasureCodec()
    for (let t = 0; t < 300; t++) {
      const k = 2 + (t % 9)
      const m = 1 + (t % 4)
      const size = [5, 1000, 70_000][t % 3]!
      const shards = randomBytes(size * (k + m))
      codec.encode(shards, k, m)
      const expected = shards.slice()
      shards.fill(0, 0, size * Math.min(m, k))
      codec.reconstruct(
        shards,
        k,
        m,
        Array.from({ length: k + m }, (_, j) => j >= Math.min(m, k))
      )
      expect(Buffer.from(shards.subarray(0, size * k)).equals(Buffer.from(expected.subarray(0, size * k)))).toBe(true)
    }
  })
})
