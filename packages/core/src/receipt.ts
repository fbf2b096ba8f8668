import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { KeyCache } from './crypto/key-cache.ts'
import { ErrorCode, ShoalError } from './errors.ts'
import { parseMerkleRoot } from './merkle.ts'
import { openToken, signToken } from './signed-token.ts'

/**
 * A node's signed statement that it durably stored a piece under a put grant, and of the piece's Merkle root
 * (merkle.ts) as the node itself computed it from the bytes it stored. Version 2 added `root`: the tracker
 * audits against the root the node signed, never one a client claims, so nobody can frame an honest node with
 * a wrong root, and every stored piece has one (docs/security.md). Version 1 receipts are refused.
 */
export interface PutReceipt {
  v: 2
  kind: 'put'
  piece: string
  node: string
  size: number
  /** The serial of the put grant it answers. */
  serial: string
  /** base64url Merkle root of the stored bytes, computed by the node. */
  root: string
  at: number
}

export function signReceipt(nodeKey: PrivateKey, receipt: PutReceipt): Promise<string> {
  return signToken(nodeKey, receipt)
}

/**
 * Nodes' public keys by peer id, parsed once and verifying with a cached KeyObject (fast-keys): the tracker
 * checks a receipt per piece at every segment commit and a signature per heartbeat, from the same nodes again
 * and again. Parsing the peer id and importing the key took a quarter of each check's CPU.
 */
const nodeKeys = new KeyCache(10_000)

/**
 * The public key embedded in a node's peer id (Ed25519 ids embed it), or a TypeError naming why there is none:
 * callers turn that into their own error code.
 */
export function nodePublicKey(peerId: string): PublicKey {
  return nodeKeys.get(peerId, () => {
    let key: PublicKey | undefined
    try {
      key = peerIdFromString(peerId).publicKey
    } catch (cause) {
      throw new TypeError(`node id ${peerId.slice(0, 80)} is not a peer id`, { cause })
    }
    if (key === undefined) throw new TypeError(`peer id ${peerId} does not embed its public key (use an Ed25519 key)`)
    return key
  })
}

/** Verifies with the public key embedded in the node's peer id: no key registry is needed. */
export async function verifyReceipt(
  token: unknown,
  expect: { node: string; piece: string; serial: string; size: number }
): Promise<PutReceipt> {
  let publicKey: PublicKey
  try {
    publicKey = nodePublicKey(expect.node)
  } catch (cause) {
    throw new ShoalError(ErrorCode.RECEIPT_INVALID, (cause as Error).message, { cause })
  }
  const r = (await openToken(token, publicKey, ErrorCode.RECEIPT_INVALID, 'receipt')) as Partial<PutReceipt> | null
  if (
    r === null ||
    typeof r !== 'object' ||
    r.v !== 2 ||
    r.kind !== 'put' ||
    r.node !== expect.node ||
    r.piece !== expect.piece ||
    r.serial !== expect.serial ||
    r.size !== expect.size ||
    !Number.isSafeInteger(r.at) ||
    !isRoot(r.root)
  ) {
    throw new ShoalError(ErrorCode.RECEIPT_INVALID, `receipt for piece ${expect.piece} does not match its grant`)
  }
  return r as PutReceipt
}

function isRoot(value: unknown): boolean {
  try {
    parseMerkleRoot(value)
    return true
  } catch {
    return false
  }
}
