import {
  type BeginUploadResponse,
  bytesPerNode,
  type CommitSegmentResponse,
  type CommitUploadResponse,
  type DegradedUpload,
  ErrorCode,
  isShoalError,
  type ListUploadsResponse,
  type Manifest,
  minStoredPieces,
  type ObjectLayout,
  type PiecePlacement,
  type PlaceSegmentResponse,
  pieceSize,
  ShoalError,
  segmentCount,
  type UploadStatus,
  validateManifest,
  verifyReceipt
} from '@shoal/core'
import type { TrackerConfig } from './config.ts'
import { SWEEP_BATCH } from './constants.ts'
import { chooseLayout } from './erasure-policy.ts'
import { deleteOrders, type GrantSigner } from './grants.ts'
import { randomId } from './ids.ts'
import type { NodeRegistry } from './node-registry.ts'
import { objectSummary } from './objects.ts'
import type {
  AccountRecord,
  ObjectRecord,
  PlacedPiece,
  StoreParts,
  UploadRecord,
  UploadSegmentRecord
} from './store/store.ts'
import { type BeginUpload, parseCommitSegment, parsePlaceSegment, parseSegmentIndex } from './validate.ts'

export interface UploadsComponents {
  store: StoreParts<'uploads' | 'objects' | 'coordination'>
  config: TrackerConfig
  registry: NodeRegistry
  signer: GrantSigner
  /** The repair check (ops/repairer.ts), told when a commit queues repairs so that it drains at once. */
  repairs?: { wake(): void }
}

/** Most missing segment indexes an ERR_UPLOAD_INCOMPLETE lists. */
const MAX_MISSING_LISTED = 16

/**
 * The upload flow: begin (quota and name check, reservation) → place each segment (put grants) → commit each
 * segment (the nodes' signed receipts) → commit the upload (the object appears). Nothing is visible or billed as
 * an object until the last step; abort and expiry hand every piece that may exist to its node's delete queue.
 */
export class Uploads {
  readonly #store: StoreParts<'uploads' | 'objects' | 'coordination'>
  readonly #config: TrackerConfig
  readonly #registry: NodeRegistry
  readonly #signer: GrantSigner
  readonly #repairs: { wake(): void } | undefined

  constructor(components: UploadsComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#registry = components.registry
    this.#signer = components.signer
    this.#repairs = components.repairs
  }

