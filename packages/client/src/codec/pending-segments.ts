import {
  CID,
  ErrorCode,
  isShoalError,
  type ObjectLayout,
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
 */
export class PendingSegments {
  readonly #codec: SegmentCodec
  readonly #layout: ObjectLayout
  readonly #segments = new Map<number, (HeldPiece | undefined)[]>()
  /** Segments already decoded or discarded: a late piece (a hedge that lost the race) is dropped, not kept. */
  readonly #finished = new Set<number>()

  /** Where a piece's buffer goes once it is no longer needed: freed at once, or handed back for reuse. */
  readonly #free: (bytes: Uint8Array | undefined) => void

  constructor(codec: SegmentCodec, free: (bytes: Uint8Array | undefined) => void = release) {
    this.#codec = codec
    this.#layout = codec.layout
    this.#free = free
  }

  async add(segment: number, piece: number, cid: string, bytes: Uint8Array): Promise<void> {
    if (this.#finished.has(segment)) {
      this.#free(bytes)
      return
    }
    let slots = this.#segments.get(segment)
    if (slots === undefined) {
      slots = new Array(this.#layout.k + this.#layout.m).fill(undefined)
      this.#segments.set(segment, slots)
    }
    this.#free(slots[piece]?.bytes)
    slots[piece] = { bytes, cid }
  }

  /**
   * Rebuilds and opens the segment. When its bytes fail authentication because of pieces that do not match
   * their CIDs, throws ERR_PIECE_CORRUPT naming them (`details.pieces`) and keeps the segment open with the
   * good pieces: the caller adds replacements and decodes again. Otherwise the segment is finished either way.
   */
  async decode(segment: number): Promise<Uint8Array> {
    const slots = this.#segments.get(segment) ?? new Array(this.#layout.k + this.#layout.m).fill(undefined)
    try {
      const plaintext = await this.#codec.decode(
        segment,
        slots.map((s) => s?.bytes)
      )
      this.#finish(segment, slots)
      return plaintext
    } catch (err) {
      const corrupt =
        isShoalError(err, ErrorCode.DECRYPT_FAILED) || isShoalError(err, ErrorCode.ERASURE_FAILED)
          ? await corruptPieces(slots)
          : []
      if (corrupt.length === 0) {
        this.#finish(segment, slots)
        throw err
      }
      for (const i of corrupt) {
        this.#free(slots[i]?.bytes)
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
    for (const piece of slots) this.#free(piece?.bytes)
    this.#segments.delete(segment)
    this.#finished.add(segment)
  }
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
