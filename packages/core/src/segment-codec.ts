import { type CID, pieceCid } from './cid.ts'
import { importAesKey, openSegment, sealSegment } from './crypto/aes-gcm.ts'
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
  readonly #key: CryptoKey
  readonly #nonce: Uint8Array
  readonly #count: number

  private constructor(layout: ObjectLayout, codec: ErasureCodec, key: CryptoKey, nonce: Uint8Array) {
    this.layout = layout
    this.#codec = codec
    this.#key = key
    this.#nonce = nonce
    this.#count = segmentCount(layout)
  }

  static async create(
    layout: ObjectLayout,
    codec: ErasureCodec,
    contentKey: Uint8Array,
    objectNonce: Uint8Array
  ): Promise<SegmentCodec> {
    return new SegmentCodec(validateLayout(layout), codec, await importAesKey(contentKey), objectNonce)
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
    const sealed = await sealSegment(this.#key, this.#nonce, index, index === this.#count - 1, plaintext)
    const size = pieceSize(this.layout, index)
    const shards = new Uint8Array(size * (k + m))
    shards.set(sealed, 0)
    this.#codec.encode(shards, k, m)
    const pieces: Uint8Array[] = []
    for (let i = 0; i < k + m; i++) pieces.push(shards.subarray(i * size, (i + 1) * size))
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
    const shards = new Uint8Array(size * (k + m))
    pieces.forEach((piece, i) => {
      if (piece === undefined) return
      if (piece.byteLength !== size) {
        throw new ShoalError(
          ErrorCode.PIECE_CORRUPT,
          `segment ${index} piece ${i} has ${piece.byteLength} bytes, not ${size}`
        )
      }
      shards.set(piece, i * size)
    })
    this.#codec.reconstruct(shards, k, m, present)
    const sealed = shards.subarray(0, sealedLength(segmentPlainLength(this.layout, index)))
    return openSegment(this.#key, this.#nonce, index, index === this.#count - 1, sealed)
  }
}
