import { fromBase64Url } from './bytes.ts'
import { parsePieceCid } from './cid.ts'
import { OBJECT_NONCE_BYTES } from './constants.ts'
import { ErrorCode, ShoalError } from './errors.ts'
import { type ObjectLayout, segmentCount, validateLayout } from './layout.ts'

/** Where one piece of a segment lives. */
export interface PiecePlacement {
  /** 0..k-1 data, k..k+m-1 parity. */
  index: number
  cid: string
  /** Peer id of the node holding it. */
  node: string
  /** base64url Merkle root of the piece (merkle.ts), recorded for audits; absent for pieces stored without one. */
  root?: string
}

export interface SegmentManifest {
  index: number
  pieces: PiecePlacement[]
}

/**
 * What the tracker keeps about a committed object. No key: the content key is stored only wrapped by the
 * owner's master key, and the name only sealed.
 */
export interface Manifest extends ObjectLayout {
  version: 1
  objectId: string
  /** base64url, 8 bytes: public, it only makes segment nonces unique. */
  nonce: string
  segments: SegmentManifest[]
}

/** Validates a manifest from an untrusted source; returns it unchanged or throws ERR_INVALID_MANIFEST. */
export function validateManifest(value: unknown): Manifest {
  const fail = (what: string): never => {
    throw new ShoalError(ErrorCode.INVALID_MANIFEST, `invalid manifest: ${what}`)
  }
  if (value === null || typeof value !== 'object') return fail('not an object')
  const m = value as Partial<Manifest>
  if (m.version !== 1) fail('unknown version')
  if (typeof m.objectId !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(m.objectId)) fail('objectId')
  try {
    validateLayout(m as ObjectLayout)
  } catch (err) {
    fail((err as Error).message)
  }
  try {
    if (fromBase64Url(String(m.nonce)).byteLength !== OBJECT_NONCE_BYTES) fail('nonce length')
  } catch {
    fail('nonce')
  }
  const layout = m as Manifest
  if (!Array.isArray(m.segments) || m.segments.length !== segmentCount(layout)) fail('segment count')
  layout.segments.forEach((segment, s) => {
    if (segment?.index !== s || !Array.isArray(segment.pieces)) fail(`segment ${s}`)
    const seen = new Set<number>()
    for (const piece of segment.pieces) {
      if (!Number.isInteger(piece?.index) || piece.index < 0 || piece.index >= layout.k + layout.m) {
        fail(`segment ${s} piece index`)
      }
      if (seen.has(piece.index)) fail(`segment ${s} piece ${piece.index} listed twice`)
      seen.add(piece.index)
      try {
        parsePieceCid(piece.cid)
      } catch {
        fail(`segment ${s} piece ${piece.index} cid`)
      }
      if (typeof piece.node !== 'string' || piece.node.length === 0) fail(`segment ${s} piece ${piece.index} node`)
      if (piece.root !== undefined && (typeof piece.root !== 'string' || piece.root.length !== 43)) {
        fail(`segment ${s} piece ${piece.index} root`)
      }
    }
    if (segment.pieces.length < layout.k) fail(`segment ${s} has fewer than k pieces`)
  })
  return layout
}
