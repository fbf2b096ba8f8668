import type { Libp2p } from '@libp2p/interface'
import {
  type AccountKeyring,
  type CommitSegmentRequest,
  describeError,
  type EncodedSegment,
  type ErasureCodec,
  ErrorCode,
  generateContentKey,
  generateObjectNonce,
  isShoalError,
  type ObjectSummary,
  SegmentCodec,
  ShoalError,
  toBase64Url
} from '@shoal/core'
import { forEachBounded } from './bounded.ts'
import { putPiece } from './p2p/piece-client.ts'
import type { ProgressListener } from './progress.ts'
import { segmentSource } from './segment-source.ts'
import type { TrackerClient } from './tracker-client.ts'

export interface UploadContext {
  tracker: TrackerClient
  peer: () => Promise<Libp2p>
  keyring: AccountKeyring
  erasure: ErasureCodec
  log?: (line: string) => void
}

export interface UploadOptions {
  signal?: AbortSignal
  onProgress?: ProgressListener
  /** Replace an existing object of the same name. */
  overwrite?: boolean
  mime?: string
  /** Segments encoded and sent at once; memory is about 2.5 x segment size per segment in flight. */
  segmentWindow?: number
  /** Placements tried per segment before the upload fails; each retry avoids the nodes that failed. */
  placementAttempts?: number
}

/**
 * Uploads one object: seal and erasure-code each segment, have the tracker place its pieces, push them to their
 * nodes in parallel, and commit the segment with the nodes' receipts. The object becomes visible only when the
 * whole upload commits; on failure the upload is aborted so nothing stays reserved or billable.
 */
export async function uploadObject(
  ctx: UploadContext,
  name: string,
  source: AsyncIterable<Uint8Array>,
  size: number,
  options: UploadOptions = {}
): Promise<ObjectSummary> {
  if (name.length === 0 || name.length > 1024)
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'name must be 1-1024 characters')
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'size must be a byte count')
  const { tracker, keyring } = ctx
  const contentKey = generateContentKey()
  const nonce = generateObjectNonce()
  const meta = { name, size, modified: Date.now(), ...(options.mime === undefined ? {} : { mime: options.mime }) }
  const begin = await tracker.beginUpload(
    {
      nameHash: await keyring.nameHash(name),
      size,
      meta: await keyring.sealMetadata(meta),
      wrappedKey: await keyring.wrapContentKey(contentKey),
      nonce: toBase64Url(nonce),
      overwrite: options.overwrite === true
    },
    { signal: options.signal }
  )
  const layout = { size, segmentSize: begin.segmentSize, k: begin.k, m: begin.m }
  try {
    const codec = await SegmentCodec.create(layout, ctx.erasure, contentKey, nonce)
    const peer = await ctx.peer()
    let done = 0
    let wire = 0
    await forEachBounded(segmentSource(source, layout), options.segmentWindow ?? 2, async ({ index, plaintext }) => {
      options.signal?.throwIfAborted()
      const encoded = await codec.encode(index, plaintext)
      wire += await storeSegment(ctx, peer, begin.uploadId, encoded, options)
      done += plaintext.byteLength
      options.onProgress?.({ bytes: done, total: size, wireBytes: wire })
    })
    const { object } = await tracker.commitUpload(begin.uploadId, { signal: options.signal })
    return object
  } catch (err) {
    await tracker.abortUpload(begin.uploadId).catch((abortErr: unknown) => {
      ctx.log?.(`could not abort upload ${begin.uploadId}: ${describeError(abortErr)}`)
    })
    throw err
  }
}

/** Places one segment, pushes every piece, commits it; retries placement on fresh nodes when some fail. */
async function storeSegment(
  ctx: UploadContext,
  peer: Libp2p,
  uploadId: string,
  segment: EncodedSegment,
  options: UploadOptions
): Promise<number> {
  const attempts = options.placementAttempts ?? 3
  const exclude = new Set<string>()
  let lastErrors: string[] = []
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const placed = await ctx.tracker.placeSegment(
      uploadId,
      segment.index,
      {
        pieces: segment.cids.map((cid, index) => ({ index, cid: cid.toString(), size: segment.pieceSize })),
        ...(exclude.size === 0 ? {} : { exclude: [...exclude] })
      },
      { signal: options.signal }
    )
    const results = await Promise.allSettled(
      placed.pieces.map(async (p) => {
        const receipt = await putPiece(
          peer,
          p.node,
          { grant: p.grant, cid: segment.cids[p.index]!, bytes: segment.pieces[p.index]! },
          { signal: options.signal }
        )
        return { index: p.index, cid: p.cid, node: p.node.peerId, receipt }
      })
    )
    options.signal?.throwIfAborted()
    const pieces: CommitSegmentRequest['pieces'] = []
    lastErrors = []
    results.forEach((r, i) => {
      const node = placed.pieces[i]!.node.peerId
      if (r.status === 'fulfilled') pieces.push(r.value)
      else {
        // A node refusing for a reason that another node would share (bad grant, quota) is not retried elsewhere.
        if (isShoalError(r.reason, ErrorCode.GRANT_INVALID)) throw r.reason
        exclude.add(node)
        lastErrors.push(`piece ${placed.pieces[i]!.index} on ${node}: ${describeError(r.reason)}`)
      }
    })
    if (lastErrors.length === 0) {
      await ctx.tracker.commitSegment(uploadId, segment.index, { pieces }, { signal: options.signal })
      return segment.pieceSize * pieces.length
    }
    ctx.log?.(`segment ${segment.index}: attempt ${attempt} failed (${lastErrors.join('; ')})`)
  }
  throw new ShoalError(
    ErrorCode.NOT_ENOUGH_NODES,
    `segment ${segment.index} could not be stored after ${attempts} attempts: ${lastErrors.join('; ')}`,
    { details: { segment: segment.index, errors: lastErrors } }
  )
}
