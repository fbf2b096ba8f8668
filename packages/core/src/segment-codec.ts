import { allocUninitialized } from '#alloc'
import { createSegmentCipher } from '#segment-cipher'
import { type CID, pieceCid } from './cid.ts'
import { type SegmentCipher, takeBytes } from './crypto/segment-cipher.ts'
import type { ErasureCodec } from './erasure/codec.ts'
import { ErrorCode, ShoalError } from './errors.ts'
import {
  type ObjectLayout,
  pieceSize,
  sealedLength,
  segmentCount,
  segmentPlainLength,
  validateLayout
} from './layout.ts'

export interface EncodedSegment {
  index: number
  /** k + m pieces, data first; views into one buffer. */
  pieces: Uint8Array[]
  cids: CID[]
  pieceSize: number
}

/**
 * Seals and erasure-codes the segments of one object, and reverses it. Pure computation: it holds the object's
 * content key and nothing else, so it can run on a worker thread or in a browser.
 */
export class SegmentCodec {
  readonly layout: ObjectLayout
  readonly #codec: ErasureCodec
  readonly #cipher: SegmentCipher
  readonly #count: number

  private constructor(layout: ObjectLayout, codec: ErasureCodec, cipher: SegmentCipher) {
    this.layout = layout
    this.#codec = codec
    this.#cipher = cipher
    this.#count = segmentCount(layout)
  }

  static async create(
    layout: ObjectLayout,
    codec: ErasureCodec,
    contentKey: Uint8Array,
    objectNonce: Uint8Array
  ): Promise<SegmentCodec> {
    return new SegmentCodec(validateLayout(layout), codec, createSegmentCipher(contentKey, objectNonce))
  }

  get segmentCount(): number {
    return this.#count
  }

  async encode(index: number, plaintext: Uint8Array): Promise<EncodedSegment> {
    const expected = segmentPlainLength(this.layout, index)
    if (plaintext.byteLength !== expected) {
      throw new TypeError(`segment ${index} must be ${expected} bytes, got ${plaintext.byteLength}`)
    }
    const { k, m } = this.layout
    const size = pieceSize(this.layout, index)
    const sealed = sealedLength(expected)
    // Every byte is written: the sealed segment, zero padding up to k pieces, then parity.
    const shards = allocUninitialized(size * (k + m))
    shards.fill(0, sealed, size * k)
    await this.#cipher.sealInto(index, index === this.#count - 1, plaintext, shards.subarray(0, sealed))
    this.#codec.encode(shards, k, m)
    const pieces: Uint8Array[] = []
    for (let i = 0; i < k + m; i++) pieces.push(shards.subarray(i * size, (i + 1) * size))
    // No Merkle roots here: each node computes its piece's root from the bytes it stores and signs it in its
    // receipt, and that root is the one audits use (docs/security.md). A client's own was a second SHA-256 pass
    // over every piece, ~7% of an upload's client CPU, to claim what the node states anyway.
    const cids = await Promise.all(pieces.map((p) => pieceCid(p)))
    return { index, pieces, cids, pieceSize: size }
  }

  /**
   * Rebuilds and opens a segment from any k verified pieces (`undefined` for the missing ones). The caller has
   * already checked each piece against its CID; AES-GCM then catches anything the erasure step could not.
   */
  async decode(index: number, pieces: readonly (Uint8Array | undefined)[]): Promise<Uint8Array> {
    const { k, m } = this.layout
    if (pieces.length !== k + m) throw new TypeError(`segment ${index} needs ${k + m} piece slots`)
    const size = pieceSize(this.layout, index)
    const present = pieces.map((p) => p !== undefined)
    const have = present.filter(Boolean).length
    if (have < k) {
      throw new ShoalError(ErrorCode.NOT_ENOUGH_PIECES, `segment ${index}: ${have} of the ${k} pieces needed`, {
        details: { segment: index, have, need: k }
      })
    }
    pieces.forEach((piece, i) => {
      if (piece !== undefined && piece.byteLength !== size) {
        throw new ShoalError(
          ErrorCode.PIECE_CORRUPT,
          `segment ${index} piece ${i} has ${piece.byteLength} bytes, not ${size}`
        )
      }
    })
    const sealed = sealedLength(segmentPlainLength(this.layout, index))
    // The cipher reads the (rebuilt) data shards where they are: no segment-sized gather buffer.
    return this.#codec.withDataShards(pieces, k, m, (data) =>
      this.#cipher.open(index, index === this.#count - 1, takeBytes(data, sealed))
    )
  }
}
