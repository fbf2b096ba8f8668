import type { Connection, PrivateKey, PublicKey, Stream } from '@libp2p/interface'
import {
  ByteReader,
  type DeleteOrder,
  describeError,
  ErrorCode,
  encodeFrame,
  errorResponse,
  type Grant,
  type GrantKind,
  MAX_FRAME_HEADER_BYTES,
  MAX_PIECE_BYTES,
  MerkleAccumulator,
  PausingReader,
  parseDeleteRequest,
  parseGetRequest,
  parsePieceCid,
  parsePutRequest,
  REPAIR_ACCOUNT,
  readFrame,
  ShoalError,
  sendBounded,
  signReceipt,
  verifyGrant
} from '@shoal/core'
import type { Logger } from 'pino'
import {
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_PENDING_PER_PEER,
  DEFAULT_MAX_REQUESTS_PER_PEER,
  DEFAULT_RECEIPT_CREDIT_BYTES,
  DEFAULT_STREAM_IDLE_TIMEOUT_MS,
  FINISH_GRACE_MS,
  GRANT_SKEW_MS,
  MAX_READ_BUFFER_BYTES,
  MAX_WRITE_BUFFER_BYTES,
  MIN_PACED_SLICE_BYTES,
  PACED_SLICE_MS,
  READ_HIGH_WATER_BYTES,
  READ_SLICE_BYTES
} from './constants.ts'
import { CreditWindow } from './credit-window.ts'
import type { PieceStore } from './piece-store.ts'
import { TokenBucket } from './token-bucket.ts'
import type { UsedSerials } from './used-serials.ts'
import { Watchdog } from './watchdog.ts'

export type PieceOperation = 'put' | 'get' | 'delete'

/** What the service needs of a piece store: tests wrap a real one to inject faults (a slow disk). */
export type PieceStorage = Pick<PieceStore, 'put' | 'openReader' | 'release'>

export interface PieceServiceComponents {
  /** This node's peer id: grants must name it. */
  peerId: string
  /** Signs put receipts. */
  privateKey: PrivateKey
  /** Verifies grants. */
  trackerKey: PublicKey
  store: PieceStorage
  serials: UsedSerials
  logger: Logger
  /** A delete grant was carried out (report its serial to the tracker). */
  onDeleted?: (serial: string) => void
  /**
   * A get ended with the client's latest valid receipt for its grant (queue it for settlement): the grant's
   * token, the grant it verified to, and the receipt with the bytes it claims, verified against that grant.
   */
  onReceipt?: (token: string, grant: Grant, receipt: string, bytes: number) => void
}

export interface PieceServiceInit {
  /** Bytes per second for all get responses together; 0 = unlimited. */
  egressLimit?: number
  /** A request whose stream moves nothing for this long is aborted. */
  idleTimeoutMs?: number
  /** Authorized requests (a valid grant read) served at once; more are refused with ERR_NODE_OVERLOADED. */
  maxConcurrentRequests?: number
  /**
   * Streams one peer may have open whose request header has not arrived yet; more are refused at once. With
   * `headerTimeoutMs`, this keeps anyone without grants from holding the node's slots (issue 12).
   */
  maxPendingPerPeer?: number
  /** Authorized requests one peer may have in flight; more are refused with ERR_NODE_OVERLOADED. */
  maxRequestsPerPeer?: number
  /** The request header must have arrived this long after the stream opened, however slowly it trickles. */
  headerTimeoutMs?: number
  /** Bytes of a paid get sent beyond what the client's receipts cover (credit-window.ts). */
  creditBytes?: number
  /** Clock difference tolerated on grant times. */
  grantSkewMs?: number
  /** Get responses are read from disk and sent in slices of this size; default READ_SLICE_BYTES, smaller when capped. */
  readSliceBytes?: number
  /**
   * libp2p resets a stream whose paused read buffer grows past this; default MAX_READ_BUFFER_BYTES. It must
   * exceed the muxer's largest stream window, which is all a paused stream can still receive.
   */
  maxReadBufferBytes?: number
}

