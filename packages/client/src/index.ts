/**
 * @shoal/client — the Shoal SDK for Node and browsers: sign up or log in, then put, get, list and remove files.
 * Encryption and erasure coding happen here; pieces travel directly between this client and storage nodes.
 *
 * @example
 * ```ts
 * import { ShoalClient } from '@shoal/client'
 * const shoal = await ShoalClient.login({ tracker: 'http://127.0.0.1:7070', email: 'me@example.com', password })
 * await shoal.put('hello.txt', [new TextEncoder().encode('hello')], 5)
 * const { stream } = await shoal.get('hello.txt')
 * for await (const chunk of stream) console.log(new TextDecoder().decode(chunk))
 * await shoal.stop()
 * ```
 */

export { createCodecEngine } from '#codec-engine'
export { forEachBounded } from './bounded.ts'
export { LocalCodecEngine } from './codec/local-engine.ts'
export type { CodecEngine, EncodedPieces, ObjectCodec } from './codec/segment-worker.ts'
export {
  DOWNLOAD_DEFAULTS,
  type DownloadContext,
  type DownloadEvent,
  type DownloadOptions,
  downloadObject
} from './download.ts'
export { checkName, checkPath, joinPath, MAX_NAME_BYTES, MAX_PATH_CHARS } from './names.ts'
export { NodeRates, type SavedNodeRates } from './node-rates.ts'
export { NodeScoreboard } from './node-scoreboard.ts'
export { type ClientPeerInit, createClientPeer, locateNode, nodeMultiaddrs, openStream } from './p2p/client-peer.ts'
export { type DialPolicy, dialPolicyFor, isPrivateAddress, mayDial } from './p2p/dial-policy.ts'
export { NodeLocator } from './p2p/node-locator.ts'
export { deletePiece, getPiece, putPiece, requestRepair } from './p2p/piece-client.ts'
export { type RebuildInit, type RebuildSource, type RebuiltPiece, rebuildPieces } from './p2p/rebuild.ts'
export type { ProgressListener, TransferProgress } from './progress.ts'
export { ReceiptBook, ReceiptSigner } from './receipts.ts'
export { segmentSource } from './segment-source.ts'
export { type OpenShareInit, SharedFile } from './share.ts'
export { shareLinkFragment } from './share-link.ts'
export {
  type Credentials,
  type ObjectEntry,
  type RecoveryCredentials,
  type SavedSession,
  ShoalClient,
  type ShoalClientInit,
  type SignupCredentials,
  type VersionEntry
} from './shoal-client.ts'
export { TrackerClient, type TrackerClientInit } from './tracker-client.ts'
export { degradedNote, isResumable, type UploadOptions, type UploadResult, uploadObject } from './upload.ts'
