import {
  ErrorCode,
  generateContentKey,
  generateObjectNonce,
  isShoalError,
  type ObjectLayout,
  randomBytes
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { LocalCodecEngine } from '../src/codec/local-engine.ts'
import type { CodecEngine } from '../src/codec/segment-worker.ts'
import { WorkerCodecEngine } from '../src/codec/worker-engine.ts'

const layout: ObjectLayout = { size: 200_000, segmentSize: 100_000, k: 3, m: 2 }

describe.each([
  ['on the calling thread', () => new LocalCodecEngine()],
  ['on a worker thread', () => new WorkerCodecEngine({ workers: 1 })]
] as [string, () => CodecEngine][])('a segment with a corrupt piece, decoded %s', (_where, make) => {
  it('fails naming the bad piece, keeps the good ones, and decodes once a replacement is added', async () => {
    const engine = make()
    try {
      const codec = await engine.open(layout, generateContentKey(), generateObjectNonce())
      const data = randomBytes(100_000)
      // The worker engine takes the plaintext's buffer: it gets a copy.
      const encoded = await codec.encode(0, data.slice())
      const copies = encoded.pieces.map((p) => p.slice())
      const bad = copies[1]!.slice()
      bad[bad.length >> 1]! ^= 0x01
      for (const i of [0, 2]) await codec.addPiece(0, i, encoded.cids[i]!, copies[i]!.slice())
      await codec.addPiece(0, 1, encoded.cids[1]!, bad)
      const failure = await codec.decode(0).catch((err: unknown) => err)
      expect(isShoalError(failure, ErrorCode.PIECE_CORRUPT)).toBe(true)
      expect((failure as { details?: { pieces?: number[] } }).details?.pieces).toEqual([1])
      // A parity piece from another holder replaces it; the kept pieces 0 and 2 are used again.
      await codec.addPiece(0, 3, encoded.cids[3]!, copies[3]!.slice())
      const plain = await codec.decode(0)
      expect(Buffer.from(plain).equals(Buffer.from(data))).toBe(true)
    } finally {
      await engine.stop()
    }
  })

  it('decodes a segment from halves of different pieces; a bad half fails it, and whole pieces then decode it', async () => {
    const engine = make()
    try {
      const halves: ObjectLayout = { size: 200_000, segmentSize: 100_000, k: 2, m: 2 }
      const codec = await engine.open(halves, generateContentKey(), generateObjectNonce())
      const data = randomBytes(100_000)
      const encoded = await codec.encode(1, data.slice())
      const copies = encoded.pieces.map((p) => p.slice())
      const half = Math.ceil(encoded.pieceSize / 2)
      const addHalves = async (bad: number) => {
        // First halves of pieces 0 and 1 (data), second halves of 2 and 3 (parity); one byte of `bad` flipped.
        for (const i of [0, 1, 2, 3]) {
          const part = i < 2 ? copies[i]!.slice(0, half) : copies[i]!.slice(half)
          if (i === bad) part[7]! ^= 0x01
          await codec.addPiece(1, i, encoded.cids[i]!, part, i < 2 ? 0 : half)
        }
      }
      await addHalves(3)
      const failure = await codec.decode(1).catch((err: unknown) => err)
      expect(isShoalError(failure, ErrorCode.DECRYPT_FAILED)).toBe(true)
      // The halves are gone and late ones are not taken (piece 0's, a data piece, would be read first): two whole
      // pieces decode the segment.
      await addHalves(0)
      for (const i of [1, 2]) await codec.addPiece(1, i, encoded.cids[i]!, copies[i]!.slice())
      expect(Buffer.from(await codec.decode(1)).equals(Buffer.from(data))).toBe(true)

      // A fresh segment decodes from good halves alone.
      const again = await codec.encode(0, data.slice())
      for (const [i, piece] of again.pieces.entries()) {
        await codec.addPiece(0, i, again.cids[i]!, i < 2 ? piece.slice(0, half) : piece.slice(half), i < 2 ? 0 : half)
      }
      expect(Buffer.from(await codec.decode(0)).equals(Buffer.from(data))).toBe(true)
    } finally {
      await engine.stop()
    }
  })

  it('an object whose bytes are wrong under every CID fails with the decryption error, not a corrupt piece', async () => {
    const engine = make()
    try {
      // Pieces that hash to their CIDs but were sealed under another key: no piece is to blame.
      const writer = await engine.open(layout, generateContentKey(), generateObjectNonce())
      const reader = await engine.open(layout, generateContentKey(), generateObjectNonce())
      const encoded = await writer.encode(0, randomBytes(100_000))
      for (const i of [0, 1, 2]) await reader.addPiece(0, i, encoded.cids[i]!, encoded.pieces[i]!.slice())
      const failure = await reader.decode(0).catch((err: unknown) => err)
      expect(isShoalError(failure, ErrorCode.DECRYPT_FAILED)).toBe(true)
    } finally {
      await engine.stop()
    }
  })
})
