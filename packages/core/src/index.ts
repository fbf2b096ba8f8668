/**
 * @shoal/core — Shoal's data model, identical in Node and the browser: segmenting, AES-256-GCM sealing,
 * Reed-Solomon coding, piece CIDs, manifests, signed grants and receipts, and the wire formats the tracker,
 * nodes and clients speak. No I/O beyond WebCrypto and loading the codec.
 *
 * @example
 * ```ts
 * import { SegmentCodec, loadErasureCodec, generateContentKey, generateObjectNonce } from '@shoal/core'
 * const layout = { size: data.byteLength, segmentSize: 8 * 1024 * 1024, k: 4, m: 2 }
 * const codec = await SegmentCodec.create(layout, await loadErasureCodec(), generateContentKey(), generateObjectNonce())
 * const { pieces, cids } = await codec.encode(0, data)      // 6 pieces, any 4 rebuild the segment
 * const back = await codec.decode(0, [pieces[0], undefined, pieces[2], undefined, pieces[4], pieces[5]])
 * ```
 */

export { allocUninitialized } from '#alloc'
export { fastPrivateKey, fastPublicKey } from '#fast-keys'
export * from './bloom.ts'
export { recycleBuffer, recycledBytes, takeRecycled } from './bytes/buffer-pool.ts'
export * from './bytes.ts'
export * from './cid.ts'
export * from './constants.ts'
export * from './crypto/account-keys.ts'
export * from './crypto/aes-gcm.ts'
export * from './crypto/key-cache.ts'
export * from './crypto/share-keys.ts'
export * from './erasure/index.ts'
export * from './errors.ts'
export * from './get-receipt.ts'
export * from './grant.ts'
export * from './layout.ts'
export * from './manifest.ts'
export * from './merkle.ts'
export * from './merkle-stream.ts'
export * from './prometheus.ts'
export * from './receipt.ts'
export * from './segment-codec.ts'
export * from './signed-token.ts'
export * from './sleep.ts'
export * from './units.ts'
export * from './wire/audit-protocol.ts'
export * from './wire/billing-api.ts'
export * from './wire/byte-reader.ts'
export * from './wire/frame.ts'
export * from './wire/pausing-reader.ts'
export * from './wire/piece-protocol.ts'
export * from './wire/repair-protocol.ts'
export * from './wire/retain-list.ts'
export * from './wire/send-bounded.ts'
export * from './wire/sink.ts'
export * from './wire/tracker-api.ts'
