import type { ObjectLayout } from '@shoal/core'

/** One segment's pieces after sealing and coding; `pieces` are views into one buffer. */
export interface EncodedPieces {
  index: number
  pieces: Uint8Array[]
  cids: string[]
  /** Merkle roots of the pieces (audits); absent from engines that do not compute them. */
  roots?: string[]
  pieceSize: number
}

/**
 * The CPU-heavy part of a transfer (AES-GCM, Reed-Solomon, sha2-256) for one object. Implementations run it
 * on the calling thread or on worker threads; callers cannot tell the difference except in speed.
 *
 * Downloads hand pieces over as they arrive (`addPiece` verifies each against its CID, so hashing is off the
 * network thread too), then `decode` rebuilds the segment from the verified ones.
 */
export interface ObjectCodec {
  encode(index: number, plaintext: Uint8Array): Promise<EncodedPieces>
  /**
   * Verifies a received piece and keeps it for `decode`; ERR_PIECE_CORRUPT if it does not match `cid`. Takes
   * ownership of `bytes`: a worker engine moves the buffer to its thread, leaving the caller's view empty.
   */
  addPiece(segment: number, piece: number, cid: string, bytes: Uint8Array): Promise<void>
  /** Rebuilds the segment from the pieces added so far and forgets them. */
  decode(segment: number): Promise<Uint8Array>
  /** Forgets the pieces of a segment that will not be decoded. */
  discard(segment: number): void
  close(): void
}

export interface CodecEngine {
  /** Gets ready ahead of the first `open` (starts threads, loads the codec): hides start-up from a transfer. */
  warm(): Promise<void>
  open(layout: ObjectLayout, contentKey: Uint8Array, nonce: Uint8Array): Promise<ObjectCodec>
  stop(): Promise<void>
}
