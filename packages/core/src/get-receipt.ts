import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { fromBase64Url, toBase64Url } from './bytes.ts'
import { KeyCache } from './crypto/key-cache.ts'
import { ErrorCode, ShoalError } from './errors.ts'
import { openToken, signToken } from './signed-token.ts'

/**
 * A client's signed statement that it received `bytes` of a piece from a node under one get grant. Nodes
 * collect these and settle them with the tracker to be paid for egress; the tracker bills the grant's account.
 * A client may sign several as bytes arrive: each covers all bytes so far, and a serial is settled once.
 */
export interface GetReceipt {
  v: 1
  kind: 'get'
  /** The serial of the get grant. */
  serial: string
  node: string
  piece: string
  bytes: number
  at: number
}

/** The receipt key's public half as a grant's `rk` carries it. */
export function receiptKeyId(key: PublicKey): string {
  return toBase64Url(publicKeyToProtobuf(key))
}

export function signGetReceipt(clientKey: PrivateKey, receipt: GetReceipt): Promise<string> {
  return signToken(clientKey, receipt)
}

/** Receipt keys seen lately, parsed once: a node checks an in-band receipt every MiB it sends. */
const receiptKeys = new KeyCache(1_000)

/** The public key a grant's `rk` names; ERR_RECEIPT_INVALID if it names none. */
export function receiptKeyFrom(rk: string): PublicKey {
  try {
    return receiptKeys.get(rk, () => publicKeyFromProtobuf(fromBase64Url(rk)))
  } catch (cause) {
    throw new ShoalError(ErrorCode.RECEIPT_INVALID, 'the grant names no valid receipt key', { cause })
  }
}

/**
 * Checks the signature with the grant's `rk` and the fields against the grant; ERR_RECEIPT_INVALID otherwise.
 * `key` is `rk` already parsed, for callers that keep parsed keys.
 */
export async function verifyGetReceipt(
  token: unknown,
  rk: string,
  expect: { serial: string; node: string; piece: string },
  key: PublicKey = receiptKeyFrom(rk)
): Promise<GetReceipt> {
  const r = (await openToken(token, key, ErrorCode.RECEIPT_INVALID, 'download receipt')) as Partial<GetReceipt> | null
  if (
    r === null ||
    typeof r !== 'object' ||
    r.v !== 1 ||
    r.kind !== 'get' ||
    r.serial !== expect.serial ||
    r.node !== expect.node ||
    r.piece !== expect.piece ||
    !Number.isSafeInteger(r.bytes) ||
    (r.bytes as number) < 0 ||
    !Number.isSafeInteger(r.at)
  ) {
    throw new ShoalError(ErrorCode.RECEIPT_INVALID, `download receipt does not match grant ${expect.serial}`)
  }
  return r as GetReceipt
}

/** Receipts one settlement carries at most: bounds the tracker's work per request. */
export const MAX_SETTLEMENT_RECEIPTS = 500
/** Largest settlement token: MAX_SETTLEMENT_RECEIPTS grants and receipts of ~1 KiB each. */
export const MAX_SETTLEMENT_TOKEN_LENGTH = 1024 * 1024

/** Payload of the token a node signs (with its libp2p key) to settle receipts: POST /v1/nodes/settlements. */
export interface SettlementPayload {
  v: 1
  kind: 'settlement'
  node: string
  at: number
  receipts: { grant: string; receipt: string }[]
}

/** `unbound`: the grant's receipt key is not the one granted to whoever asked for the grant (docs/security.md). */
export type SettlementRejection = 'forged' | 'replayed' | 'expired' | 'over-limit' | 'invalid' | 'unbound'

export interface SettlementResponse {
  /** Serials settled now, each counted once. */
  accepted: string[]
  /** The rest: the node may drop them (none would ever be accepted later). */
  rejected: { serial?: string; index: number; reason: SettlementRejection; message: string }[]
}

/**
 * Client to node: the client writes one frame `{ grant, receipt }` per receipt (at most
 * MAX_SETTLEMENT_RECEIPTS), half-closes, and the node answers one frame `{ queued }`.
 */
export const PROTOCOL_RECEIPTS = '/shoal/receipts/1.0.0'
