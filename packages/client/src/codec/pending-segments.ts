import { CID, type ObjectLayout, type SegmentCodec, verifyPiece } from '@shoal/core/codec'
import { release } from './release.ts'

/**
 * Verified pieces per segment, waiting for decode; shared by the local engine and the worker. It owns the
 * pieces it is given and frees them once decoded or discarded.
 */
export class PendingSegments {
  readonly #codec: SegmentCodec
  readonly #layout: ObjectLayout
  readonly #segments = new Map<number, (Uint8Array | undefined)[]>()
  /** Segments already decoded or discarded: a late piece (a hedge that lost the race) is dropped, not kept. */
  readonly #finished = new Set<number>()

  constructor(codec: SegmentCodec) {
    this.#codec = codec
    this.#layout = codec.layout
  }

  async add(segment: number, piece: number, cid: string, bytes: Uint8Array): Promise<void> {
    await verifyPiece(CID.parse(cid), bytes)
    if (this.#finished.has(segment)) {
      release(bytes)
      return
    }
    let slots = this.#segments.get(segment)
    if (slots === undefined) {
      slots = new Array(this.#layout.k + this.#layout.m).fill(undefined)
      this.#segments.set(segment, slots)
    }
    slots[piece] = bytes
  }

  async decode(segment: number): Promise<Uint8Array> {
    const slots = this.#segments.get(segment) ?? new Array(this.#layout.k + this.#layout.m).fill(undefined)
    this.#finish(segment)
    try {
      return await this.#codec.decode(segment, slots)
    } finally {
      for (const piece of slots) release(piece)
    }
  }

  discard(segment: number): void {
    for (const piece of this.#segments.get(segment) ?? []) release(piece)
    this.#finish(segment)
  }

  #finish(segment: number): void {
    this.#segments.delete(segment)
    this.#finished.add(segment)
  }
}
