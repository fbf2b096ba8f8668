import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { parsePieceCid } from './cid.ts'
import { ErrorCode, ShoalError } from './errors.ts'
import { openToken, signToken } from './signed-token.ts'

export type GrantKind = 'put' | 'get' | 'delete' | 'audit'
const KINDS: readonly GrantKind[] = ['put', 'get', 'delete', 'audit']

/** What the tracker allows one node to do with one piece, once, until `exp`. */
export interface Grant {
  v: 1
  kind: GrantKind
  /** Piece CID. */
  piece: string
  /** Peer id of the only node that may honour it. */
  node: string
  /** Account the bytes are billed to. */
  account: string
  /** Most bytes the operation may move. */
  size: number
  /** Unique id: a node honours a serial once (replay protection) and settles by it. */
  serial: string
  /** Issued at and expires at, in ms since the epoch. */
  iat: number
  exp: number
  /** Audit grants only: the leaves challenged (see merkle.ts), so the challenge is the tracker's, not the caller's. */
  leaves?: number[]
  /**
   * Get grants only, when the client asked: its receipt key (base64url protobuf Ed25519 public key). The node
   * settles the client's receipts signed with it (get-receipt.ts) to be paid for the bytes it served.
   */
  rk?: string
  /**
   * Get grants with `rk`: who asked for the grant, `a:<account id>` or `s:<share id>`. The tracker binds each
   * receipt key to the first that used it and settles receipts only for grants whose asker holds their key.
   */
  by?: string
  /**
   * Put and delete grants: the upload (= object id) the piece belongs to. A node records every object a piece
   * was stored for and deletes the file only when a delete grant of each such object released it, so a delete
   * can never remove a piece through someone else's upload (docs/security.md).
   */
  obj?: string
}

/** Most leaves one audit grant challenges: keeps the grant and the answer's header small. */
export const MAX_AUDIT_LEAVES = 16

/** Parses a grant's payload without checking its signature (the caller checked it). */
export function grantFromPayload(value: unknown): Grant {
  return parseGrant(value)
}

export function signGrant(trackerKey: PrivateKey, grant: Grant): Promise<string> {
  return signToken(trackerKey, grant)
}

export interface GrantExpectation {
  kind: GrantKind
  node: string
  piece: string
  now: number
  /** Tolerated clock difference between tracker and node. */
  skewMs?: number
}

const DEFAULT_SKEW_MS = 30_000

/**
 * Verifies a grant token for one operation. Replay is the caller's concern: only the node knows which serials
 * it has already honoured.
 */
export async function verifyGrant(token: unknown, trackerKey: PublicKey, expect: GrantExpectation): Promise<Grant> {
  const grant = parseGrant(await openToken(token, trackerKey, ErrorCode.GRANT_INVALID, 'grant'))
  const skew = expect.skewMs ?? DEFAULT_SKEW_MS
  if (grant.kind !== expect.kind) {
    throw new ShoalError(ErrorCode.GRANT_WRONG_KIND, `grant is for ${grant.kind}, not ${expect.kind}`)
  }
  if (grant.node !== expect.node) {
    throw new ShoalError(ErrorCode.GRANT_WRONG_NODE, `grant is for node ${grant.node}, not this node`)
  }
  if (grant.piece !== expect.piece) {
    throw new ShoalError(ErrorCode.GRANT_WRONG_PIECE, `grant is for piece ${grant.piece}, not ${expect.piece}`)
  }
  if (grant.exp + skew < expect.now) {
    throw new ShoalError(
      ErrorCode.GRANT_EXPIRED,
      `grant ${grant.serial} expired at ${new Date(grant.exp).toISOString()}`
    )
  }
  if (grant.iat - skew > expect.now) {
    throw new ShoalError(ErrorCode.GRANT_INVALID, `grant ${grant.serial} is issued in the future`)
  }
  return grant
}

function parseGrant(value: unknown): Grant {
  const g = value as Partial<Grant> | null
  const bad = (field: string): never => {
    throw new ShoalError(ErrorCode.GRANT_INVALID, `grant field "${field}" is missing or invalid`)
  }
  if (g === null || typeof g !== 'object') return bad('payload')
  if (g.v !== 1) bad('v')
  if (!KINDS.includes(g.kind as GrantKind)) bad('kind')
  if (typeof g.piece !== 'string') bad('piece')
  try {
    parsePieceCid(g.piece)
  } catch {
    bad('piece')
  }
  if (typeof g.node !== 'string' || g.node.length === 0 || g.node.length > 128) bad('node')
  if (typeof g.account !== 'string' || g.account.length > 128) bad('account')
  if (!Number.isSafeInteger(g.size) || (g.size as number) < 0) bad('size')
  if (typeof g.serial !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(g.serial)) bad('serial')
  if (!Number.isSafeInteger(g.iat)) bad('iat')
  if (!Number.isSafeInteger(g.exp)) bad('exp')
  if (g.kind === 'audit') {
    const leaves = g.leaves
    if (
      !Array.isArray(leaves) ||
      leaves.length === 0 ||
      leaves.length > MAX_AUDIT_LEAVES ||
      !leaves.every((l) => Number.isSafeInteger(l) && l >= 0)
    ) {
      bad('leaves')
    }
  } else if (g.leaves !== undefined) bad('leaves')
  if (g.rk !== undefined && (g.kind !== 'get' || typeof g.rk !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(g.rk))) {
    bad('rk')
  }
  if (
    g.by !== undefined &&
    (g.rk === undefined || typeof g.by !== 'string' || !/^[as]:[A-Za-z0-9_-]{1,64}$/.test(g.by))
  ) {
    bad('by')
  }
  if (g.obj !== undefined) {
    if (
      (g.kind !== 'put' && g.kind !== 'delete') ||
      typeof g.obj !== 'string' ||
      !/^[A-Za-z0-9_-]{8,64}$/.test(g.obj)
    ) {
      bad('obj')
    }
  }
  return g as Grant
}
