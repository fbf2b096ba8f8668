import type { Libp2p } from '@libp2p/interface'
import {
  CID,
  ErrorCode,
  type Grant,
  loadErasureCodec,
  merkleRoot,
  type NodeAddress,
  peekToken,
  pieceCid,
  ShoalError
} from '@shoal/core'
import type { ReceiptBook } from '../receipts.ts'
import { getPiece } from './piece-client.ts'

export interface RebuildSource {
  index: number
  cid: string
  node: NodeAddress
}

export interface RebuildInit<S extends RebuildSource = RebuildSource> {
  /** Names the segment in errors. */
  what?: string
  k: number
  m: number
  pieceSize: number
  /** Holders to read from, best first: k at a time, the next ones when some fail. */
  sources: readonly S[]
  /** The get grant for reading `source` (signed on demand by the tracker, or taken from a repair order). */
  grantFor: (source: S) => Promise<string> | string
  /** Indexes to rebuild, and the CID each must have where the manifest records one. */
  rebuild: readonly { index: number; cid?: string }[]
  stallMs?: number
  signal?: AbortSignal
  onSourceError?: (source: S, err: unknown) => void
  /**
   * Pays the sources whose grants carry a receipt key: receipts on the get stream (get protocol 2.0.0), and
   * through the book when the stream could not take the last one.
   */
  receipts?: ReceiptBook
}

export interface RebuiltPiece {
  index: number
  cid: string
  bytes: Uint8Array
  root: string
}

/**
 * Reads k pieces of a segment and rebuilds others with Reed-Solomon on the ciphertext (no key needed): the
 * core of repair, run by a storage node for the tracker (the repair protocol) or by the tracker itself when no
 * node can. Every rebuilt piece is checked against the CID the manifest records for it.
 */
export async function rebuildPieces<S extends RebuildSource>(
  peer: Libp2p,
  init: RebuildInit<S>
): Promise<RebuiltPiece[]> {
  const { k, m, pieceSize: size } = init
  const book = init.receipts
  const shards = new Uint8Array(size * (k + m))
  const present = Array.from({ length: k + m }, () => false)
  const queue = [...init.sources]
  let have = 0
  while (have < k && queue.length > 0) {
    const batch = queue.splice(0, k - have)
    await Promise.all(
      batch.map(async (source) => {
        try {
          const grant = await init.grantFor(source)
          const bytes = await getPiece(
            peer,
            source.node,
            { grant, cid: CID.parse(source.cid), size },
            {
              ...(init.signal === undefined ? {} : { signal: init.signal }),
              ...(init.stallMs === undefined ? {} : { stallMs: init.stallMs }),
              ...((peekToken(grant) as Grant).rk === undefined ? {} : book?.forPiece(grant, size, () => source.node))
            }
          )
          if (present[source.index] === true) return
          shards.set(bytes, source.index * size)
          present[source.index] = true
          have++
        } catch (err) {
          init.signal?.throwIfAborted()
          init.onSourceError?.(source, err)
        }
      })
    )
  }
  if (have < k) {
    throw new ShoalError(
      ErrorCode.NOT_ENOUGH_PIECES,
      `${init.what ?? 'segment'}: ${have} of the ${k} pieces needed could be read`
    )
  }
  const codec = await loadErasureCodec()
  // Rebuild the data shards, then recompute parity from them: every missing index comes back byte-identical.
  codec.reconstruct(shards, k, m, present)
  codec.encode(shards, k, m)
  return Promise.all(
    init.rebuild.map(async ({ index, cid: expected }) => {
      const bytes = shards.slice(index * size, (index + 1) * size)
      const cid = (await pieceCid(bytes)).toString()
      if (expected !== undefined && expected !== cid) {
        throw new ShoalError(
          ErrorCode.ERASURE_FAILED,
          `rebuilt piece ${index} is ${cid}, the manifest says ${expected}`
        )
      }
      return { index, cid, bytes, root: await merkleRoot(bytes) }
    })
  )
}
