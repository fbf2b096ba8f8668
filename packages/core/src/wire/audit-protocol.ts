import type { Stream } from '@libp2p/interface'
import { fromBase64Url, toBase64Url } from '../bytes.ts'
import { ErrorCode, errorFromCode, ShoalError } from '../errors.ts'
import { MERKLE_HASH_BYTES, MERKLE_LEAF_BYTES, merkleLeafCount, merkleLeafRange, verifyMerkleProof } from '../merkle.ts'
import { ByteReader } from './byte-reader.ts'
import { encodeFrame, readRequiredFrame } from './frame.ts'
import { sendBounded } from './send-bounded.ts'

/**
 * The audit protocol: the request is one header frame `{ grant, piece }` carrying an audit grant whose `leaves`
 * are the challenge. A successful answer is a header `{ ok: true, pieceSize, leafBytes, paths }` (one path per
 * challenged leaf, in the grant's order, base64url hashes from the leaf's sibling up) followed by exactly the
 * challenged leaves' bytes, concatenated in the same order. Failures are the usual `{ ok: false, code, message }`.
 */
export const PROTOCOL_AUDIT = '/shoal/piece/audit/1.0.0'

export interface AuditRequest {
  grant: string
  piece: string
}

export interface AuditResponse {
  ok: true
  pieceSize: number
  leafBytes: number
  paths: string[][]
}

export function parseAuditRequest(frame: Record<string, unknown>): AuditRequest {
  const { grant, piece } = frame
  if (typeof grant !== 'string' || grant.length === 0 || grant.length > 4096) {
    throw new ShoalError(ErrorCode.PROTOCOL, 'request field "grant" is missing or invalid')
  }
  if (typeof piece !== 'string' || piece.length === 0 || piece.length > 128) {
    throw new ShoalError(ErrorCode.PROTOCOL, 'request field "piece" is missing or invalid')
  }
  return { grant, piece }
}

export function encodeAuditPaths(paths: readonly (readonly Uint8Array[])[]): string[][] {
  return paths.map((path) => path.map(toBase64Url))
}

/** Bytes that follow a successful answer for `leaves` of a piece of `pieceSize` bytes. */
export function auditBodyLength(pieceSize: number, leafBytes: number, leaves: readonly number[]): number {
  return leaves.reduce((sum, leaf) => sum + merkleLeafRange(pieceSize, leaf, leafBytes).length, 0)
}

/** Checks an answer's header fields from an untrusted node against what the tracker knows of the piece. */
export function parseAuditResponse(
  header: Record<string, unknown>,
  expect: { pieceSize: number; leafBytes: number; leaves: readonly number[] }
): { paths: Uint8Array[][]; bodyLength: number } {
  const bad = (what: string): never => {
    throw new ShoalError(ErrorCode.PROTOCOL, `audit answer: ${what}`)
  }
  if (header.pieceSize !== expect.pieceSize) bad(`piece size ${String(header.pieceSize)}, expected ${expect.pieceSize}`)
  if (header.leafBytes !== expect.leafBytes) bad(`leaf size ${String(header.leafBytes)}, expected ${expect.leafBytes}`)
  const paths = header.paths
  if (!Array.isArray(paths) || paths.length !== expect.leaves.length) bad('one path per challenged leaf expected')
  const decoded = (paths as unknown[]).map((path) => {
    if (!Array.isArray(path) || path.length > 64) return bad('a path is not a list of hashes')
    return path.map((h) => {
      try {
        const bytes = fromBase64Url(String(h))
        if (bytes.byteLength === MERKLE_HASH_BYTES) return bytes
      } catch {}
      return bad('a path hash is not 32 bytes of base64url')
    })
  })
  return { paths: decoded, bodyLength: auditBodyLength(expect.pieceSize, expect.leafBytes, expect.leaves) }
}

/**
 * Verifies each challenged leaf (its bytes sliced from `body` in order) against the recorded root. Returns the
 * indexes of the leaves that failed: empty means the node proved it holds them.
 */
export async function verifyAuditLeaves(
  root: Uint8Array,
  expect: { pieceSize: number; leafBytes: number; leaves: readonly number[] },
  paths: readonly Uint8Array[][],
  body: Uint8Array
): Promise<number[]> {
  const count = merkleLeafCount(expect.pieceSize, expect.leafBytes)
  const failed: number[] = []
  let offset = 0
  for (let i = 0; i < expect.leaves.length; i++) {
    const leaf = expect.leaves[i] as number
    const { length } = merkleLeafRange(expect.pieceSize, leaf, expect.leafBytes)
    const bytes = body.subarray(offset, offset + length)
    offset += length
    if (!(await verifyMerkleProof(root, count, leaf, bytes, paths[i] ?? []))) failed.push(leaf)
  }
  return failed
}

export interface AuditChallenge {
  /** An audit grant for this node and piece whose `leaves` are the challenge. */
  grant: string
  piece: string
  leaves: readonly number[]
  /** What the tracker recorded: the root and the piece size. */
  root: Uint8Array
  pieceSize: number
  leafBytes?: number
}

/**
 * The auditor's side over an open audit stream: sends the request, reads the answer and checks it. Returns the
 * challenged leaves that failed (empty: passed). A refusal from the node (e.g. ERR_PIECE_NOT_FOUND) is thrown as
 * the typed error it names; a malformed or short answer is ERR_PROTOCOL / ERR_TRUNCATED.
 */
export async function runAudit(
  stream: Stream,
  challenge: AuditChallenge,
  options: { signal?: AbortSignal } = {}
): Promise<number[]> {
  const reader = new ByteReader(stream)
  await sendBounded(stream, [encodeFrame({ grant: challenge.grant, piece: challenge.piece })], options)
  await stream.close(options)
  const header = await readRequiredFrame(reader, 'audit answer')
  if (header.ok !== true) throw errorFromCode(header.code, header.message)
  const expect = {
    pieceSize: challenge.pieceSize,
    leafBytes: challenge.leafBytes ?? MERKLE_LEAF_BYTES,
    leaves: challenge.leaves
  }
  const { paths, bodyLength } = parseAuditResponse(header, expect)
  const body = await reader.readExactly(bodyLength)
  return verifyAuditLeaves(challenge.root, expect, paths, body)
}
