import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equalBytes } from './bytes.ts'
import { ErrorCode, ShoalError } from './errors.ts'

/** Pieces are content-addressed: CIDv1, raw codec, sha2-256. The receiver of a piece always recomputes it. */
export async function pieceCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/** Parses and checks a piece id from untrusted input; the canonical string form rules out path tricks. */
export function parsePieceCid(text: unknown): CID {
  if (typeof text !== 'string' || text.length === 0 || text.length > 128) {
    throw new ShoalError(ErrorCode.INVALID_CID, 'piece id must be a CID string')
  }
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch (cause) {
    throw new ShoalError(ErrorCode.INVALID_CID, `"${text.slice(0, 80)}" is not a CID`, { cause })
  }
  if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== sha256.code) {
    throw new ShoalError(ErrorCode.INVALID_CID, `piece id ${text} must be a CIDv1 with raw codec and sha2-256`)
  }
  if (cid.toString() !== text) throw new ShoalError(ErrorCode.INVALID_CID, `piece id ${text} is not in canonical form`)
  return cid
}

export async function verifyPiece(cid: CID, bytes: Uint8Array): Promise<void> {
  const digest = await sha256.digest(bytes)
  if (!equalBytes(digest.digest, cid.multihash.digest)) {
    throw new ShoalError(ErrorCode.PIECE_CORRUPT, `piece ${cid} does not match its hash`, {
      details: { cid: cid.toString() }
    })
  }
}

export { CID }
