import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { sha256 } from '@noble/hashes/sha2.js'
import { toBase64Url, utf8 } from '../bytes.ts'
import { ErrorCode, ShoalError } from '../errors.ts'
import { openToken, signToken } from '../signed-token.ts'

/**
 * The tracker's signature over a node's retain list (POST /v1/nodes/retain answers it as `signature`). A node
 * deletes up to half its pieces on a retain list's word, so it acts only on one the tracker signed for it,
 * recently, over exactly the filter it received (issue 12): nobody on the path can hand it another.
 */
export interface RetainListPayload {
  v: 1
  kind: 'retain-list'
  node: string
  createdAt: number
  /** base64url sha256 of the filter as JSON (`retainFilterDigest`). */
  filter: string
}

/** Digest of a retain filter as it travels (its JSON text). */
export function retainFilterDigest(filter: unknown): string {
  return toBase64Url(sha256(utf8(JSON.stringify(filter))))
}

export function signRetainList(trackerKey: PrivateKey, list: { node: string; createdAt: number; filter: unknown }) {
  const payload: RetainListPayload = {
    v: 1,
    kind: 'retain-list',
    node: list.node,
    createdAt: list.createdAt,
    filter: retainFilterDigest(list.filter)
  }
  return signToken(trackerKey, payload)
}

/** ERR_UNAUTHORIZED unless `signature` is the tracker's, for this node, this list, made within `maxAgeMs`. */
export async function verifyRetainList(
  signature: unknown,
  trackerKey: PublicKey,
  expect: { node: string; createdAt: number; filter: unknown; now: number; maxAgeMs: number }
): Promise<void> {
  const p = (await openToken(
    signature,
    trackerKey,
    ErrorCode.UNAUTHORIZED,
    'retain list'
  )) as Partial<RetainListPayload> | null
  const bad = (why: string): never => {
    throw new ShoalError(ErrorCode.UNAUTHORIZED, `retain list: ${why}`)
  }
  if (p === null || typeof p !== 'object' || p.v !== 1 || p.kind !== 'retain-list') bad('not a retain-list signature')
  if (p?.node !== expect.node) bad('signed for another node')
  if (p?.createdAt !== expect.createdAt) bad('signed for another list')
  if (p?.filter !== retainFilterDigest(expect.filter)) bad('the filter is not the one signed')
  if (expect.now - expect.createdAt > expect.maxAgeMs) bad('too old')
}
