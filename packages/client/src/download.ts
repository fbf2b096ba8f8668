import type { Libp2p } from '@libp2p/interface'
import {
  CID,
  describeError,
  ErrorCode,
  fromBase64Url,
  type GrantedPiece,
  type GrantedSegment,
  isShoalError,
  type NodeAddress,
  type ObjectInfo,
  type ObjectLayout,
  pieceSize,
  ShoalError,
  segmentCount,
  segmentOffset,
  segmentsForRange
} from '@shoal/core'
import type { CodecEngine, ObjectCodec } from './codec/segment-worker.ts'
import type { NodeRates } from './node-rates.ts'
import { NodeScoreboard } from './node-scoreboard.ts'
import { getPiece } from './p2p/piece-client.ts'
import type { ProgressListener } from './progress.ts'
import type { ReceiptBook } from './receipts.ts'
import type { TrackerClient } from './tracker-client.ts'
import type { UnreachableNodes } from './unreachable-nodes.ts'

export interface DownloadContext {
  tracker: TrackerClient
  peer: () => Promise<Libp2p>
  codecs: CodecEngine
  /** Finds a node's current addresses when the known ones fail (DHT); undefined if it cannot. */
  locate?: (node: NodeAddress, signal: AbortSignal) => Promise<NodeAddress | undefined>
  /** Signs a receipt for every piece received, for the node to settle (egress billing); none without it. */
  receipts?: ReceiptBook
  /** Nodes the client failed to dial in earlier transfers (unreachable-nodes.ts): asked last, not redialled. */
  unreachable?: UnreachableNodes
  /** Rates measured in earlier downloads (node-rates.ts): where a download starts, and what it updates. */
  rates?: NodeRates
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
  /**
   * Requests one node serves at once. A segment whose best holder is at this limit waits until a request ends
   * anywhere, then picks again: the holder is chosen when a link is free, not queued behind a busy one.
   */
  requestsPerNode?: number
  /** A request slower than this many times the median piece time gets a hedge request to another holder. */
  hedgeFactor?: number
  /** Never hedge before this many ms. */
  hedgeMinMs?: number
  /**
   * Before any piece has arrived there is no median to compare with: hedge only after this long. (Hedging every
   * cold request at hedgeMinMs doubled the first window's traffic on a fresh connection and delayed the first byte.)
   */
  hedgeColdMs?: number
  /** Drop a node that sends nothing for this long. */
  stallMs?: number
  /** What the engine did and why: hedges, dropped nodes, DHT lookups. For progress displays and tests. */
  onEvent?: (event: DownloadEvent) => void
}

export type DownloadEvent =
  | { type: 'request'; segment: number; piece: number; node: string }
  | { type: 'piece'; segment: number; piece: number; node: string; ms: number }
  | { type: 'hedge'; segment: number; piece: number; node: string; afterMs: number }
  /** A request no longer needed (its segment had k pieces) was stopped. */
  | { type: 'cancelled'; segment: number; piece: number; node: string }
  | { type: 'failure'; segment: number; piece: number; node: string; code: string; message: string }
  | { type: 'relocated'; node: string; addrs: string[] }

/**
 * A parity piece counts as this much slower than a data piece from an equally loaded node: with all k data
 * pieces the decoder only decrypts, while each parity piece in the set costs a Reed-Solomon reconstruction
 * (on a 2-core machine 0.9 of the client's 4.2 worker CPU-seconds for 256 MiB when holders were picked by
 * speed alone). An idle parity holder still wins over a data holder with a request queued.
 */
const PARITY_COST_FACTOR = 1.5

export const DOWNLOAD_DEFAULTS = {
  segmentWindow: 4,
  extraPieces: 0,
  requestsPerNode: 1,
  hedgeFactor: 2,
  hedgeMinMs: 250,
  hedgeColdMs: 2_000,
  stallMs: 10_000
} as const

/**
 * Streams an object's plaintext in order. Each segment is fetched from more than k holders at once: the first
 * k pieces that verify win and the other requests are cancelled. Holders are chosen by a scoreboard shared
 * across the whole file (requests in flight, measured speed, failures), a request that falls behind its peers
 * gets a hedge to another holder, and a node that errors, stalls or sends corrupt bytes is dropped for the
 * rest of the transfer. Memory holds at most `segmentWindow` segments.
 */