export interface PieceServiceStats {
  active: number
  requests: Record<PieceOperation, number>
  failures: number
  bytesIn: number
  bytesOut: number
}

/** One request in flight. */
interface Request {
  op: PieceOperation
  stream: Stream
  reader: ByteReader
  watchdog: Watchdog
  signal: AbortSignal
  log: Logger
  /**
   * Request body bytes the peer will still send that may be read and dropped so that it gets to read our error
   * answer (it sends the whole body before it reads); undefined until a valid request header was read.
   */
  pendingBody: number | undefined
  /** A response header went out: a later failure can only reset the stream. */
  responded: boolean
  /** The request could not be parsed (or was shed): only a short grace is given before resetting. */
  unsynced: boolean
  peer: string
  /** Counted in #pending until its header arrived. */
  pendingHeader: boolean
  /** Counted as active (authorized) until it ends. */
  counted: boolean
  /** Aborts the request when the header has not arrived in time; cleared once it has. */
  headerTimer: ReturnType<typeof setTimeout>
}

/**
 * Serves the piece protocols: put, get and delete, each a header frame (plus the body for put) answered by a
 * header frame (plus the bytes for get). Every request must carry a valid grant from the tracker for this node,
 * this piece and this operation, used once. Failures are answered with a typed error header whenever the stream
 * still allows it; the stream is then closed, or reset if the peer misbehaves.
 */