  /**
   * Begins an upload for `ownerId`. One store call: the store reserves the quota and checks the name in the
   * same step (ERR_QUOTA_EXCEEDED, then ERR_CONFLICT with details.objectId: `beginUpload`); neither the account
   * nor the name is read first (each read was a database round trip on every upload). Too few nodes for any
   * layout is refused before that, as it needs no store.
   */
  async begin(ownerId: string, request: BeginUpload): Promise<BeginUploadResponse> {
    const { segmentSize } = this.#config.policy
    // The layout is fixed here for the life of the upload and its object, from the nodes that can hold segment
    // 0's pieces (the largest): if those fit nowhere, say so now rather than after the first segment.
    let choice = chooseLayout(this.#config.policy, request.size, await this.#registry.freeSpace())
    if (!('k' in choice)) {
      // The registry's view may predate nodes that joined through another tracker: look once more.
      this.#registry.refresh()
      choice = chooseLayout(this.#config.policy, request.size, await this.#registry.freeSpace())
    }
    if (!('k' in choice)) {
      throw new ShoalError(
        ErrorCode.NOT_ENOUGH_NODES,
        `${choice.needed} storage nodes needed, ${choice.available} available`,
        { details: { needed: choice.needed, available: choice.available } }
      )
    }
    const { k, m, minCommitPieces } = choice
    const layout: ObjectLayout = { size: request.size, k, m, segmentSize }
    const now = this.#config.clock.now()
    const upload: UploadRecord = {
      id: randomId(),
      owner: ownerId,
      nameHash: request.nameHash,
      meta: request.meta,
      wrappedKey: request.wrappedKey,
      nonce: request.nonce,
      size: request.size,
      k,
      m,
      segmentSize,
      segmentCount: segmentCount(layout),
      minCommitPieces,
      overwrite: request.overwrite,
      createdAt: now,
      expiresAt: now + this.#config.uploadTtlMs
    }
    await this.#store.uploads.beginUpload(upload)
    this.#config.logger.debug(
      { upload: upload.id, size: upload.size, segments: upload.segmentCount, k, m, minCommitPieces },
      'upload begun'
    )
    return {
      uploadId: upload.id,
      k,
      m,
      segmentSize,
      segmentCount: upload.segmentCount,
      expiresAt: upload.expiresAt,
      minCommitPieces
    }
  }

  /** What a client needs to resume the upload: its layout, sealed key and nonce, and the committed segments. */
  async status(ownerId: string, uploadId: string): Promise<UploadStatus> {
    const { upload, segments } = await this.#get(ownerId, uploadId)
    return statusOf(upload, segments)
  }

  /** The caller's uploads in progress (unexpired), oldest first, each as `status` describes it. */
  async list(owner: AccountRecord): Promise<ListUploadsResponse> {
    const now = this.#config.clock.now()
    const uploads = (await this.#store.uploads.listUploads(owner.id)).filter((u) => u.expiresAt > now)
    return {
      uploads: await Promise.all(
        uploads.map(async (u) => statusOf(u, await this.#store.uploads.listUploadSegments(u.id)))
      )
    }
  }

  async place(ownerId: string, uploadId: string, indexParam: unknown, body: unknown): Promise<PlaceSegmentResponse> {
    const index = parseSegmentIndex(indexParam, Number.MAX_SAFE_INTEGER)
    const { upload, segments } = await this.#get(ownerId, uploadId, index)
    parseSegmentIndex(indexParam, upload.segmentCount)
    const total = upload.k + upload.m
    const request = parsePlaceSegment(body, total, minStoredPieces(upload))
    const size = pieceSize(upload, index)
    // A degraded placement (fewer than k + m pieces) only when the nodes for all of them are not there: a client
    // may not trade its segments' safety, and the repair traffic to restore it, for a quicker upload.
    if (request.pieces.length < total) {
      const available = await this.#registry.available(size, request.exclude)
      if (available >= total) {
        throw new ShoalError(
          ErrorCode.CONFLICT,
          `${available} storage nodes can take pieces of segment ${index}: place all ${total} of them`,
          { details: { index, available, needed: total } }
        )
      }
    }
    for (const piece of request.pieces) {
      if (piece.size !== size) {
        throw new ShoalError(
          ErrorCode.INVALID_INPUT,
          `pieces of segment ${index} are ${size} bytes, not ${piece.size}`,
          {
            details: { field: `pieces[${piece.index}].size`, expected: size }
          }
        )
      }
    }
    const previous = segments[0]
    // On a retry, pieces stay where they were unless their node is excluded (the same piece: the same CID).
    const sticky = request.pieces.map((piece) => {
      const before = previous?.placement.pieces.find((p) => p.index === piece.index)
      return before?.cid === piece.cid ? before.node : undefined
    })
    const nodes = await this.#registry.place(request.pieces.length, size, index, request.exclude, sticky)
    const granted = await Promise.all(
      request.pieces.map(async (piece, i) => {
        const node = nodes[i] as (typeof nodes)[number]
        const { serial, grant } = await this.#signer.sign({
          kind: 'put',
          piece: piece.cid,
          node: node.peerId,
          account: ownerId,
          size,
          obj: upload.id
        })
        const placed: PlacedPiece = { index: piece.index, cid: piece.cid, node: node.peerId, serial, size }
        if (piece.root !== undefined) placed.root = piece.root
        return {
          placed,
          response: { index: piece.index, cid: piece.cid, node: { peerId: node.peerId, addrs: node.addrs }, grant }
        }
      })
    )
    const pieces = granted.map((g) => g.placed)
    const segment: UploadSegmentRecord = { index, placement: { index, id: randomId(), pieces } }
    const stale = staleAfter(previous, pieces)
    if (stale.length > 0) segment.stale = stale
    await this.#store.uploads.placeSegment(upload.id, segment)
    return { pieces: granted.map((g) => g.response) }
  }

  /**
   * Commits a segment with the nodes' receipts for at least `minCommitPieces` of its pieces. The first commit
   * wins: a repeated one (a retry after a lost answer) is checked the same way, then succeeds without changing
   * anything and says `alreadyCommitted`. Placing the segment again is the way to change a committed segment.
   */
  async commitSegment(
    ownerId: string,
    uploadId: string,
    indexParam: unknown,
    body: unknown
  ): Promise<CommitSegmentResponse> {
    const index = parseSegmentIndex(indexParam, Number.MAX_SAFE_INTEGER)
    const { upload, segments } = await this.#get(ownerId, uploadId, index)
    parseSegmentIndex(indexParam, upload.segmentCount)
    const request = parseCommitSegment(body, upload.k + upload.m)
    const segment = segments[0]
    if (segment === undefined) {
      throw new ShoalError(ErrorCode.CONFLICT, `segment ${index} was never placed`, { details: { index } })
    }
    // A degraded placement (see place) needs every piece it placed; a full one, the upload's threshold.
    const minCommitPieces = Math.min(minCommitOf(upload), segment.placement.pieces.length)
    if (request.pieces.length < minCommitPieces) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `a segment needs receipts for ${minCommitPieces} pieces`, {
        details: { field: 'pieces', needed: minCommitPieces, got: request.pieces.length }
      })
    }
    const placed = new Map(segment.placement.pieces.map((p) => [p.index, p]))
    const committed: PiecePlacement[] = await Promise.all(
      request.pieces.map(async (piece) => {
        const grant = placed.get(piece.index)
        if (grant === undefined || grant.cid !== piece.cid || grant.node !== piece.node) {
          throw new ShoalError(
            ErrorCode.CONFLICT,
            `piece ${piece.index} of segment ${index} does not match its placement (was the segment placed again?)`,
            { details: { index, piece: piece.index } }
          )
        }
        let root: string
        try {
          ;({ root } = await verifyReceipt(piece.receipt, {
            node: grant.node,
            piece: grant.cid,
            serial: grant.serial,
            size: grant.size
          }))
        } catch (err) {
          if (!isShoalError(err)) throw err
          throw new ShoalError(err.code, `piece ${piece.index} of segment ${index}: ${err.message}`, {
            cause: err,
            details: { index, piece: piece.index }
          })
        }
        // The node computed the root from the bytes it stored and signed it: that is what audits check. A client
        // that claimed another root lied or is broken; either way the upload must not frame the node.
        if (grant.root !== undefined && grant.root !== root) {
          throw new ShoalError(
            ErrorCode.ROOT_MISMATCH,
            `piece ${piece.index} of segment ${index}: the Merkle root given at placement is not the node's`,
            { details: { index, piece: piece.index } }
          )
        }
        return { index: piece.index, cid: piece.cid, node: piece.node, root }
      })
    )
    const result = await this.#store.uploads.commitSegment(upload.id, index, segment.placement.id, committed)
    return result.already
      ? { index, pieces: result.pieces.length, alreadyCommitted: true }
      : { index, pieces: result.pieces.length }
  }

