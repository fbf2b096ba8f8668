import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import {
  ByteReader,
  encodeFrame,
  fastPrivateKey,
  type Grant,
  MAX_SETTLEMENT_RECEIPTS,
  type NodeAddress,
  PROTOCOL_RECEIPTS,
  peekToken,
  readRequiredFrame,
  receiptKeyId,
  sendBounded,
  signGetReceipt
} from '@shoal/core'
import { openStream } from './p2p/client-peer.ts'
import type { GetPieceOptions } from './p2p/piece-client.ts'

/**
 * Signs download receipts: the client's statement of how many bytes of a piece it received under a get grant.
 * The key is made per client (per process or browser tab) and sent as `receiptKey` with grant requests; the
 * tracker puts it into every get grant (`rk`), so the node that served the piece can settle the receipt and no
 * one else can make one up. A receipt only ever says what arrived, so signing it costs the client nothing.
 */
export class ReceiptSigner {
  readonly #key: PrivateKey
  /** The public half, as `receiptKey` in POST /v1/objects/:id/grants. */
  readonly receiptKey: string

  private constructor(key: PrivateKey) {
    // A receipt is signed every MiB of every piece: build the signing key once, not per signature.
    this.#key = fastPrivateKey(key)
    this.receiptKey = receiptKeyId(key.publicKey)
  }

  static async create(): Promise<ReceiptSigner> {
    return new ReceiptSigner(await generateKeyPair('Ed25519'))
  }

  /** Signs with an existing key: a storage node doing repair work signs with its identity. */
  static fromKey(key: PrivateKey): ReceiptSigner {
    return new ReceiptSigner(key)
  }

  /** A receipt for `bytes` received under `grant` (the token as the tracker issued it). */
  sign(grant: string, bytes: number, at = Date.now()): Promise<string> {
    const g = peekToken(grant) as Grant
    return signGetReceipt(this.#key, { v: 1, kind: 'get', serial: g.serial, node: g.node, piece: g.piece, bytes, at })
  }
}

/** Receipts sent to a node in one delivery once this many are waiting for it. */
const DELIVERY_BATCH = 100

/**
 * Receipts a get stream could not deliver (its node reset it before the last receipt went out) on their way to
 * the nodes that earned them: delivered per node in batches over PROTOCOL_RECEIPTS (and all at once by `flush`,
 * which the client runs when it stops). Pieces whose last receipt went out on the stream are not recorded.
 * Delivery is best effort: a node that cannot be reached misses that payment, the download never waits for it.
 */
export class ReceiptBook {
  readonly #signer: ReceiptSigner
  readonly #peer: () => Promise<Libp2p>
  readonly #waiting = new Map<string, { node: NodeAddress; items: Promise<{ grant: string; receipt: string }>[] }>()
  readonly #deliveries = new Set<Promise<void>>()

  constructor(signer: ReceiptSigner, peer: () => Promise<Libp2p>) {
    this.#signer = signer
    this.#peer = peer
  }

  get receiptKey(): string {
    return this.#signer.receiptKey
  }

  /** A receipt for `bytes` of the piece behind `grant`, for the get stream itself (get protocol 2.0.0). */
  sign(grant: string, bytes: number): Promise<string> {
    return this.#signer.sign(grant, bytes)
  }

  /**
   * What `getPiece` needs to pay for a piece of `bytes` under `grant`: its receipts signed on the get stream, and
   * the receipt for the whole piece recorded here when the stream could not take it. `node` is read then (a
   * node found at a new address is paid there).
   */
  forPiece(grant: string, bytes: number, node: () => NodeAddress): Pick<GetPieceOptions, 'sign' | 'onReceipted'> {
    return {
      sign: (received) => this.sign(grant, received),
      onReceipted: (delivered) => {
        if (!delivered) this.received(node(), grant, bytes)
      }
    }
  }

  /** Records that `bytes` of the piece behind `grant` arrived from `node`, for a receipt delivered later. */
  received(node: NodeAddress, grant: string, bytes: number): void {
    const item = this.#signer.sign(grant, bytes).then((receipt) => ({ grant, receipt }))
    item.catch(() => {})
    const entry = this.#waiting.get(node.peerId) ?? { node, items: [] }
    entry.items.push(item)
    this.#waiting.set(node.peerId, entry)
    if (entry.items.length >= DELIVERY_BATCH) this.#deliver(node.peerId)
  }

  /** Delivers everything waiting and waits for deliveries in flight. */
  async flush(): Promise<void> {
    for (const peerId of [...this.#waiting.keys()]) this.#deliver(peerId)
    await Promise.allSettled([...this.#deliveries])
  }

  #deliver(peerId: string): void {
    const entry = this.#waiting.get(peerId)
    if (entry === undefined) return
    this.#waiting.delete(peerId)
    const task = (async () => {
      const items = await Promise.all(entry.items)
      const stream = await openStream(await this.#peer(), entry.node, PROTOCOL_RECEIPTS, {
        signal: AbortSignal.timeout(10_000)
      })
      try {
        await sendBounded(
          stream,
          items.slice(0, MAX_SETTLEMENT_RECEIPTS).map((item) => encodeFrame(item))
        )
        await stream.close()
        await readRequiredFrame(new ByteReader(stream), 'receipts answer')
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    })().catch(() => undefined)
    this.#deliveries.add(task)
    task.finally(() => this.#deliveries.delete(task))
  }
}
