/**
 * What a codec worker needs, and nothing else: importing the whole package (`@shoal/core`) would load signing,
 * grants, wire formats and their libraries into every worker thread, which costs memory per worker.
 */
export { CID, verifyPiece } from './cid.ts'
export { type ErasureCodec, loadErasureCodec } from './erasure/index.ts'
export { ErrorCode, isShoalError, ShoalError } from './errors.ts'
export type { ObjectLayout } from './layout.ts'
export { SegmentCodec } from './segment-codec.ts'
