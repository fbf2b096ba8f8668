import type { ObjectLayout } from '@shoal/core'

/** One segment's pieces after sealing and coding; `pieces` are views into one buffer. */
export interface EncodedPieces {
  index: number
  pieces: Uint8Array[]
  cids: string[]
  pieceSize: number
}

/**
 * The CPU-heavy part of a transfer (AES-GCM, Reed-Solomon, sha2-256) for one object. Implementations run it
 * on the calling thread or on worker threads; callers cannot tell the difference except in speed.
 *
 * Downloads hand pieces over as they arrive (`addPiece`), then `decode` rebuilds the segment and checks it: its
 * AES-GCM tag covers every byte, and the pieces are hashed against their CIDs only when it fails.
 */
export interface ObjectCodec {
  encode(index: number, plaintext: Uint8Array): Promise<EncodedPieces>
  /**
   * Keeps a received piece (its CID for `decode`'s check) until the segment is decoded. Takes ownership of
   * `bytes`: a worker engine moves the buffer to its thread, leaving the caller's view empty.
   */
  addPiece(segment: number, piece: number, cid: string, bytes: Uint8Array): Promise<void>
  /**
   * Rebuilds the segment from the pieces added so far and forgets them. ERR_PIECE_CORRUPT (`details.pieces`: the
   * indices) when it fails authentication because of pieces that do not match their CIDs: those are dropped, the
   * others kept, and the caller adds replacements and decodes again.
   */
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
