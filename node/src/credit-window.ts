import type { PublicKey } from '@libp2p/interface'
import {
  type ByteReader,
  ErrorCode,
  type Grant,
  readFrame,
  receiptKeyFrom,
  ShoalError,
  verifyGetReceipt
} from '@shoal/core'

export interface CreditWindowInit {
  reader: ByteReader
  grant: Grant
  /** This node's peer id: receipts must name it. */
  node: string
  /** Bytes the node sends beyond what the client's receipts cover. */
  creditBytes: number
}

/**
 * The get protocol's credit window (v2, docs/security.md): while a node sends a piece, the client sends signed
 * cumulative receipts on the same stream (`{ receipt }` frames, one every RECEIPT_INTERVAL_BYTES, and one for
 * the total at the end). The node sends at most `creditBytes` beyond the bytes the latest valid receipt
 * covers, and waits for the next one before it sends more, so a client that never pays gets at most the credit.
 * Receipts flow while the data does, so an honest client's transfer never waits on a round trip.
 */
export class CreditWindow {
  readonly #init: CreditWindowInit
  readonly #key: PublicKey
  #sent = 0
  #covered = 0
  /**
   * The latest valid receipt, which the node settles, with the bytes it claims (it may claim more than was sent:
   * settlement decides what it is worth).
   */
  #best: { receipt: string; bytes: number } | undefined
  #ended = false
  #error: ShoalError | undefined
  #wake: (() => void) | undefined
  readonly #loop: Promise<void>

  constructor(init: CreditWindowInit) {
    this.#init = init
    if (init.grant.rk === undefined) throw new TypeError('a credit window needs a grant with a receipt key')
    this.#key = receiptKeyFrom(init.grant.rk)
    this.#loop = this.#read()
  }

  /** The grant this window serves (verified by the piece service before the window opened). */
  get grant(): Grant {
    return this.#init.grant
  }

  /** The latest valid receipt, if the client sent any, with the bytes it claims; verified against the grant. */
  get receipt(): { receipt: string; bytes: number } | undefined {
    return this.#best
  }

  /** Waits until `bytes` more may be sent; ERR_RECEIPT_REQUIRED when the client stopped paying. */
  async take(bytes: number, signal: AbortSignal): Promise<void> {
    while (this.#sent + bytes > this.#covered + this.#init.creditBytes) {
      if (this.#error !== undefined) throw this.#error
      if (this.#ended) {
        throw new ShoalError(ErrorCode.RECEIPT_REQUIRED, 'the client stopped sending receipts within its credit', {
          details: { sent: this.#sent, covered: this.#covered }
        })
      }
      signal.throwIfAborted()
      await new Promise<void>((resolve) => {
        this.#wake = resolve
        signal.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    this.#sent += bytes
  }

  /** Waits for the client's last receipt and the end of its side of the stream. */
  async end(): Promise<void> {
    await this.#loop
    if (this.#error !== undefined) throw this.#error
  }

  async #read(): Promise<void> {
    const { grant, node } = this.#init
    try {
      for (;;) {
        const frame = await readFrame(this.#init.reader)
        if (frame === undefined) break
        const receipt = await verifyGetReceipt(
          frame.receipt,
          grant.rk as string,
          { serial: grant.serial, node, piece: grant.piece },
          this.#key
        )
        if (receipt.bytes > this.#covered) {
          // A receipt for more than was sent pays for what was sent (and never more than the grant).
          this.#covered = Math.min(receipt.bytes, grant.size)
          this.#best = { receipt: frame.receipt as string, bytes: receipt.bytes }
        }
        this.#wake?.()
      }
    } catch (err) {
      this.#error =
        err instanceof ShoalError
          ? err
          : new ShoalError(ErrorCode.PROTOCOL, 'unreadable receipt on a get stream', { cause: err })
    } finally {
      this.#ended = true
      this.#wake?.()
    }
  }
}
