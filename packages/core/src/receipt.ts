import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { KeyCache } from './crypto/key-cache.ts'
import { ErrorCode, ShoalError } from './errors.ts'
import { parseMerkleRoot } from './merkle.ts'
import { MAX_TOKEN_LENGTH, openToken, openTokenSignedByPayload, signToken } from './signed-token.ts'

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

/**
 * A request a storage node signed with the key inside the peer id its payload names (`node`): heartbeats,
 * settlements, exits, retain requests. Naming no node, or one whose id embeds no key, is ERR_INVALID_INPUT (field
 * `token`); a token that is malformed, too long or wrongly signed is ERR_UNAUTHORIZED.
 */
export async function openNodeToken(
  token: unknown,
  what: string,
  maxLength = MAX_TOKEN_LENGTH
): Promise<{ node: string; payload: unknown }> {
  const invalid = (message: string, cause?: unknown) =>
    new ShoalError(ErrorCode.INVALID_INPUT, message, { cause, details: { field: 'token' } })
  let node = ''
  const payload = await openTokenSignedByPayload(
    token,
    (p) => {
      const named = (p as { node?: unknown } | null)?.node
      if (typeof named !== 'string' || named.length === 0 || named.length > 128) throw invalid(`${what} names no node`)
      node = named
      try {
        return nodePublicKey(named)
      } catch (cause) {
        throw invalid(`${what} node: ${(cause as Error).message}`, cause)
      }
    },
    ErrorCode.UNAUTHORIZED,
    what,
    maxLength
  )
  return { node, payload }
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
