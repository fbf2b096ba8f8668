import type { Libp2p } from '@libp2p/interface'
import {
  type AccountKeyring,
  CID,
  type CommitSegmentRequest,
  type DegradedUpload,
  describeError,
  ErrorCode,
  fromBase64Url,
  type GrantedPiece,
  generateContentKey,
  generateObjectNonce,
  isShoalError,
  minStoredPieces,
  type ObjectLayout,
  type ObjectMetadata,
  type ObjectSummary,
  ShoalError,
  sleep,
  toBase64Url
} from '@shoal/core'
import { forEachBounded } from './bounded.ts'
import type { CodecEngine, EncodedPieces } from './codec/segment-worker.ts'
import { putPiece } from './p2p/piece-client.ts'
import type { ProgressListener } from './progress.ts'
import { segmentSource } from './segment-source.ts'
import type { TrackerClient } from './tracker-client.ts'
import type { UnreachableNodes } from './unreachable-nodes.ts'

export interface UploadContext {
  tracker: TrackerClient
  peer: () => Promise<Libp2p>
  keyring: AccountKeyring
  codecs: CodecEngine
  log?: (line: string) => void
  /** Nodes the client failed to reach lately (unreachable-nodes.ts): not asked for in a first placement. */
  unreachable?: UnreachableNodes
}

export interface UploadOptions {
  signal?: AbortSignal
  onProgress?: ProgressListener
  /** Called once the tracker has opened the upload: keep the id to resume after an interruption. */
  onStarted?: (uploadId: string) => void
  /** Continue this interrupted upload: segments the tracker already committed are skipped. */
  resume?: string
  /** Replace an existing object of the same name. */
  overwrite?: boolean
  mime?: string
  /** More sealed metadata to store with the object (a thumbnail, a date). */
  meta?: Omit<ObjectMetadata, 'name' | 'size' | 'mime'>
  /** Segments encoded and sent at once; memory is about 2.5 x segment size per segment in flight. */
  segmentWindow?: number
  /**
   * Placements tried per segment before the upload fails (default 5); each retry moves the failed pieces to
   * other nodes, or, when no others are left, gives the failed ones another chance after a pause.
   */
  placementAttempts?: number
  /** The first of those pauses, doubling after each (default 1 s). */
  retryPauseMs?: number
}

/** What an upload returns: the object, and how degraded it was stored when storage nodes were down. */
export interface UploadResult extends ObjectSummary {
  /** Set when some segments have fewer pieces than planned (nodes were down); the network's repair adds more. */
  degraded?: DegradedUpload
}

/** One line for a person: how degraded an upload was stored, and that it is still readable. */
export function degradedNote(d: DegradedUpload): string {
  return (
    `stored with fewer pieces than planned (storage nodes were down): ${d.segments} of ${d.segmentCount} ` +
    `segment${d.segmentCount === 1 ? '' : 's'} short, the weakest with ${d.fewestPieces} of ${d.k + d.m} pieces; ` +
    `any ${d.k} read it, and repair adds more`
  )
}

/**
 * How long a node that failed a push is left out of the next segments' placements: long enough that a dead node
 * costs one failed push per upload rather than one per segment, short enough that a node that restarted gets
 * pieces again soon.
 */
const UNREACHABLE_FORGET_MS = 30_000

interface OpenUpload {
  uploadId: string
  layout: ObjectLayout
  minCommit: number
  contentKey: Uint8Array
  nonce: Uint8Array
  committed: Set<number>
  /** Nodes that failed a push of this upload, and when. */
  unreachable: Map<string, number>
}

/**
 * Uploads one object: seal and erasure-code each segment (on worker threads), have the tracker place its
 * pieces, push them to their nodes in parallel and commit the segment as soon as enough nodes have signed
 * receipts, cancelling the slowest (long-tail cancellation). The object becomes visible only when the whole
 * upload commits. An interrupted upload can be resumed (`resume`) at segment granularity; any other failure
 * aborts it so nothing stays reserved or billable.
 */
export async function uploadObject(
  ctx: UploadContext,
  name: string,
  source: AsyncIterable<Uint8Array>,
  size: number,
  options: UploadOptions = {}
): Promise<UploadResult> {
  if (name.length === 0 || name.length > 1024) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'name must be 1-1024 characters')
  }
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'size must be a byte count')
  const upload =
    options.resume === undefined ? await begin(ctx, name, size, options) : await reopen(ctx, name, size, options.resume)
  options.onStarted?.(upload.uploadId)
  const codec = await ctx.codecs.open(upload.layout, upload.contentKey, upload.nonce)
  try {
    const peer = await ctx.peer()
    let done = 0
    let wire = 0
    await forEachBounded(
      segmentSource(source, upload.layout),
      options.segmentWindow ?? 3,
      async ({ index, plaintext }) => {
        options.signal?.throwIfAborted()
        // Read the length first: the worker engine takes the plaintext's buffer (transfer, not copy).
        const length = plaintext.byteLength
        if (!upload.committed.has(index)) {
          const encoded = await codec.encode(index, plaintext)
          wire += await storeSegment(ctx, peer, upload, encoded, options)
        }
        done += length
        options.onProgress?.({ bytes: done, total: size, wireBytes: wire })
      }
    )
    const { object, degraded } = await ctx.tracker.commitUpload(upload.uploadId, { signal: options.signal })
    if (degraded !== undefined) ctx.log?.(`${name}: ${degradedNote(degraded)}`)
    return degraded === undefined ? object : { ...object, degraded }
  } catch (err) {
    // An interruption (cancel, lost network or tracker) keeps the upload for a later resume; anything else
    // means this upload cannot finish, so release what it holds.
    if (!isResumable(err, options.signal)) {
      await ctx.tracker.abortUpload(upload.uploadId).catch((abortErr: unknown) => {
        ctx.log?.(`could not abort upload ${upload.uploadId}: ${describeError(abortErr)}`)
      })
    }
    throw err
  } finally {
    codec.close()
  }
}

