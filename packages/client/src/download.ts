import type { Libp2p } from '@libp2p/interface'
import {
  CID,
  describeError,
  type ErasureCodec,
  ErrorCode,
  fromBase64Url,
  type GrantedPiece,
  type GrantedSegment,
  isShoalError,
  MAX_GRANT_SEGMENTS,
  type ObjectInfo,
  type ObjectLayout,
  pieceSize,
  SegmentCodec,
  ShoalError,
  segmentCount,
  segmentOffset,
  segmentsForRange
} from '@shoal/core'
import { getPiece } from './p2p/piece-client.ts'
import type { ProgressListener } from './progress.ts'
import type { TrackerClient } from './tracker-client.ts'

export interface DownloadContext {
  tracker: TrackerClient
  peer: () => Promise<Libp2p>
  erasure: ErasureCodec
}

export interface DownloadOptions {
  signal?: AbortSignal
  onProgress?: ProgressListener
  /** Plaintext byte range; defaults to the whole object. */
  offset?: number
  length?: number
  /** Segments fetched at once ahead of the one being written out. */
  segmentWindow?: number
  /** Pieces requested beyond k at the start of each segment; failures start further requests. */
  extraPieces?: number
}

/**
 * Streams an object's plaintext in order. Each segment is fetched from several nodes at once: the first k pieces
 * that verify against their CIDs win and the other requests are cancelled; a failing node is replaced by another
 * holder of the same segment. Memory holds at most `segmentWindow` segments.
 */
export async function* downloadObject(
  ctx: DownloadContext,
  info: ObjectInfo,
  contentKey: Uint8Array,
  options: DownloadOptions = {}
): AsyncGenerator<Uint8Array> {
  const layout: ObjectLayout = { size: info.size, segmentSize: info.segmentSize, k: info.k, m: info.m }
  if (segmentCount(layout) !== info.segmentCount) {
    throw new ShoalError(ErrorCode.INVALID_MANIFEST, `object ${info.id} has an inconsistent segment count`)
  }
  const offset = options.offset ?? 0
  const length = Math.min(options.length ?? info.size - offset, info.size - offset)
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > info.size || length < 0) {
    throw new ShoalError(
      ErrorCode.INVALID_INPUT,
      `range ${offset}+${options.length} is outside the object (${info.size} bytes)`
    )
  }
  if (length === 0 && info.size > 0) return
  const codec = await SegmentCodec.create(layout, ctx.erasure, contentKey, fromBase64Url(info.nonce))
  const peer = await ctx.peer()
  const { first, last } = segmentsForRange(layout, offset, length)
  const window = Math.max(1, options.segmentWindow ?? 3)
  const grants = new GrantBatches(ctx.tracker, info.id, last + 1, options.signal)
  const inFlight: Promise<Uint8Array>[] = []
  let next = first
  let done = 0
  let wire = 0
  const fetchNext = (): void => {
    const index = next++
    const task = grants
      .get(index)
      .then((granted) => fetchSegment(peer, codec, layout, granted, options))
      .then(({ plaintext, bytes }) => {
        wire += bytes
        return plaintext
      })
    // Surface failures when the segment's turn comes, not as unhandled rejections before it.
    task.catch(() => {})
    inFlight.push(task)
  }
  while (next <= last && inFlight.length < window) fetchNext()
  for (let index = first; index <= last; index++) {
    const plaintext = await inFlight.shift()!
    if (next <= last) fetchNext()
    const start = index === first ? offset - segmentOffset(layout, index) : 0
    const end = index === last ? offset + length - segmentOffset(layout, index) : plaintext.byteLength
    const out = plaintext.subarray(start, end)
    done += out.byteLength
    options.onProgress?.({ bytes: done, total: length, wireBytes: wire })
    if (out.byteLength > 0 || info.size === 0) yield out
  }
}