export class PieceService {
  readonly #c: PieceServiceComponents
  readonly #log: Logger
  readonly #idleTimeoutMs: number
  readonly #maxConcurrent: number
  readonly #maxPendingPerPeer: number
  readonly #maxPerPeer: number
  readonly #headerTimeoutMs: number
  readonly #creditBytes: number
  /** Streams per peer still waiting for their request header. */
  readonly #pending = new Map<string, number>()
  /** Authorized requests per peer. */
  readonly #activeByPeer = new Map<string, number>()
  readonly #skewMs: number
  readonly #readSliceBytes: number
  readonly #maxReadBufferBytes: number
  readonly #egress: TokenBucket | undefined
  readonly #inflight = new Set<Promise<void>>()
  #controller: AbortController | undefined
  readonly #stats: PieceServiceStats = {
    active: 0,
    requests: { put: 0, get: 0, delete: 0 },
    failures: 0,
    bytesIn: 0,
    bytesOut: 0
  }

  constructor(components: PieceServiceComponents, init: PieceServiceInit = {}) {
    this.#c = components
    this.#log = components.logger
    this.#idleTimeoutMs = init.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS
    this.#maxConcurrent = init.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS
    this.#maxPendingPerPeer = init.maxPendingPerPeer ?? DEFAULT_MAX_PENDING_PER_PEER
    this.#maxPerPeer = init.maxRequestsPerPeer ?? DEFAULT_MAX_REQUESTS_PER_PEER
    this.#headerTimeoutMs = init.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS
    this.#creditBytes = init.creditBytes ?? DEFAULT_RECEIPT_CREDIT_BYTES
    this.#skewMs = init.grantSkewMs ?? GRANT_SKEW_MS
    this.#maxReadBufferBytes = init.maxReadBufferBytes ?? MAX_READ_BUFFER_BYTES
    const rate = init.egressLimit ?? 0
    // A capped node sends slices of about PACED_SLICE_MS of its uplink, so pacing stays smooth at any rate;
    // uncapped, big slices keep yamux framing and syscalls cheap.
    const paced = Math.max(MIN_PACED_SLICE_BYTES, Math.round((rate * PACED_SLICE_MS) / 1000))
    this.#readSliceBytes = init.readSliceBytes ?? (rate > 0 ? Math.min(READ_SLICE_BYTES, paced) : READ_SLICE_BYTES)
    // One bucket for the whole node, one read slice of burst: it models the home uplink.
    this.#egress = rate > 0 ? new TokenBucket({ rate, burst: this.#readSliceBytes }) : undefined
  }

  get stats(): PieceServiceStats {
    return { ...this.#stats, requests: { ...this.#stats.requests } }
  }

  start(): void {
    if (this.#controller !== undefined) return
    this.#controller = new AbortController()
  }

  /** Aborts requests in flight and waits until each has cleaned up (temporary files removed). */
  async stop(): Promise<void> {
    const controller = this.#controller
    if (controller === undefined) return
    this.#controller = undefined
    controller.abort(new ShoalError(ErrorCode.ABORTED, 'node is stopping'))
    await Promise.allSettled([...this.#inflight])
  }

  readonly handlePut = (stream: Stream, connection: Connection): Promise<void> =>
    this.#handle('put', stream, connection)
  readonly handleGet = (stream: Stream, connection: Connection): Promise<void> =>
    this.#handle('get', stream, connection)
  readonly handleDelete = (stream: Stream, connection: Connection): Promise<void> =>
    this.#handle('delete', stream, connection)

  /**
   * Carries out a delete order from a heartbeat: verified exactly like a delete request. Idempotent: an order
   * whose serial was already used (the client may have sent the same grant directly) deletes again, harmlessly,
   * and still counts as carried out. Returns the serial to report.
   */
  async executeDeleteOrder(order: DeleteOrder): Promise<string> {
    const cid = parsePieceCid(order.piece)
    const grant = await verifyGrant(order.grant, this.#c.trackerKey, {
      kind: 'delete',
      node: this.#c.peerId,
      piece: order.piece,
      now: Date.now(),
      skewMs: this.#skewMs
    })
    const obj = ownerOf(grant)
    try {
      await this.#c.serials.claim(grant.serial, grant.exp + this.#skewMs)
    } catch (err) {
      if (!(err instanceof ShoalError) || err.code !== ErrorCode.GRANT_REPLAYED) throw err
    }
    const result = await this.#c.store.release(cid, obj)
    this.#log.info({ piece: order.piece, serial: grant.serial, obj, ...result }, 'delete order carried out')
    this.#c.onDeleted?.(grant.serial)
    return grant.serial
  }

  async #handle(op: PieceOperation, stream: Stream, connection: Connection): Promise<void> {
    const controller = this.#controller
    if (controller === undefined) {
      stream.abort(new ShoalError(ErrorCode.ABORTED, 'node is not serving'))
      return
    }
    // A peer with too many streams still waiting for their header is answered with a typed error through the
    // same path (so it can read it), given only a short grace, and not counted; honest clients move on.
    const peer = connection.remotePeer.toString()
    const shed = (this.#pending.get(peer) ?? 0) >= this.#maxPendingPerPeer
    if (!shed) this.#stats.requests[op]++
    const task = this.#serve(op, stream, connection, controller.signal, shed)
    this.#inflight.add(task)
    try {
      await task
    } finally {
      this.#inflight.delete(task)
    }
  }

  async #serve(
    op: PieceOperation,
    stream: Stream,
    connection: Connection,
    stopSignal: AbortSignal,
    shed: boolean
  ): Promise<void> {
    const watchdog = new Watchdog(this.#idleTimeoutMs)
    const headerDeadline = new AbortController()
    const headerTimer = setTimeout(
      () => headerDeadline.abort(new ShoalError(ErrorCode.TIMEOUT, 'the request header did not arrive in time')),
      this.#headerTimeoutMs
    )
    const signal = AbortSignal.any([stopSignal, watchdog.signal, headerDeadline.signal])
    // Bounded by the muxer window: what a paused stream may still receive (see PausingReader).
    stream.maxReadBufferLength = this.#maxReadBufferBytes
    const source = new PausingReader(stream, {
      highWaterMark: READ_HIGH_WATER_BYTES,
      signal,
      onActivity: () => watchdog.touch()
    })
    const req: Request = {
      op,
      stream,
      reader: new ByteReader(source),
      watchdog,
      signal,
      log: this.#log.child({ op, peer: connection.remotePeer.toString() }),
      pendingBody: undefined,
      responded: false,
      unsynced: false,
      peer: connection.remotePeer.toString(),
      pendingHeader: !shed,
      counted: false,
      headerTimer
    }
    if (!shed) this.#pending.set(req.peer, (this.#pending.get(req.peer) ?? 0) + 1)
    const started = performance.now()
    try {
      if (shed) {
        throw new ShoalError(ErrorCode.NODE_OVERLOADED, 'too many streams from this peer wait for their request header')
      }
      if (op === 'put') await this.#put(req)
      else if (op === 'get') await this.#get(req)
      else await this.#delete(req)
      req.log.debug({ ms: Math.round(performance.now() - started) }, `${op} served`)
    } catch (err) {
      this.#stats.failures++
      await this.#fail(req, err)
    } finally {
      this.#headerArrived(req)
      if (req.counted) {
        this.#stats.active--
        decrement(this.#activeByPeer, req.peer)
      }
      source.dispose()
      watchdog.dispose()
    }
  }

  async #readHeader(req: Request): Promise<Record<string, unknown>> {
    const header = await readFrame(req.reader)
    if (header === undefined) throw new ShoalError(ErrorCode.TRUNCATED, 'stream ended before the request header')
    this.#headerArrived(req)
    return header
  }

  /** The header is in: no deadline any more, and it stops counting against its peer's streams without one. */
  #headerArrived(req: Request): void {
    clearTimeout(req.headerTimer)
    if (!req.pendingHeader) return
    req.pendingHeader = false
    decrement(this.#pending, req.peer)
  }

  async #put(req: Request): Promise<void> {
    const put = parsePutRequest(await this.#readHeader(req))
    // The body size is known from here: a rejection can let the peer finish sending and read the answer.
    req.pendingBody = put.size <= MAX_PIECE_BYTES ? put.size : undefined
    const cid = parsePieceCid(put.piece)
    req.log = req.log.child({ piece: put.piece, size: put.size })
    if (put.size > MAX_PIECE_BYTES) {
      throw new ShoalError(ErrorCode.FRAME_TOO_LARGE, `piece of ${put.size} bytes exceeds ${MAX_PIECE_BYTES}`)
    }
    const grant = await this.#authorize(req, 'put', put.grant, put.piece)
    if (put.size > grant.size) {
      throw new ShoalError(ErrorCode.GRANT_LIMIT, `piece of ${put.size} bytes exceeds the grant's ${grant.size}`)
    }
    const ref = ownerOf(grant)
    // The node computes the piece's Merkle root itself from the bytes it verifies and signs it: audits check
    // against this, so no client can frame the node with a wrong root (docs/security.md).
    const merkle = new MerkleAccumulator()
    const result = await this.#c.store.put(cid, put.size, this.#body(req, put.size), {
      signal: req.signal,
      ref,
      onChunk: (chunk) => merkle.update(chunk)
    })
    const receipt = await signReceipt(this.#c.privateKey, {
      v: 2,
      kind: 'put',
      piece: put.piece,
      node: this.#c.peerId,
      size: put.size,
      serial: grant.serial,
      root: await merkle.root(),
      at: Date.now()
    })
    await this.#respond(req, { ok: true, receipt })
    req.log.debug({ existed: result.existed }, 'piece stored')
    await this.#finish(req)
  }

  async #get(req: Request): Promise<void> {
    const get = parseGetRequest(await this.#readHeader(req))
    req.pendingBody = 0
    const cid = parsePieceCid(get.piece)
    req.log = req.log.child({ piece: get.piece })
    const grant = await this.#authorize(req, 'get', get.grant, get.piece)
    // Every byte served must be payable: a get grant names the client's receipt key, except the tracker's own
    // repair reads, which the network pays (issue 12).
    if (grant.rk === undefined && grant.account !== REPAIR_ACCOUNT) {
      throw new ShoalError(ErrorCode.RECEIPT_REQUIRED, `get grant ${grant.serial} names no receipt key`)
    }
    const piece = await this.#c.store.openReader(cid)
    let credit: CreditWindow | undefined
    try {
      const offset = get.offset ?? 0
      if (offset > piece.size) {
        throw new ShoalError(ErrorCode.INVALID_INPUT, `offset ${offset} is past the end of a ${piece.size}-byte piece`)
      }
      const length = get.length ?? piece.size - offset
      if (offset + length > piece.size) {
        throw new ShoalError(
          ErrorCode.INVALID_INPUT,
          `range ${offset}+${length} is past the end of a ${piece.size}-byte piece`
        )
      }
      if (length > grant.size) {
        throw new ShoalError(ErrorCode.GRANT_LIMIT, `${length} bytes requested, the grant allows ${grant.size}`)
      }
      if (grant.rk !== undefined) {
        credit = new CreditWindow({ reader: req.reader, grant, node: this.#c.peerId, creditBytes: this.#creditBytes })
      }
      await this.#respond(req, { ok: true, size: length, pieceSize: piece.size })
      await sendBounded(req.stream, this.#paced(req, piece.slices(offset, length, this.#readSliceBytes), credit), {
        maxBuffered: MAX_WRITE_BUFFER_BYTES,
        signal: req.signal
      })
    } finally {
      await piece.close()
    }
    if (credit === undefined) {
      await this.#finish(req)
      return
    }
    await this.#finishPaid(req, credit, get.grant)
  }

  /** Ends a get under a credit window: the client's last receipt, then its end of the stream, within the grace. */
  async #finishPaid(req: Request, credit: CreditWindow, grant: string): Promise<void> {
    try {
      await req.stream.close({ signal: req.signal })
      req.watchdog.setIdle(FINISH_GRACE_MS)
      await credit.end()
    } catch (err) {
      req.log.debug({ err: describeError(err) }, 'peer did not end the get cleanly: resetting it')
      req.stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      const best = credit.receipt
      if (best !== undefined) this.#c.onReceipt?.(grant, credit.grant, best.receipt, best.bytes)
    }
  }

  async #delete(req: Request): Promise<void> {
    const del = parseDeleteRequest(await this.#readHeader(req))
    req.pendingBody = 0
    const cid = parsePieceCid(del.piece)
    req.log = req.log.child({ piece: del.piece })
    const grant = await this.#authorize(req, 'delete', del.grant, del.piece)
    const { existed } = await this.#c.store.release(cid, ownerOf(grant))
    this.#c.onDeleted?.(grant.serial)
    await this.#respond(req, { ok: true, existed })
    await this.#finish(req)
  }

  /** Grant checks, then the replay check, which records the serial before any work is done. */
  async #authorize(req: Request, kind: GrantKind, token: string, piece: string): Promise<Grant> {
    const grant = await verifyGrant(token, this.#c.trackerKey, {
      kind,
      node: this.#c.peerId,
      piece,
      now: Date.now(),
      skewMs: this.#skewMs
    })
    // Only requests with a valid grant count against the node's limits: without one, nobody holds a slot.
    if (this.#stats.active >= this.#maxConcurrent) {
      throw new ShoalError(ErrorCode.NODE_OVERLOADED, 'node is busy: too many requests in flight')
    }
    if ((this.#activeByPeer.get(req.peer) ?? 0) >= this.#maxPerPeer) {
      throw new ShoalError(ErrorCode.NODE_OVERLOADED, 'too many requests in flight from this peer')
    }
    await this.#c.serials.claim(grant.serial, grant.exp + this.#skewMs)
    this.#stats.active++
    this.#activeByPeer.set(req.peer, (this.#activeByPeer.get(req.peer) ?? 0) + 1)
    req.counted = true
    req.log = req.log.child({ serial: grant.serial })
    return grant
  }

  /** The put body as it arrives, tracking how much of it is still to come. */
  async *#body(req: Request, size: number): AsyncGenerator<Uint8Array> {
    for await (const chunk of req.reader.stream(size)) {
      req.pendingBody = (req.pendingBody ?? 0) - chunk.byteLength
      this.#stats.bytesIn += chunk.byteLength
      yield chunk
      // The disk took the chunk: that is progress too. While the stream is paused nothing arrives, and a slow
      // disk may take longer than the idle timeout to work through what the window let in.
      req.watchdog.touch()
    }
  }

  /**
   * Get slices paced by the node's egress bucket and, for paid gets, by the client's receipts (credit-window.ts);
   * each step means the previous write drained.
   */
  async *#paced(req: Request, slices: AsyncIterable<Uint8Array>, credit?: CreditWindow): AsyncGenerator<Uint8Array> {
    for await (const slice of slices) {
      req.watchdog.touch()
      await credit?.take(slice.byteLength, req.signal)
      req.watchdog.touch()
      await this.#egress?.take(slice.byteLength, req.signal)
      this.#stats.bytesOut += slice.byteLength
      yield slice
    }
    req.watchdog.touch()
  }

  async #respond(req: Request, header: object): Promise<void> {
    req.responded = true
    await sendBounded(req.stream, [encodeFrame(header)], { signal: req.signal })
    req.watchdog.touch()
  }

  /**
   * Ends a request whose answer went out: close our side, then read to the peer's end, dropping at most
   * `pendingBody` bytes; a peer that sends more than that, or stays silent past the grace period, is reset.
   */
  async #finish(req: Request): Promise<void> {
    const { stream } = req
    try {
      await stream.close({ signal: req.signal })
      const limit = req.pendingBody ?? 0
      // A body still due may take the normal idle time; otherwise the peer only has to close its side.
      req.watchdog.setIdle(limit > 0 && !req.unsynced ? this.#idleTimeoutMs : FINISH_GRACE_MS)
      let dropped = 0
      try {
        for await (const chunk of req.reader.stream(limit)) dropped += chunk.byteLength
      } catch (err) {
        // Ending before `limit` is the normal case when nothing more was due.
        if (!(err instanceof ShoalError) || err.code !== ErrorCode.TRUNCATED) throw err
      }
      if (dropped === limit) await req.reader.expectEnd()
    } catch (err) {
      req.log.debug({ err: describeError(err) }, 'peer did not end the stream cleanly: resetting it')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  async #fail(req: Request, err: unknown): Promise<void> {
    const error = err instanceof ShoalError ? err : new ShoalError(ErrorCode.INTERNAL, 'internal error', { cause: err })
    logFailure(req, error, err)
    const code = error.code
    if (code === ErrorCode.TRUNCATED) req.pendingBody = 0
    const cannotAnswer =
      req.responded ||
      code === ErrorCode.ABORTED ||
      code === ErrorCode.TIMEOUT ||
      req.stream.status !== 'open' ||
      req.stream.writeStatus !== 'writable'
    if (cannotAnswer) {
      req.stream.abort(error)
      return
    }
    if (req.pendingBody === undefined) {
      // Unparseable input: allow the rest of a largest header (and its length prefix) before resetting.
      req.pendingBody = 2 * MAX_FRAME_HEADER_BYTES
      req.unsynced = true
    }
    try {
      await this.#respond(req, errorResponse(error))
    } catch {
      req.stream.abort(error)
      return
    }
    await this.#finish(req)
  }
}

/**
 * The object a put or delete grant is for: pieces are owned per object, so a delete can only release the
 * object's own hold (piece-store.ts). A grant without one (an older tracker) is refused rather than guessed.
 */
function ownerOf(grant: Grant): string {
  if (grant.obj === undefined) {
    throw new ShoalError(ErrorCode.GRANT_INVALID, `${grant.kind} grant ${grant.serial} names no object`)
  }
  return grant.obj
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 0) - 1
  if (n > 0) counts.set(key, n)
  else counts.delete(key)
}

const WARN_CODES: ReadonlySet<string> = new Set([
  ErrorCode.NODE_FULL,
  ErrorCode.DISK_FULL,
  ErrorCode.NODE_OVERLOADED,
  ErrorCode.PIECE_CORRUPT
])

function logFailure(req: Request, error: ShoalError, original: unknown): void {
  if (error.code === ErrorCode.INTERNAL) {
    req.log.error({ err: original }, `${req.op} failed`)
  } else if (WARN_CODES.has(error.code)) {
    req.log.warn({ code: error.code, err: error.message }, `${req.op} refused`)
  } else {
    req.log.info({ code: error.code, err: error.message }, `${req.op} refused`)
  }
}