/** An upload that failed this way is kept by the tracker and can be resumed (`UploadOptions.resume`). */
export function isResumable(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted === true) return true
  return (
    isShoalError(err, ErrorCode.TRACKER_UNREACHABLE) ||
    isShoalError(err, ErrorCode.NOT_ENOUGH_NODES) ||
    isShoalError(err, ErrorCode.ABORTED)
  )
}

async function begin(ctx: UploadContext, name: string, size: number, options: UploadOptions): Promise<OpenUpload> {
  const { keyring } = ctx
  const contentKey = generateContentKey()
  const nonce = generateObjectNonce()
  const meta: ObjectMetadata = {
    modified: Date.now(),
    ...options.meta,
    name,
    size,
    ...(options.mime === undefined ? {} : { mime: options.mime })
  }
  const begun = await ctx.tracker.beginUpload(
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
  return {
    uploadId: begun.uploadId,
    layout: { size, segmentSize: begun.segmentSize, k: begun.k, m: begun.m },
    minCommit: begun.minCommitPieces ?? begun.k + begun.m,
    contentKey,
    nonce,
    committed: new Set(),
    unreachable: new Map()
  }
}

/** Reopens an interrupted upload: the tracker kept the sealed key and which segments are committed. */
async function reopen(ctx: UploadContext, name: string, size: number, uploadId: string): Promise<OpenUpload> {
  const status = await ctx.tracker.uploadStatus(uploadId)
  if (status.nameHash !== (await ctx.keyring.nameHash(name)) || status.size !== size) {
    throw new ShoalError(
      ErrorCode.CONFLICT,
      `upload ${uploadId} was for another file (name or size differ): start a new upload instead`
    )
  }
  return {
    uploadId,
    layout: { size, segmentSize: status.segmentSize, k: status.k, m: status.m },
    minCommit: status.minCommitPieces ?? status.k + status.m,
    contentKey: await ctx.keyring.unwrapContentKey(status.wrappedKey),
    nonce: fromBase64Url(status.nonce),
    committed: new Set(status.committed),
    unreachable: new Map()
  }
}

/**
 * Places one segment and pushes all its pieces at once; commits as soon as `minCommit` receipts are in and
 * cancels the rest. When too many fail, asks for a new placement that moves the failed pieces to other nodes.
 * When the nodes left are too few for every piece but at least minStoredPieces, the segment is stored degraded
 * on those (repair adds the rest later): uploads go on while nodes are down. When setting the failed nodes aside
 * leaves fewer than that, they failed together, most likely for a moment (this side's network dropped, their
 * connections are being replaced): they get another chance after a pause, so a blip costs seconds instead of
 * the whole upload.
 */
async function storeSegment(
  ctx: UploadContext,
  peer: Libp2p,
  upload: OpenUpload,
  segment: EncodedPieces,
  options: UploadOptions
): Promise<number> {
  const attempts = options.placementAttempts ?? 5
  const pauseMs = options.retryPauseMs ?? 1000
  const floor = minStoredPieces(upload.layout)
  const all = segment.cids.map((cid, index) => ({ index, cid, size: segment.pieceSize }))
  const exclude = recentlyUnreachable(upload)
  for (const node of ctx.unreachable?.down() ?? []) exclude.add(node)
  /** No push of this segment failed yet: `exclude` holds only what earlier segments learned. */
  let fresh = true
  /** Set while the segment is placed degraded: the pieces to place. */
  let subset: typeof all | undefined
  let stored = new Set<number>()
  let errors: string[] = []
  let pauses = 0
  for (let attempt = 1; attempt <= attempts; ) {
    const pieces = subset ?? all
    let placed: Awaited<ReturnType<TrackerClient['placeSegment']>>
    try {
      placed = await ctx.tracker.placeSegment(
        upload.uploadId,
        segment.index,
        { pieces, ...(exclude.size === 0 ? {} : { exclude: [...exclude] }) },
        { signal: options.signal }
      )
    } catch (err) {
      if (subset !== undefined && isShoalError(err, ErrorCode.CONFLICT)) {
        // Nodes came back meanwhile: the tracker wants every piece placed.
        subset = undefined
        attempt++
        continue
      }
      if (!isShoalError(err, ErrorCode.NOT_ENOUGH_NODES)) throw err
      const available = availableNodes(err)
      if (available >= floor && available < pieces.length) {
        // The pieces already stored stay where they are; data pieces next (reads need no decoding).
        subset = [...all]
          .sort((a, b) => Number(stored.has(b.index)) - Number(stored.has(a.index)) || a.index - b.index)
          .slice(0, available)
          .sort((a, b) => a.index - b.index)
        ctx.log?.(`segment ${segment.index}: ${available} nodes for ${all.length} pieces; storing it degraded`)
        continue
      }
      if (exclude.size === 0) throw err
      ctx.log?.(`segment ${segment.index}: no nodes left besides the ${exclude.size} that failed; retrying them`)
      exclude.clear()
      subset = undefined
      // Nodes that failed an earlier segment get their next chance at once; this segment's own failures after
      // a pause (a blip on this side costs seconds, not the upload).
      if (!fresh) await sleep(pauseMs * 2 ** pauses++, options.signal)
      continue
    }
    const needed = Math.min(upload.minCommit, placed.pieces.length)
    const outcome = await pushPieces(peer, placed.pieces, segment, needed, options.signal)
    if (outcome.errors.length > 0) fresh = false
    stored = new Set(outcome.receipts.map((r) => r.index))
    errors = outcome.errors.map((e) => e.message)
    const now = Date.now()
    for (const e of outcome.errors) {
      // A refusal that any node would give (a bad grant) is not cured by moving the piece.
      if (isShoalError(e.error, ErrorCode.GRANT_INVALID)) throw e.error
      exclude.add(e.node)
      upload.unreachable.set(e.node, now)
      if (isShoalError(e.error, ErrorCode.NODE_UNREACHABLE)) ctx.unreachable?.failed(e.node, 'unreachable')
      else if (isShoalError(e.error, ErrorCode.TIMEOUT)) ctx.unreachable?.failed(e.node, 'silent')
    }
    for (const r of outcome.receipts) ctx.unreachable?.reached(r.node)
    if (outcome.receipts.length >= needed) {
      await ctx.tracker.commitSegment(
        upload.uploadId,
        segment.index,
        { pieces: outcome.receipts },
        { signal: options.signal }
      )
      return segment.pieceSize * outcome.receipts.length
    }
    ctx.log?.(
      `segment ${segment.index}: attempt ${attempt} stored ${outcome.receipts.length} pieces (${errors.join('; ')})`
    )
    attempt++
  }
  throw new ShoalError(
    ErrorCode.NOT_ENOUGH_NODES,
    `segment ${segment.index} could not be stored after ${attempts} attempts: ${errors.join('; ')}`,
    { details: { segment: segment.index, errors } }
  )
}

/** Nodes that failed a push of this upload lately; older failures are forgotten. */
function recentlyUnreachable(upload: OpenUpload): Set<string> {
  const since = Date.now() - UNREACHABLE_FORGET_MS
  for (const [node, at] of upload.unreachable) if (at < since) upload.unreachable.delete(node)
  return new Set(upload.unreachable.keys())
}

/** How many nodes the tracker said could take a piece (ERR_NOT_ENOUGH_NODES details); 0 when it did not say. */
function availableNodes(err: ShoalError): number {
  const available = (err.details as { available?: unknown } | undefined)?.available
  return typeof available === 'number' && Number.isSafeInteger(available) ? available : 0
}

async function pushPieces(
  peer: Libp2p,
  pieces: GrantedPiece[],
  segment: EncodedPieces,
  minCommit: number,
  signal: AbortSignal | undefined
): Promise<{ receipts: CommitSegmentRequest['pieces']; errors: { node: string; error: unknown; message: string }[] }> {
  const receipts: CommitSegmentRequest['pieces'] = []
  const errors: { node: string; error: unknown; message: string }[] = []
  const cancel = new AbortController()
  const combined = signal === undefined ? cancel.signal : AbortSignal.any([cancel.signal, signal])
  await Promise.all(
    pieces.map(async (p) => {
      try {
        const receipt = await putPiece(
          peer,
          p.node,
          { grant: p.grant, cid: CID.parse(p.cid), bytes: segment.pieces[p.index]! },
          { signal: combined }
        )
        receipts.push({ index: p.index, cid: p.cid, node: p.node.peerId, receipt })
        // Long-tail cancellation: enough pieces are durable, the slowest pushes are not waited for.
        if (receipts.length >= minCommit) cancel.abort(new ShoalError(ErrorCode.ABORTED, 'enough pieces stored'))
      } catch (error) {
        if (cancel.signal.aborted) return
        errors.push({
          node: p.node.peerId,
          error,
          message: `piece ${p.index} on ${p.node.peerId}: ${describeError(error)}`
        })
      }
    })
  )
  signal?.throwIfAborted()
  return { receipts, errors }
}
