import { GCM_TAG_BYTES, MAX_SEGMENT_SIZE, MAX_TOTAL_PIECES } from './constants.ts'
import { ErrorCode, ShoalError } from './errors.ts'

/** How an object is cut: everything about piece sizes follows from these four numbers. */
export interface ObjectLayout {
  /** Plaintext bytes. */
  size: number
  /** Plaintext bytes per segment (the last segment may be shorter). */
  segmentSize: number
  /** Data pieces per segment. */
  k: number
  /** Parity pieces per segment. */
  m: number
}

export function validateLayout(layout: ObjectLayout): ObjectLayout {
  const { size, segmentSize, k, m } = layout
  const fail = (what: string): never => {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `invalid object layout: ${what}`)
  }
  if (!Number.isSafeInteger(size) || size < 0) fail('size must be a non-negative integer')
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1 || segmentSize > MAX_SEGMENT_SIZE) {
    fail(`segment size must be between 1 and ${MAX_SEGMENT_SIZE}`)
  }
  if (!Number.isInteger(k) || k < 2) fail('k must be at least 2 (k = 1 is plain replication)')
  if (!Number.isInteger(m) || m < 0) fail('m must be at least 0')
  if (k + m > MAX_TOTAL_PIECES) fail(`k + m must be at most ${MAX_TOTAL_PIECES}`)
  return layout
}

/**
 * Fewest pieces a segment may be stored with when nodes are down: k + 1 (k when m = 0). An upload that cannot
 * reach k + m nodes commits with what it could store, down to this, and repair adds the missing pieces later;
 * one piece beyond k keeps a freshly stored segment readable through the loss of any one node meanwhile.
 */
export function minStoredPieces(layout: Pick<ObjectLayout, 'k' | 'm'>): number {
  return layout.k + Math.min(1, layout.m)
}

/** An empty object still has one (empty) segment, so its authenticity and end are checked like any other. */
export function segmentCount(layout: ObjectLayout): number {
  return Math.max(1, Math.ceil(layout.size / layout.segmentSize))
}

export function segmentOffset(layout: ObjectLayout, index: number): number {
  return index * layout.segmentSize
}

export function segmentPlainLength(layout: ObjectLayout, index: number): number {
  const count = segmentCount(layout)
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`segment ${index} out of range`)
  if (index < count - 1) return layout.segmentSize
  return layout.size - index * layout.segmentSize
}

export function sealedLength(plainLength: number): number {
  return plainLength + GCM_TAG_BYTES
}

/** Every piece of a segment has this size; the last data piece is zero-padded up to it. */
export function pieceSize(layout: ObjectLayout, index: number): number {
  return Math.ceil(sealedLength(segmentPlainLength(layout, index)) / layout.k)
}

/**
 * Stored bytes per node of an object's segments (each piece of a segment is pieceSize bytes): what each node is
 * paid for holding, the tracker's storage spans.
 */
export function bytesPerNode(
  layout: ObjectLayout,
  segments: readonly { index: number; pieces: readonly { node: string }[] }[]
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of segments) {
    const size = pieceSize(layout, s.index)
    for (const p of s.pieces) out[p.node] = (out[p.node] ?? 0) + size
  }
  return out
}

/** Bytes stored on the network for the object, parity included. */
export function storedBytes(layout: ObjectLayout): number {
  let total = 0
  const count = segmentCount(layout)
  for (let i = 0; i < count; i++) total += pieceSize(layout, i) * (layout.k + layout.m)
  return total
}

/** Segments that hold plaintext bytes [offset, offset + length). */
export function segmentsForRange(
  layout: ObjectLayout,
  offset: number,
  length: number
): { first: number; last: number } {
  if (layout.size === 0) return { first: 0, last: 0 }
  const end = Math.min(layout.size, offset + length)
  const first = Math.floor(offset / layout.segmentSize)
  const last = Math.max(first, Math.ceil(end / layout.segmentSize) - 1)
  return { first, last }
}