export async function* downloadObject(
  ctx: DownloadContext,
  info: ObjectInfo,
  contentKey: Uint8Array,
  options: DownloadOptions = {},
  granted?: readonly GrantedSegment[]
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
  const settings = { ...DOWNLOAD_DEFAULTS, ...definedOnly(options) }
  const cancel = new AbortController()
  const signal = options.signal === undefined ? cancel.signal : AbortSignal.any([cancel.signal, options.signal])
  // Pieces start moving while the codec threads boot (a cold client's first byte waited ~0.6 s for them); a
  // codec that cannot open ends the download with its own error instead of being blamed on the nodes.
  const opening = ctx.codecs.open(layout, contentKey, fromBase64Url(info.nonce))
  opening.catch((err: unknown) => cancel.abort(err))
  const codec = whenOpen(opening)
  try {
    const peer = await ctx.peer()
    const { first, last } = segmentsForRange(layout, offset, length)
    const grants = new GrantBatches(ctx.tracker, info.id, last + 1, settings.segmentWindow, signal, ctx.receipts)
    // Grants that came with the object (TrackerClient.openObject): the first batch, already here.
    if (granted !== undefined && granted.length > 0) grants.seed(granted)
    const fetcher = new SegmentFetcher(
      ctx,
      peer,
      grants,
      codec,
      layout,
      new NodeScoreboard(undefined, ctx.unreachable, ctx.rates),
      settings,
      signal,
      options.onEvent
    )
    const inFlight: Promise<Uint8Array>[] = []
    let next = first
    let done = 0
    // Slow start: the first segment has the client to itself while its connections open and its code warms up
    // (all eight hosts' handshakes at once on a cold process delayed the first byte by ~230 ms), then the window
    // opens at once, as soon as k requests are on their streams: the next segments' holders are dialled while
    // the first segment's pieces start, not after (session 14: they started ~500 ms after the first ones). Opening
    // when the first k requests had their first bytes, the other four of 8 hosts joined 60-90 ms later: a
    // 256 MiB get at 10 MB/s per host took 3.94 s against 3.78, at the same first byte (session 19).
    let window = 1
    const fetchNext = (): void => {
      const index = next++
      const task = grants.get(index).then((granted) => fetcher.fetch(granted))
      // Failures surface when the segment's turn comes, not as unhandled rejections before it.
      task.catch(() => {})
      inFlight.push(task)
    }
    const fill = (): void => {
      while (next <= last && inFlight.length < window && !signal.aborted) fetchNext()
    }
    const open = (): void => {
      window = settings.segmentWindow
      fill()
    }
    fetcher.flowing.then(open, () => {})
    fill()
    for (let index = first; index <= last; index++) {
      signal.throwIfAborted()
      const plaintext = await inFlight.shift()!
      open()
      const start = index === first ? offset - segmentOffset(layout, index) : 0
      const end = index === last ? offset + length - segmentOffset(layout, index) : plaintext.byteLength
      const out = plaintext.subarray(start, end)
      done += out.byteLength
      options.onProgress?.({ bytes: done, total: length, wireBytes: fetcher.wireBytes })
      if (out.byteLength > 0 || info.size === 0) yield out
    }
  } finally {
    // Also runs when the consumer stops early: cancels every request still in flight.
    cancel.abort(new ShoalError(ErrorCode.ABORTED, 'download finished or cancelled'))
    codec.close()
  }
}

/** An ObjectCodec usable before it has opened: each call waits for the opening. */
function whenOpen(opening: Promise<ObjectCodec>): ObjectCodec {
  return {
    encode: async (index, plaintext) => (await opening).encode(index, plaintext),
    addPiece: async (segment, piece, cid, bytes) => (await opening).addPiece(segment, piece, cid, bytes),
    decode: async (segment) => (await opening).decode(segment),
    discard: (segment) => {
      opening.then((c) => c.discard(segment)).catch(() => {})
    },
    close: () => {
      opening.then((c) => c.close()).catch(() => {})
    }
  }
}

function definedOnly(options: DownloadOptions): Partial<typeof DOWNLOAD_DEFAULTS> {
  const out: Record<string, number> = {}
  for (const key of Object.keys(DOWNLOAD_DEFAULTS) as (keyof typeof DOWNLOAD_DEFAULTS)[]) {
    const value = options[key]
    if (value !== undefined) out[key] = value
  }
  return out
}

