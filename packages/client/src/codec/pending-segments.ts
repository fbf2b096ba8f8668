import {
  CID,
  ErrorCode,
  isShoalError,
  type ObjectLayout,
  type PieceColumns,
  pieceSize,
  type SegmentCodec,
  ShoalError,
  verifyPiece
} from '@shoal/core/codec'
import { release } from './release.ts'

interface HeldPiece {
  bytes: Uint8Array
  cid: string
}

/**
 * Pieces per segment, waiting for decode; shared by the local engine and the worker. It owns the pieces it is
 * given and frees them once decoded or discarded.
 *
 * Pieces are kept unchecked: the segment's AES-GCM tag covers every byte the decode reads, so a piece altered
 * in any way fails the decode (a node holds no key to forge a tag). Only then are the pieces hashed against
 * their CIDs, to name the ones to fetch again and the nodes that sent them. Hashing every piece as it arrived
 * was 15% of a downloading client's codec thread (sha2-256 of every byte, docs/transport-tuning.md session 11).
 *
 * A segment may also be fetched in byte ranges of its pieces (the first segment's halves, each from its own k
 * holders): those are decoded column by column (SegmentCodec.decodeColumns). A part cannot be hashed against its
 * piece's CID, so a decode from parts that fails authentication drops every part of the segment, takes no more,
 * and leaves the segment open for whole pieces.
 */
export class PendingSegments {
  readonly #codec: SegmentCodec
  readonly #layout: ObjectLayout
  readonly #segments = new Map<number, (HeldPiece | undefined)[]>()
  /** Parts of pieces per segment: by offset, k + m slots each. */
  readonly #parts = new Map<number, Map<number, (Uint8Array | undefined)[]>>()
  /** Segments whose decode from parts failed: only whole pieces are taken for them now. */
  readonly #wholeOnly = new Set<number>()
  /** Segments already decoded or discarded: a late piece (a hedge that lost the race) is dropped, not kept. */
  readonly #finished = new Set<number>()

  constructor(codec: SegmentCodec) {
    this.#codec = codec
    this.#layout = codec.layout
  }

  /** Keeps piece `piece` of a segment, or the part of it from `offset` when `bytes` is not the whole piece. */
  async add(segment: number, piece: number, cid: string, bytes: Uint8Array, offset = 0): Promise<void> {
    const whole = offset === 0 && bytes.byteLength === pieceSize(this.#layout, segment)
    if (this.#finished.has(segment) || (!whole && this.#wholeOnly.has(segment))) {
      release(bytes)
      return
    }
    if (!whole) {
      const columns = this.#parts.get(segment) ?? new Map<number, (Uint8Array | undefined)[]>()
      this.#parts.set(segment, columns)
      const column = columns.get(offset) ?? new Array(this.#layout.k + this.#layout.m).fill(undefined)
      columns.set(offset, column)
      release(column[piece])
      column[piece] = bytes
      return
    }
    let slots = this.#segments.get(segment)
    if (slots === undefined) {
      slots = new Array(this.#layout.k + this.#layout.m).fill(undefined)
      this.#segments.set(segment, slots)
    }
    release(slots[piece]?.bytes)
    slots[piece] = { bytes, cid }
  }

  /**
   * Rebuilds and opens the segment. When its bytes fail authentication because of pieces that do not match
   * their CIDs, throws ERR_PIECE_CORRUPT naming them (`details.pieces`) and keeps the segment open with the
   * good pieces: the caller adds replacements and decodes again. A decode from parts that fails authentication
   * (DECRYPT_FAILED or ERASURE_FAILED) drops the parts and keeps the segment open for whole pieces. Otherwise the
   * segment is finished either way.
   */
  async decode(segment: number): Promise<Uint8Array> {
    const slots = this.#segments.get(segment) ?? new Array(this.#layout.k + this.#layout.m).fill(undefined)
    const parts = this.#parts.get(segment)
    try {
      const pieces = slots.map((s) => s?.bytes)
      const plaintext =
        parts === undefined
          ? await this.#codec.decode(segment, pieces)
          : await this.#codec.decodeColumns(segment, columnsOf(parts, pieces, pieceSize(this.#layout, segment)))
      this.#finish(segment, slots)
      return plaintext
    } catch (err) {
      const unauthentic = isShoalError(err, ErrorCode.DECRYPT_FAILED) || isShoalError(err, ErrorCode.ERASURE_FAILED)
      if (unauthentic && parts !== undefined) {
        // Which part was wrong cannot be told: all are dropped, and the caller fetches whole pieces.
        this.#dropParts(segment)
        this.#wholeOnly.add(segment)
        throw err
      }
      const corrupt = unauthentic ? await corruptPieces(slots) : []
      if (corrupt.length === 0) {
        this.#finish(segment, slots)
        throw err
      }
      for (const i of corrupt) {
        release(slots[i]?.bytes)
        slots[i] = undefined
      }
      throw new ShoalError(
        ErrorCode.PIECE_CORRUPT,
        `segment ${segment}: piece${corrupt.length === 1 ? '' : 's'} ${corrupt.join(', ')} did not match ${corrupt.length === 1 ? 'its CID' : 'their CIDs'}`,
        { cause: err, details: { segment, pieces: corrupt } }
      )
    }
  }

  discard(segment: number): void {
    this.#finish(segment, this.#segments.get(segment) ?? [])
  }

  #finish(segment: number, slots: readonly (HeldPiece | undefined)[]): void {
    for (const piece of slots) release(piece?.bytes)
    this.#dropParts(segment)
    this.#segments.delete(segment)
    this.#wholeOnly.delete(segment)
    this.#finished.add(segment)
  }

  #dropParts(segment: number): void {
    for (const column of this.#parts.get(segment)?.values() ?? []) for (const part of column) release(part)
    this.#parts.delete(segment)
  }
}

/** The parts by offset as columns tiling the piece; a whole piece fills its range in every column. */
function columnsOf(
  parts: ReadonlyMap<number, readonly (Uint8Array | undefined)[]>,
  whole: readonly (Uint8Array | undefined)[],
  size: number
): PieceColumns[] {
  const offsets = [...new Set([0, ...parts.keys()])].sort((a, b) => a - b)
  return offsets.map((offset, c) => {
    const end = offsets[c + 1] ?? size
    const column = parts.get(offset)
    return {
      offset,
      pieces: whole.map((piece, i) => piece?.subarray(offset, end) ?? column?.[i])
    }
  })
}

/** The indices of the held pieces whose bytes do not hash to their CID. */
async function corruptPieces(slots: readonly (HeldPiece | undefined)[]): Promise<number[]> {
  const checks = await Promise.all(
    slots.map(async (held) => {
      if (held === undefined) return false
      try {
        await verifyPiece(CID.parse(held.cid), held.bytes)
        return false
      } catch (err) {
        if (isShoalError(err, ErrorCode.PIECE_CORRUPT)) return true
        throw err
      }
    })
  )
  return checks.flatMap((bad, i) => (bad ? [i] : []))
}