  async commit(ownerId: string, uploadId: string): Promise<CommitUploadResponse> {
    const { upload, segments } = await this.#get(ownerId, uploadId)
    const committed = new Map<number, PiecePlacement[]>()
    for (const s of segments) if (s.committed !== undefined) committed.set(s.index, s.committed)
    if (committed.size < upload.segmentCount) {
      const missing: number[] = []
      for (let i = 0; i < upload.segmentCount && missing.length < MAX_MISSING_LISTED; i++) {
        if (!committed.has(i)) missing.push(i)
      }
      throw new ShoalError(
        ErrorCode.UPLOAD_INCOMPLETE,
        `${upload.segmentCount - committed.size} of ${upload.segmentCount} segments are not committed`,
        { details: { missing, count: upload.segmentCount - committed.size } }
      )
    }
    const now = this.#config.clock.now()
    const manifest: Manifest = {
      version: 1,
      objectId: upload.id,
      size: upload.size,
      segmentSize: upload.segmentSize,
      k: upload.k,
      m: upload.m,
      nonce: upload.nonce,
      segments: [...committed].sort(([a], [b]) => a - b).map(([index, pieces]) => ({ index, pieces }))
    }
    validateManifest(manifest)
    const object: ObjectRecord = {
      id: upload.id,
      owner: ownerId,
      nameHash: upload.nameHash,
      meta: upload.meta,
      wrappedKey: upload.wrappedKey,
      nonce: upload.nonce,
      size: upload.size,
      k: upload.k,
      m: upload.m,
      segmentSize: upload.segmentSize,
      segmentCount: upload.segmentCount,
      createdAt: now
    }
    // Pieces that were stored somewhere but are not part of the object: earlier placements, and pieces beyond
    // the receipts committed (when minCommitPieces < k + m). On overwrite the old object keeps its pieces: it
    // becomes an older version (docs/versions.md), released when the version policy purges it.
    const leftovers = segments.flatMap((s) => {
      const kept = new Set((s.committed ?? []).map((p) => `${p.node}/${p.cid}`))
      return [...s.placement.pieces, ...(s.stale ?? [])].filter((p) => !kept.has(`${p.node}/${p.cid}`))
    })
    // The store finds the object the name points at under its lock: replaced with `overwrite`; otherwise the name
    // must still be free (ERR_CONFLICT, details.objectId: it was committed meanwhile). No read of the name first.
    const { replaced } = await this.#store.uploads.commitUpload({
      uploadId: upload.id,
      object,
      segments: manifest.segments,
      overwrite: upload.overwrite,
      nodeBytes: bytesPerNode(upload, manifest.segments),
      deletes: deleteOrders(leftovers, ownerId, now, upload.id)
    })
    const degraded = degradedSegments(upload, manifest.segments)
    // A segment committed with fewer than k + m pieces is short from the start: queued for repair now, not when
    // the repair check's pass over every segment comes by (its safety net runs every repairIntervalMs). The
    // repair looks at its health again and leaves it be if the check would have.
    const short = manifest.segments.filter((s) => s.pieces.length < upload.k + upload.m)
    if (short.length > 0) {
      await this.#store.coordination.queueRepairs(
        short.map((s) => ({ objectId: object.id, index: s.index, healthy: s.pieces.length, queuedAt: now }))
      )
      this.#repairs?.wake()
    }
    this.#config.logger.info(
      { object: object.id, size: object.size, segments: object.segmentCount, replaced, degraded },
      'object committed'
    )
    return { object: objectSummary(object), ...(degraded === undefined ? {} : { degraded }) }
  }

  async abort(ownerId: string, uploadId: string): Promise<void> {
    const { upload, segments } = await this.#get(ownerId, uploadId)
    await this.#discard(upload, segments)
  }

  /** Discards expired uploads; returns how many. One batch per call keeps a pass short. */
  async sweep(): Promise<number> {
    const expired = await this.#store.uploads.listExpiredUploads(this.#config.clock.now(), SWEEP_BATCH)
    let swept = 0
    for (const upload of expired) {
      try {
        await this.#discard(upload, await this.#store.uploads.listUploadSegments(upload.id))
        swept++
      } catch (err) {
        // Committed or aborted between the listing and now: nothing left to do.
        if (!isShoalError(err, ErrorCode.UPLOAD_NOT_FOUND)) throw err
      }
    }
    if (swept > 0) this.#config.logger.info({ swept }, 'expired uploads discarded')
    return swept
  }

  async #discard(upload: UploadRecord, segments: readonly UploadSegmentRecord[]): Promise<void> {
    const pieces = segments.flatMap((s) => [...s.placement.pieces, ...(s.stale ?? [])])
    await this.#store.uploads.abortUpload(
      upload.id,
      deleteOrders(pieces, upload.owner, this.#config.clock.now(), upload.id)
    )
    this.#config.logger.debug({ upload: upload.id, pieces: pieces.length }, 'upload discarded')
  }

  /**
   * The caller's own, unexpired upload with its placed segments (only segment `index` when given), read in one
   * store call; anything else is "not found", so upload ids cannot be probed.
   */
  async #get(
    ownerId: string,
    uploadId: string,
    index?: number
  ): Promise<{ upload: UploadRecord; segments: UploadSegmentRecord[] }> {
    const found = await this.#store.uploads.getUploadWithSegments(uploadId, index)
    const upload = found?.upload
    if (found === undefined || upload?.owner !== ownerId || upload.expiresAt <= this.#config.clock.now()) {
      throw new ShoalError(ErrorCode.UPLOAD_NOT_FOUND, `upload ${uploadId} does not exist or has expired`)
    }
    return found
  }
}