/**
 * Fetches get grants ahead of need. The first batch is small (the tracker signs a grant per piece, and the
 * first byte waits for it); later batches cover as many segments as the tracker allows per request
 * (`maxGrantSegments`: fewer for share links) and are requested when the previous one is half used, so the next
 * batch is on its way before the current one runs dry.
 */
class GrantBatches {
  readonly #batches: { from: number; to: number; segments: Promise<GrantedSegment[]> }[] = []
  readonly #tracker: TrackerClient
  readonly #objectId: string
  readonly #end: number
  readonly #first: number
  readonly #signal: AbortSignal
  readonly #receiptKey: string | undefined

  constructor(
    tracker: TrackerClient,
    objectId: string,
    end: number,
    first: number,
    signal: AbortSignal,
    receipts?: ReceiptBook
  ) {
    this.#receiptKey = receipts?.receiptKey
    this.#tracker = tracker
    this.#objectId = objectId
    this.#end = end
    this.#first = first
    this.#signal = signal
  }

  #request(from: number): { from: number; to: number; segments: Promise<GrantedSegment[]> } {
    const most = this.#tracker.maxGrantSegments
    const size = this.#batches.length === 0 ? Math.min(this.#first, most) : most
    const to = Math.min(this.#end, from + size)
    const segments = this.#tracker
      .downloadGrants(this.#objectId, from, to, { signal: this.#signal, receiptKey: this.#receiptKey })
      .then((r) => r.segments)
    segments.catch(() => {})
    const batch = { from, to, segments }
    this.#batches.push(batch)
    // Old batches are done with: keep memory flat on long downloads.
    if (this.#batches.length > 3) this.#batches.shift()
    return batch
  }

  /** Grants already in hand for consecutive segments, used as the first batch. */
  seed(segments: readonly GrantedSegment[]): void {
    const from = segments[0]!.index
    this.#batches.push({ from, to: from + segments.length, segments: Promise.resolve([...segments]) })
  }

  /** New grants for one segment, for pieces to ask for again (a grant works once at its node). */
  async fresh(index: number): Promise<GrantedSegment> {
    const { segments } = await this.#tracker.downloadGrants(this.#objectId, index, index + 1, {
      signal: this.#signal,
      receiptKey: this.#receiptKey
    })
    return grantsOf(segments, index)
  }

  async get(index: number): Promise<GrantedSegment> {
    let batch = this.#batches.find((b) => index >= b.from && index < b.to)
    batch ??= this.#request(index)
    const last = this.#batches[this.#batches.length - 1]!
    if (last === batch && last.to < this.#end && index - batch.from >= (batch.to - batch.from) / 2)
      this.#request(last.to)
    return grantsOf(await batch.segments, index)
  }
}

function grantsOf(segments: readonly GrantedSegment[], index: number): GrantedSegment {
  const segment = segments.find((s) => s.index === index)
  if (segment === undefined) throw new ShoalError(ErrorCode.PROTOCOL, `tracker sent no grants for segment ${index}`)
  return segment
}

interface Failure {
  piece: number
  node: string
  code: string
  error: string
}

type Settings = typeof DOWNLOAD_DEFAULTS

class SegmentFetcher {
  readonly #ctx: DownloadContext
  readonly #peer: Libp2p
  readonly #grants: GrantBatches
  readonly #codec: ObjectCodec
  readonly #layout: ObjectLayout
  readonly #board: NodeScoreboard
  readonly #settings: Settings
  readonly #signal: AbortSignal
  readonly #emit: (event: DownloadEvent) => void
  /** Addresses learned through the DHT for nodes whose tracker-known addresses failed. */
  readonly #relocated = new Map<string, NodeAddress>()
  /**
   * Launches waiting for their best holder to have a free request slot, retried whenever a request ends, the
   * oldest segment first; `node` and `bytes` are what each waits for (see #queuedFor).
   */
  #deferred: { segment: number; node: string; bytes: number; retry: () => void }[] = []
  wireBytes = 0
  /** Resolves once k requests of this download are on their streams: their connections are up. */
  readonly flowing: Promise<void>
  #flowed: () => void = () => {}
  /** Requests sent so far. */
  #sent = 0

  constructor(
    ctx: DownloadContext,
    peer: Libp2p,
    grants: GrantBatches,
    codec: ObjectCodec,
    layout: ObjectLayout,
    board: NodeScoreboard,
    settings: Settings,
    signal: AbortSignal,
    onEvent: ((event: DownloadEvent) => void) | undefined
  ) {
    this.#emit = onEvent ?? (() => {})
    this.#ctx = ctx
    this.#peer = peer
    this.#grants = grants
    this.#codec = codec
    this.#layout = layout
    this.#board = board
    this.#settings = settings
    this.#signal = signal
    this.flowing = new Promise((resolve) => {
      this.#flowed = resolve
    })
  }

