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
