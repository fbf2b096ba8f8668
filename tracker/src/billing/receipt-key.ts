import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { ErrorCode, fromBase64Url, ShoalError } from '@shoal/core'
import type { Clock } from '../config.ts'
import type { StoreParts } from '../store/store.ts'

/**
 * The optional `receiptKey` of a download-grants request: the client's Ed25519 public key (base64url
 * protobuf) that will sign its download receipts. It goes into every get grant as `rk`, so the node and the
 * tracker can check receipts without the tracker storing anything per grant.
 */
export function receiptKeyOf(body: unknown): string | undefined {
  const value = (body as { receiptKey?: unknown } | null | undefined)?.receiptKey
  if (value === undefined) return undefined
  const bad = () =>
    new ShoalError(ErrorCode.INVALID_INPUT, 'receiptKey: must be a base64url Ed25519 public key', {
      details: { field: 'receiptKey' }
    })
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(value)) throw bad()
  try {
    if (publicKeyFromProtobuf(fromBase64Url(value)).type !== 'Ed25519') throw bad()
  } catch {
    throw bad()
  }
  return value
}

/** Who asks for grants with a receipt key: an account (its own objects) or a share link (its visitors). */
export type ReceiptKeyHolder = `a:${string}` | `s:${string}`

/** Bindings this process remembers, so a download's later grant requests skip the store. */
const MAX_CACHED_BINDINGS = 10_000

/**
 * Binds each receipt key to the one account or share link that first asked for grants with it (issue 12): a
 * key in use by another is refused (ERR_RECEIPT_KEY_TAKEN), so every receipt signed with a key is that
 * holder's, and settlement (settlement.ts) pays only for grants whose asker (`by`) holds their key.
 */
export class ReceiptKeys {
  readonly #store: StoreParts<'ledger'>
  readonly #clock: Clock
  readonly #known = new Map<string, string>()

  constructor(components: { store: StoreParts<'ledger'>; clock: Clock }) {
    this.#store = components.store
    this.#clock = components.clock
  }

  async bind(key: string, holder: ReceiptKeyHolder): Promise<void> {
    let bound = this.#known.get(key)
    if (bound === undefined) {
      bound = await this.#store.ledger.bindReceiptKey({ key, holder, boundAt: this.#clock.now() })
      this.#known.set(key, bound)
      if (this.#known.size > MAX_CACHED_BINDINGS) this.#known.delete(this.#known.keys().next().value as string)
    }
    if (bound !== holder) {
      throw new ShoalError(
        ErrorCode.RECEIPT_KEY_TAKEN,
        'receiptKey: this key signs receipts for another account or link: make a new one',
        { details: { field: 'receiptKey' } }
      )
    }
  }
}
