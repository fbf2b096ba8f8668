import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ErrorCode, ShoalError } from './errors.ts'
import { openToken, signToken } from './signed-token.ts'

/** A node's signed statement that it durably stored a piece under a put grant. */
export interface PutReceipt {
  v: 1
  kind: 'put'
  piece: string
  node: string
  size: number
  /** The serial of the put grant it answers. */
  serial: string
  at: number
}

export function signReceipt(nodeKey: PrivateKey, receipt: PutReceipt): Promise<string> {
  return signToken(nodeKey, receipt)
}

/** Verifies with the public key embedded in the node's peer id: no key registry is needed. */
export async function verifyReceipt(
  token: unknown,
  expect: { node: string; piece: string; serial: string; size: number }
): Promise<PutReceipt> {
  let publicKey: PublicKey | undefined
  try {
    publicKey = peerIdFromString(expect.node).publicKey
  } catch (cause) {
    throw new ShoalError(ErrorCode.RECEIPT_INVALID, `node id ${expect.node} is not a peer id`, { cause })
  }
  if (publicKey === undefined) throw new ShoalError(ErrorCode.RECEIPT_INVALID, `node id ${expect.node} has no key`)
  const r = (await openToken(token, publicKey, ErrorCode.RECEIPT_INVALID, 'receipt')) as Partial<PutReceipt> | null
  if (
    r === null ||
    typeof r !== 'object' ||
    r.v !== 1 ||
    r.kind !== 'put' ||
    r.node !== expect.node ||
    r.piece !== expect.piece ||
    r.serial !== expect.serial ||
    r.size !== expect.size ||
    !Number.isSafeInteger(r.at)
  ) {
    throw new ShoalError(ErrorCode.RECEIPT_INVALID, `receipt for piece ${expect.piece} does not match its grant`)
  }
  return r as PutReceipt
}
