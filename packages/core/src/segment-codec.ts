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
import { merkleRoot } from './merkle.ts'

export interface EncodedSegment {
  index: number
  /** k + m pieces, data first; views into one buffer. */
  pieces: Uint8Array[]
  cids: CID[]
  /** base64url Merkle roots of the pieces, for audits (merkle.ts). */
  roots: string[]
  pieceSize: number
}

/** The same byte range of every piece of a segment: `pieces[i]` is bytes [offset, offset + length) of piece i. */
export interface PieceColumns {
  offset: number
  /** k + m slots, undefined for the pieces whose range is missing. */
  pieces: readonly (Uint8Array | undefined)[]
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
    const cids = await Promise.all(pieces.map((p) => pieceCid(p)))
    const roots = await Promise.all(pieces.map((p) => merkleRoot(p)))
    return { index, pieces, cids, roots, pieceSize: size }
  }

  /**
   * Rebuilds and opens a segment from any k verified pieces (`undefined` for the missing ones). The caller has
   * already checked each piece against its CID; AES-GCM then catches anything the erasure step could not.
   */
  async decode(index: number, pieces: readonly (Uint8Array | undefined)[]): Promise<Uint8Array> {
    const { k, m } = this.layout
    this.#checkPieces(index, pieces, pieceSize(this.layout, index))
    const sealed = sealedLength(segmentPlainLength(this.layout, index))
    // The cipher reads the (rebuilt) data shards where they are: no segment-sized gather buffer.
    return this.#codec.withDataShards(pieces, k, m, (data) =>
      this.#cipher.open(index, index === this.#count - 1, takeBytes(data, sealed))
    )
  }

  /**
   * Rebuilds and opens a segment from byte ranges of its pieces, `columns` tiling [0, piece size). Reed-Solomon
   * codes every byte column of the pieces on its own, so the same range of any k pieces rebuilds that range of
   * the data pieces, and each range may come from a different k (the first halves from four holders, the second
   * halves from four others). The pieces cannot be checked against their CIDs in parts: the GCM tag, over the
   * whole segment, is what catches a wrong byte.
   */
  async decodeColumns(index: number, columns: readonly PieceColumns[]): Promise<Uint8Array> {
    const { k, m } = this.layout
    const size = pieceSize(this.layout, index)
    const sorted = [...columns].sort((a, b) => a.offset - b.offset)
    let end = 0
    const rebuilt = sorted.map((column, c) => {
      if (column.offset !== end) throw new TypeError(`segment ${index}: columns must tile its ${size}-byte pieces`)
      end = sorted[c + 1]?.offset ?? size
      this.#checkPieces(index, column.pieces, end - column.offset)
      // Rebuilt ranges live in the codec's memory until the call returns: copied out; received ones are used as is.
      return this.#codec.withDataShards(column.pieces, k, m, (data) =>
        data.map((d, i) => (d === column.pieces[i] ? d : d.slice()))
      )
    })
    if (end !== size || sorted.length === 0) {
      throw new TypeError(`segment ${index}: columns must tile its ${size}-byte pieces`)
    }
    // The sealed segment is data piece 0, then 1, ...; each data piece is its columns in order.
    const parts = Array.from({ length: k }, (_, i) => rebuilt.map((column) => column[i] as Uint8Array)).flat()
    const sealed = sealedLength(segmentPlainLength(this.layout, index))
    return this.#cipher.open(index, index === this.#count - 1, takeBytes(parts, sealed))
  }

  /** k + m slots, at least k of them `size` bytes, the rest missing. */
  #checkPieces(index: number, pieces: readonly (Uint8Array | undefined)[], size: number): void {
    const { k, m } = this.layout
    if (pieces.length !== k + m) throw new TypeError(`segment ${index} needs ${k + m} piece slots`)
    const have = pieces.filter((p) => p !== undefined).length
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
  }
}
