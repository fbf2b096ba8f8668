import type { Libp2p } from '@libp2p/interface'
import {
  type DownloadGrantsResponse,
  deriveSharePasswordKeys,
  ErrorCode,
  MAX_SHARE_GRANT_SEGMENTS,
  type ObjectInfo,
  openShareMetadata,
  parseShareFragment,
  type ShareInfo,
  type ShareMetadata,
  ShoalError,
  unwrapShareKey
} from '@shoal/core'
import { createCodecEngine } from '#codec-engine'
import type { CodecEngine } from './codec/segment-worker.ts'
import { type DownloadOptions, downloadObject } from './download.ts'
import { NodeRates } from './node-rates.ts'
import { type ClientPeerInit, createClientPeer } from './p2p/client-peer.ts'
import { NodeLocator } from './p2p/node-locator.ts'
import { ReceiptBook, ReceiptSigner } from './receipts.ts'
import { TrackerClient } from './tracker-client.ts'
import { UnreachableNodes } from './unreachable-nodes.ts'

/** A tracker client whose download grants come from a share link instead of a session. */
class ShareTrackerClient extends TrackerClient {
  readonly #shareId: string
  readonly #authKey: string | undefined

  constructor(url: string, shareId: string, authKey: string | undefined) {
    super({ url })
    this.#shareId = shareId
    this.#authKey = authKey
  }

  /** Share grants need no account, so the tracker signs fewer per request (docs/security.md). */
  override get maxGrantSegments(): number {
    return MAX_SHARE_GRANT_SEGMENTS
  }

  override downloadGrants(
    _id: string,
    from: number,
    to: number,
    options?: { signal?: AbortSignal; receiptKey?: string | undefined }
  ): Promise<DownloadGrantsResponse> {
    return this.shareGrants(
      this.#shareId,
      {
        from,
        to,
        ...(this.#authKey === undefined ? {} : { authKey: this.#authKey }),
        ...(options?.receiptKey === undefined ? {} : { receiptKey: options.receiptKey })
      },
      options?.signal === undefined ? {} : { signal: options.signal }
    )
  }
}

export interface OpenShareInit {
  tracker: string
  shareId: string
  /** The link's fragment (`#k=...` or `#w=...`): the file key, never sent to a server. */
  fragment: string
  /** Needed when the share has one. */
  password?: string
  codec?: 'workers' | 'local'
  peer?: ClientPeerInit
}

/**
 * A file opened from a share link, without an account: the same verified, multi-node download path as a signed-in
 * client, with grants issued against the share. Call `stop()` when done.
 */
export class SharedFile {
  readonly info: ShareInfo
  readonly meta: ShareMetadata
  readonly #tracker: ShareTrackerClient
  readonly #contentKey: Uint8Array
  readonly #init: OpenShareInit
  #peer: Promise<Libp2p> | undefined
  /** Finds nodes that moved, on a DHT peer of its own started on the first lookup. */
  readonly #locator: NodeLocator
  #codecs: CodecEngine | undefined
  #receipts: Promise<ReceiptBook> | undefined
  /** Nodes that failed a dial, remembered across this client's downloads. */
  readonly #unreachable = new UnreachableNodes()
  readonly #rates = new NodeRates()

  private constructor(
    info: ShareInfo,
    meta: ShareMetadata,
    tracker: ShareTrackerClient,
    key: Uint8Array,
    init: OpenShareInit
  ) {
    this.info = info
    this.meta = meta
    this.#tracker = tracker
    this.#contentKey = key
    this.#init = init
    this.#locator = new NodeLocator(this.#getPeer, init.peer)
  }

  /** What the share needs before `open`: whether it is alive, and whether it asks for a password. */
  static async inspect(tracker: string, shareId: string): Promise<ShareInfo> {
    return new TrackerClient({ url: tracker }).shareInfo(shareId)
  }

  /**
   * Opens a share: checks the link and the password here, before any download, so a damaged link or a wrong
   * password fails with ERR_INVALID_INPUT / ERR_SHARE_PASSWORD / ERR_DECRYPT_FAILED and nothing is written.
   */
  static async open(init: OpenShareInit): Promise<SharedFile> {
    const fragment = parseShareFragment(init.fragment)
    const info = await SharedFile.inspect(init.tracker, init.shareId)
    let authKey: string | undefined
    let key: Uint8Array
    if (info.password !== undefined) {
      if (init.password === undefined || init.password.length === 0) {
        throw new ShoalError(ErrorCode.SHARE_PASSWORD, 'this link needs a password')
      }
      const keys = await deriveSharePasswordKeys(info.password.salt, init.password)
      authKey = keys.authKey
      if (fragment.kind === 'wrapped') {
        try {
          key = await unwrapShareKey(keys.kek, fragment.wrapped)
        } catch (cause) {
          throw new ShoalError(ErrorCode.SHARE_PASSWORD, 'wrong password for this link', { cause })
        }
      } else {
        key = fragment.key
      }
    } else if (fragment.kind === 'key') {
      key = fragment.key
    } else {
      throw new ShoalError(ErrorCode.INVALID_INPUT, 'the link is damaged or incomplete: it carries no key')
    }
    const meta = await openShareMetadata(key, info.meta)
    return new SharedFile(info, meta, new ShareTrackerClient(init.tracker, init.shareId, authKey), key, init)
  }

  #getPeer = (): Promise<Libp2p> => {
    this.#peer ??= createClientPeer(this.#init.peer)
    return this.#peer
  }

  #getReceipts(): Promise<ReceiptBook> {
    this.#receipts ??= ReceiptSigner.create().then((signer) => new ReceiptBook(signer, this.#getPeer))
    return this.#receipts
  }

  /**
   * Streams the plaintext in order, verified and decrypted. Like a signed-in client, it signs a receipt for each
   * piece received, so the nodes are paid (by the share's owner) for what they served.
   */
  async *download(options: DownloadOptions = {}): AsyncGenerator<Uint8Array> {
    this.#codecs ??= createCodecEngine(this.#init.codec ?? 'workers')
    const object: ObjectInfo = { ...this.info.object, nameHash: '', meta: '', wrappedKey: '' }
    yield* downloadObject(
      {
        tracker: this.#tracker,
        peer: this.#getPeer,
        codecs: this.#codecs,
        locate: this.#locator.locate,
        receipts: await this.#getReceipts(),
        unreachable: this.#unreachable,
        rates: this.#rates
      },
      object,
      this.#contentKey,
      options
    )
  }

  async stop(): Promise<void> {
    const peer = this.#peer
    const codecs = this.#codecs
    const receipts = this.#receipts
    this.#peer = undefined
    this.#codecs = undefined
    this.#receipts = undefined
    // Receipts reach the nodes before the peer that carries them stops.
    if (receipts !== undefined && peer !== undefined) await (await receipts).flush().catch(() => {})
    if (peer !== undefined) await (await peer).stop()
    await this.#locator.stop()
    if (codecs !== undefined) await codecs.stop()
  }
}
