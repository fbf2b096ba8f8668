import { type ErasureCodec, loadErasureCodec, type ObjectLayout, SegmentCodec } from '@shoal/core'
import { PendingSegments } from './pending-segments.ts'
import type { CodecEngine, EncodedPieces, ObjectCodec } from './segment-worker.ts'

/** Runs the codec on the calling thread: for browsers without workers, small transfers and comparison. */
export class LocalCodecEngine implements CodecEngine {
  #erasure: Promise<ErasureCodec> | undefined

  async warm(): Promise<void> {
    this.#erasure ??= loadErasureCodec()
    await this.#erasure
  }

  async open(layout: ObjectLayout, contentKey: Uint8Array, nonce: Uint8Array): Promise<ObjectCodec> {
    this.#erasure ??= loadErasureCodec()
    const codec = await SegmentCodec.create(layout, await this.#erasure, contentKey, nonce)
    const pending = new PendingSegments(codec)
    return {
      async encode(index, plaintext): Promise<EncodedPieces> {
        const e = await codec.encode(index, plaintext)
        return { index, pieces: e.pieces, cids: e.cids.map(String), pieceSize: e.pieceSize }
      },
      addPiece: (segment, piece, cid, bytes) => pending.add(segment, piece, cid, bytes),
      decode: (segment) => pending.decode(segment),
      discard: (segment) => pending.discard(segment),
      close() {}
    }
  }

  async stop(): Promise<void> {}
}