/** What a client needs to resume an upload (status, list). */
function statusOf(upload: UploadRecord, segments: readonly UploadSegmentRecord[]): UploadStatus {
  return {
    uploadId: upload.id,
    nameHash: upload.nameHash,
    size: upload.size,
    meta: upload.meta,
    wrappedKey: upload.wrappedKey,
    nonce: upload.nonce,
    k: upload.k,
    m: upload.m,
    segmentSize: upload.segmentSize,
    segmentCount: upload.segmentCount,
    minCommitPieces: minCommitOf(upload),
    committed: segments.filter((s) => s.committed !== undefined).map((s) => s.index),
    expiresAt: upload.expiresAt
  }
}

/** Receipts a segment of this upload needs; uploads begun before the field existed needed all of them. */
function minCommitOf(upload: UploadRecord): number {
  return upload.minCommitPieces ?? upload.k + upload.m
}

/** Segments committed with fewer pieces than the upload's threshold (nodes were down), if any. */
function degradedSegments(upload: UploadRecord, segments: Manifest['segments']): DegradedUpload | undefined {
  const threshold = minCommitOf(upload)
  const short = segments.filter((s) => s.pieces.length < threshold)
  if (short.length === 0) return undefined
  return {
    segments: short.length,
    segmentCount: upload.segmentCount,
    fewestPieces: short.reduce((fewest, s) => Math.min(fewest, s.pieces.length), threshold),
    k: upload.k,
    m: upload.m
  }
}

/** Pieces of earlier placements that the new placement does not put on the same node again. */
function staleAfter(previous: UploadSegmentRecord | undefined, current: readonly PlacedPiece[]): PlacedPiece[] {
  if (previous === undefined) return []
  const now = new Set(current.map((p) => `${p.node}/${p.cid}`))
  const seen = new Set<string>()
  const stale: PlacedPiece[] = []
  for (const p of [...(previous.stale ?? []), ...previous.placement.pieces]) {
    const key = `${p.node}/${p.cid}`
    if (now.has(key) || seen.has(key)) continue
    seen.add(key)
    stale.push(p)
  }
  return stale
}
