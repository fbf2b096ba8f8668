import type { Stream } from '@libp2p/interface'
import { encodeFrame, RECEIPT_INTERVAL_BYTES, sendBounded } from '@shoal/core'

/**
 * The client's half of the get protocol's credit window (2.0.0): as a piece arrives it sends the node a signed
 * cumulative receipt every RECEIPT_INTERVAL_BYTES on the same stream, then one for the total, then closes its
 * side. Sends are chained but never awaited by the read loop, so data keeps flowing while a receipt is signed
 * and sent: no round trip per chunk (the node's credit is several intervals).
 */
export class InBandReceipts {
  readonly #stream: Stream
  readonly #sign: (bytes: number) => Promise<string>
  readonly #options: { signal?: AbortSignal | undefined }
  #receipted = 0
  #chain: Promise<void> = Promise.resolve()
  #error: unknown

  constructor(stream: Stream, sign: (bytes: number) => Promise<string>, options: { signal?: AbortSignal | undefined }) {
    this.#stream = stream
    this.#sign = sign
    this.#options = options
  }

  /** `total` bytes have arrived so far. */
  received(total: number): void {
    if (total - this.#receipted >= RECEIPT_INTERVAL_BYTES) this.#send(total)
  }

  /**
   * All `total` bytes arrived: the last receipt, then the end of our side of the stream. Never fails: the bytes
   * are here and verified by the caller. Resolves true when every receipt went out and the stream closed
   * cleanly, so the node holds the receipt for the total; false when one could not be sent or the node reset the
   * stream, and the caller delivers that receipt later another way (the ReceiptBook).
   */
  async finish(total: number): Promise<boolean> {
    if (total > this.#receipted || total === 0) this.#send(total)
    await this.#chain
    if (this.#error !== undefined) return false
    return this.#stream.close(this.#options).then(
      () => true,
      () => false
    )
  }

  #send(total: number): void {
    this.#receipted = total
    this.#chain = this.#chain.then(async () => {
      if (this.#error !== undefined || total === 0) return
      try {
        const receipt = await this.#sign(total)
        await sendBounded(this.#stream, [encodeFrame({ receipt })], this.#options)
      } catch (err) {
        this.#error = err
      }
    })
  }
}