  /**
   * Fetches k pieces of a segment and decodes it. A decode that names corrupt pieces starts another attempt:
   * `held` maps the pieces the codec still holds to the nodes that sent them, `excluded` are the nodes that sent
   * corrupt ones (not asked again for this segment), `spent` the grants already sent to a node.
   */
  async fetch(
    granted: GrantedSegment,
    held: ReadonlyMap<number, string> = new Map(),
    excluded: ReadonlySet<string> = new Set(),
    spent: ReadonlySet<string> = new Set()
  ): Promise<Uint8Array> {
    const { k } = this.#layout
    const index = granted.index
    const size = pieceSize(this.#layout, index)
    const wanted = (p: GrantedPiece): boolean => !held.has(p.index) && !excluded.has(p.node.peerId)
    // A node claims a grant's serial when the request arrives, served or cancelled, and refuses it again: pieces
    // whose grants an earlier attempt sent are asked for with fresh grants from the tracker.
    if (granted.pieces.some((p) => wanted(p) && spent.has(p.grant))) granted = await this.#grants.fresh(index)
    const waiting = granted.pieces.filter(wanted)
    const failures: Failure[] = []
    const cancel = new AbortController()
    const signal = AbortSignal.any([cancel.signal, this.#signal])
    const hedgeTimers = new Set<ReturnType<typeof setTimeout>>()
    /** Pieces handed to the codec for this segment, and the nodes that sent them. */
    const added = new Map(held)
    const sent = new Set(spent)
    let verified = held.size
    let running = 0

    try {
      await new Promise<void>((resolve, reject) => {
        const settle = (): void => {
          if (verified >= k) resolve()
          else if (this.#signal.aborted) reject(this.#signal.reason)
          else if (running === 0 && waiting.length === 0) {
            reject(this.#signal.aborted ? this.#signal.reason : this.#notEnough(granted, verified, failures))
          }
        }
        /**
         * Starts a request for the best waiting holder; false when none is left. A spare request (a hedge) is
         * not sent to a node known to be down: only one that is needed to make up k is.
         */
        const launch = (spare = false): boolean => {
          if (waiting.length === 0 || verified >= k || signal.aborted) return false
          // A busy holder's cost counts the launches already waiting for it, not only its request in flight: else
          // every segment waits for the same fastest k holders and the others idle (uneven caps ran at what the
          // k-th fastest host alone could give). The oldest segment, retried first, still gets the fastest.
          const costs = new Map(
            waiting.map((p) => [
              p,
              this.#board.cost(p.node.peerId, size + this.#queuedFor(p.node.peerId)) *
                (p.index < k ? 1 : PARITY_COST_FACTOR)
            ])
          )
          waiting.sort((a, b) => (costs.get(a) as number) - (costs.get(b) as number) || a.index - b.index)
          const best = (waiting[0] as GrantedPiece).node.peerId
          if (spare && this.#ctx.unreachable?.isDown(best) === true) return false
          if (this.#board.inFlight(best) >= this.#settings.requestsPerNode) {
            this.#deferred.push({ segment: index, node: best, bytes: size, retry: () => launch(spare) })
            return true
          }
          const piece = waiting.shift()!
          sent.add(piece.grant)
          running++
          this.#request(piece, size, signal, index, hedgeTimers, (silent) => launch(!silent)).then(
            () => {
              running--
              verified++
              added.set(piece.index, piece.node.peerId)
              settle()
              this.#retryDeferred()
            },
            (err: unknown) => {
              running--
              if (!cancel.signal.aborted && !this.#signal.aborted) {
                const failure = {
                  piece: piece.index,
                  node: piece.node.peerId,
                  code: isShoalError(err) ? err.code : ErrorCode.INTERNAL,
                  error: describeError(err)
                }
                failures.push(failure)
                this.#emit({ type: 'failure', segment: index, ...failure, message: failure.error })
                // Each failure starts a request to another holder of this segment.
                launch()
              }
              settle()
              this.#retryDeferred()
            }
          )
          return true
        }
        if (this.#signal.aborted) {
          reject(this.#signal.reason)
          return
        }
        // Cancelling the download ends this segment at once, whatever its requests are doing.
        this.#signal.addEventListener('abort', () => reject(this.#signal.reason), { once: true, signal: cancel.signal })
        // k requests, then the extra ones as spares: a dead node is dialled when it is needed to make up k, not
        // to race the others.
        for (let i = 0; i < k; i++) launch()
        for (let i = 0; i < this.#settings.extraPieces; i++) launch(true)
        settle()
      })
    } catch (err) {
      this.#codec.discard(index)
      throw err
    } finally {
      for (const t of hedgeTimers) clearTimeout(t)
      cancel.abort(new ShoalError(ErrorCode.ABORTED, `segment ${index} complete`))
      this.#deferred = this.#deferred.filter((d) => d.segment !== index)
    }
    try {
      return await this.#codec.decode(index)
    } catch (err) {
      const corrupt = corruptPieceIndices(err)
      if (corrupt === undefined) throw err
      // The segment's tag failed and these pieces do not match their CIDs: their nodes are reported and left
      // out, the good pieces stay with the codec, and the missing ones are fetched from the other holders.
      const nodes = new Set(excluded)
      for (const i of corrupt) {
        const node = added.get(i)
        added.delete(i)
        if (node === undefined) continue
        nodes.add(node)
        this.#board.corrupted(node)
        this.#emit({
          type: 'failure',
          segment: index,
          piece: i,
          node,
          code: ErrorCode.PIECE_CORRUPT,
          message: describeError(err)
        })
      }
      return this.fetch(granted, added, nodes, sent)
    }
  }

  /** Bytes of the launches waiting for `node`: ahead of a new launch in its queue. */
  #queuedFor(node: string): number {
    let bytes = 0
    for (const d of this.#deferred) if (d.node === node) bytes += d.bytes
    return bytes
  }

  /** A request slot freed up: waiting launches pick their holder again, the oldest segment first. */
  #retryDeferred(): void {
    const deferred = this.#deferred.sort((a, b) => a.segment - b.segment)
    this.#deferred = []
    for (const d of deferred) d.retry()
  }

  /** One piece request: fetch, hand to the codec for verification, and hedge if it falls behind. */
  async #request(
    piece: GrantedPiece,
    size: number,
    signal: AbortSignal,
    segment: number,
    hedgeTimers: Set<ReturnType<typeof setTimeout>>,
    hedge: (silent: boolean) => boolean
  ): Promise<void> {
    const peerId = piece.node.peerId
    const median = this.#board.medianDurationMs()
    const hedgeAfter =
      median === undefined
        ? this.#settings.hedgeColdMs
        : Math.max(this.#settings.hedgeMinMs, median * this.#settings.hedgeFactor)
    // Whether this request went a whole hedge period without finishing, and how much it got meanwhile.
    let overdue = false
    const seen = { bytes: 0 }
    const timers: ReturnType<typeof setTimeout>[] = []
    const hedgeAt = (afterMs: number, silent: boolean, first: boolean): void => {
      const timer = setTimeout(() => {
        hedgeTimers.delete(timer)
        if (first) overdue = true
        if ((!silent || seen.bytes === 0) && hedge(silent))
          this.#emit({ type: 'hedge', segment, piece: piece.index, node: peerId, afterMs })
      }, afterMs)
      hedgeTimers.add(timer)
      timers.push(timer)
    }
    // A hedge after one hedge period goes only to nodes not known to be down; a request that has moved no byte
    // for half the stall time gets one that may (its node looks dead too, and waiting for it to fail alone is
    // slower than asking the holders left). A slow node that is moving bytes never makes the client dial a
    // dead one.
    hedgeAt(hedgeAfter, false, true)
    hedgeAt(Math.max(hedgeAfter, this.#settings.stallMs / 2), true, false)
    const started = performance.now()
    this.#board.started(peerId, size)
    this.#emit({ type: 'request', segment, piece: piece.index, node: peerId })
    let outcome: 'ok' | 'failed' | 'cancelled' = 'failed'
    try {
      const bytes = await this.#fetchFrom(piece, size, signal, seen)
      this.wireBytes += bytes.byteLength
      signal.throwIfAborted()
      await this.#codec.addPiece(segment, piece.index, piece.cid, bytes)
      outcome = 'ok'
      this.#ctx.unreachable?.reached(peerId)
      const ms = performance.now() - started
      this.#board.succeeded(peerId, ms)
      this.#emit({ type: 'piece', segment, piece: piece.index, node: peerId, ms })
    } catch (err) {
      outcome = signal.aborted && !isShoalError(err, ErrorCode.PIECE_CORRUPT) ? 'cancelled' : 'failed'
      // Remembered beyond this transfer: a node that could not be dialled or went silent, and one that sent
      // nothing in a whole hedge period while others delivered the segment (a killed node's connection can
      // look open for a while: its requests hang until cancelled rather than fail).
      const refused = outcome === 'failed' && isShoalError(err, ErrorCode.NODE_UNREACHABLE)
      const silent =
        outcome === 'failed' ? refused || isShoalError(err, ErrorCode.TIMEOUT) : overdue && seen.bytes === 0
      if (silent) this.#ctx.unreachable?.failed(peerId, refused ? 'unreachable' : 'silent')
      throw err
    } finally {
      for (const timer of timers) {
        clearTimeout(timer)
        hedgeTimers.delete(timer)
      }
      const unreceived = Math.max(0, size - seen.bytes)
      if (outcome === 'cancelled') {
        this.#board.cancelled(peerId, unreceived)
        this.#emit({ type: 'cancelled', segment, piece: piece.index, node: peerId })
      } else if (outcome === 'failed') this.#board.failed(peerId, unreceived)
    }
  }

  /** Tries the tracker-known addresses, then addresses found through the DHT when those cannot be reached. */
  async #fetchFrom(
    piece: GrantedPiece,
    size: number,
    signal: AbortSignal,
    seen: { bytes: number }
  ): Promise<Uint8Array> {
    const request = { grant: piece.grant, cid: CID.parse(piece.cid), size }
    const peerId = piece.node.peerId
    const receipts = this.#ctx.receipts
    const options = {
      signal,
      verify: false,
      stallMs: this.#settings.stallMs,
      onSent: () => {
        if (++this.#sent === this.#layout.k) this.#flowed()
      },
      onBytes: (n: number) => {
        seen.bytes += n
        this.#board.received(peerId, n)
      },
      // Receipts go to the node on the get stream as bytes arrive (get protocol 2.0.0, p2p/in-band-receipts.ts);
      // only one the stream could not take goes through the ReceiptBook (docs/transport-tuning.md, session 18).
      ...receipts?.forPiece(piece.grant, size, () => this.#relocated.get(peerId) ?? piece.node)
    }
    const node = this.#relocated.get(piece.node.peerId) ?? piece.node
    try {
      return await getPiece(this.#peer, node, request, options)
    } catch (err) {
      // A node already known to be down is not looked up again in the DHT (a lookup for a dead node runs to its
      // timeout); one that has only moved is found there.
      if (
        !isShoalError(err, ErrorCode.NODE_UNREACHABLE) ||
        this.#ctx.locate === undefined ||
        signal.aborted ||
        this.#ctx.unreachable?.isDown(peerId) === true
      )
        throw err
      const found = await this.#ctx.locate(piece.node, signal).catch(() => undefined)
      if (found === undefined || sameAddrs(found, node)) throw err
      this.#relocated.set(piece.node.peerId, found)
      this.#emit({ type: 'relocated', node: found.peerId, addrs: found.addrs })
      return getPiece(this.#peer, found, request, options)
    }
  }

  #notEnough(granted: GrantedSegment, have: number, failures: Failure[]): ShoalError {
    const { k } = this.#layout
    const missing = failures.map((f) => `piece ${f.piece} on ${f.node}: ${f.error}`).join('; ')
    return new ShoalError(
      ErrorCode.NOT_ENOUGH_PIECES,
      `segment ${granted.index}: only ${have} of the ${k} pieces needed could be fetched (${granted.pieces.length} known). Missing: ${missing}`,
      { details: { segment: granted.index, have, need: k, failures } }
    )
  }
}

function sameAddrs(a: NodeAddress, b: NodeAddress): boolean {
  return a.addrs.length === b.addrs.length && a.addrs.every((x) => b.addrs.includes(x))
}

/** The piece indices an ERR_PIECE_CORRUPT from the codec's decode names, or undefined for any other error. */
function corruptPieceIndices(err: unknown): number[] | undefined {
  if (!isShoalError(err, ErrorCode.PIECE_CORRUPT)) return undefined
  const pieces = err.details?.pieces
  return Array.isArray(pieces) && pieces.length > 0 && pieces.every((p) => Number.isInteger(p)) ? pieces : undefined
}
