import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { ErrorCode, fromBase64Url, ShoalError } from '@shoal/core'

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