/** Fetches get grants a batch of segments at a time, ahead of need. */
class GrantBatches {
  readonly #batches = new Map<number, Promise<GrantedSegment[]>>()
  readonly #tracker: TrackerClient
  readonly #objectId: string
  readonly #end: number
  readonly #signal: AbortSignal | undefined

  constructor(tracker: TrackerClient, objectId: string, end: number, signal: AbortSignal | undefined) {
    this.#tracker = tracker
    this.#objectId = objectId
    this.#end = end
    this.#signal = signal
  }

  async get(index: number): Promise<GrantedSegment> {
    const batch = Math.floor(index / MAX_GRANT_SEGMENTS)
    let pending = this.#batches.get(batch)
    if (pending === undefined) {
      const from = batch * MAX_GRANT_SEGMENTS
      const to = Math.min(this.#end, from + MAX_GRANT_SEGMENTS)
      pending = this.#tracker.downloadGrants(this.#objectId, from, to, { signal: this.#signal }).then((r) => r.segments)
      pending.catch(() => {})
      this.#batches.set(batch, pending)
      this.#batches.delete(batch - 2)
    }
    const segment = (await pending).find((s) => s.index === index)
    if (segment === undefined) throw new ShoalError(ErrorCode.PROTOCOL, `tracker sent no grants for segment ${index}`)
    return segment
  }
}

/** Data pieces first: with all k data pieces present no reconstruction is needed. */
function requestOrder(pieces: GrantedPiece[]): GrantedPiece[] {
  return [...pieces].sort((a, b) => a.index - b.index)
}

async function fetchSegment(
  peer: Libp2p,
  codec: SegmentCodec,
  layout: ObjectLayout,
  granted: GrantedSegment,
  options: DownloadOptions
): Promise<{ plaintext: Uint8Array; bytes: number }> {
  const { k, m } = layout
  const size = pieceSize(layout, granted.index)
  const candidates = requestOrder(granted.pieces)
  const slots: (Uint8Array | undefined)[] = new Array(k + m).fill(undefined)
  const failures: { piece: number; node: string; error: string; code: string }[] = []
  const cancel = new AbortController()
  const signal = options.signal === undefined ? cancel.signal : AbortSignal.any([cancel.signal, options.signal])
  let got = 0
  let launched = 0
  let running = 0

  await new Promise<void>((resolve, reject) => {
    const settle = (): void => {
      if (got >= k) resolve()
      else if (running === 0 && launched >= candidates.length) reject(notEnough())
    }
    const launch = (): void => {
      const piece = candidates[launched++]
      if (piece === undefined) return
      running++
      getPiece(peer, piece.node, { grant: piece.grant, cid: CID.parse(piece.cid), size }, { signal })
        .then((bytes) => {
          if (got < k) {
            slots[piece.index] = bytes
            got++
          }
        })
        .catch((err: unknown) => {
          if (cancel.signal.aborted) return
          failures.push({
            piece: piece.index,
            node: piece.node.peerId,
            code: isShoalError(err) ? err.code : ErrorCode.INTERNAL,
            error: describeError(err)
          })
          // Each failure starts a request to another holder of this segment.
          if (got < k) launch()
        })
        .finally(() => {
          running--
          settle()
        })
    }
    if (options.signal?.aborted === true) {
      reject(options.signal.reason)
      return
    }
    const initial = Math.min(candidates.length, k + (options.extraPieces ?? 1))
    for (let i = 0; i < initial; i++) launch()
    settle()
  }).finally(() => cancel.abort())

  function notEnough(): ShoalError {
    options.signal?.throwIfAborted()
    const missing = failures.map((f) => `piece ${f.piece} on ${f.node}: ${f.error}`).join('; ')
    return new ShoalError(
      ErrorCode.NOT_ENOUGH_PIECES,
      `segment ${granted.index}: only ${got} of the ${k} pieces needed could be fetched (${granted.pieces.length} known). Missing: ${missing}`,
      { details: { segment: granted.index, have: got, need: k, failures } }
    )
  }

  return { plaintext: await codec.decode(granted.index, slots), bytes: got * size }
}
