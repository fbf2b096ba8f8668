/**
 * @shoal/node — the Shoal storage node: stores pieces under grants signed by the tracker, serves them over
 * libp2p (TCP and WebSockets, noise, yamux), is findable by its peer id in the DHT and reports to the tracker.
 *
 * @example
 * ```ts
 * import { createNode } from '@shoal/node'
 * const node = await createNode({ dataDir: './node-data', trackerUrl: 'http://127.0.0.1:7070', capacity: 500e9 })
 * await node.start()
 * console.log(node.peerId.toString(), node.multiaddrs.map(String))
 * await node.stop()
 * ```
 */
export * from './constants.ts'
export { IDENTITY_FILE, loadOrCreateIdentity } from './identity.ts'
export type { NodeLibp2p, NodeServices } from './libp2p.ts'
export type { PieceOperation, PieceServiceStats } from './piece-service.ts'
export {
  type PieceReader,
  type PieceRecord,
  PieceStore,
  type PieceStoreInit,
  type PieceStoreStats,
  type PutResult,
  shardOf
} from './piece-store.ts'
export { createNode, type NodeInit, type NodeStats, type NodeStatus, type ShoalNode } from './shoal-node.ts'
export { TokenBucket, type TokenBucketInit } from './token-bucket.ts'
export { decodePublicKey, encodePublicKey, TRACKER_KEY_FILE } from './tracker-key.ts'
export type { TrackerLinkStats } from './tracker-link.ts'
