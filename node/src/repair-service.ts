import type { Connection, Libp2p, PrivateKey, PublicKey, Stream } from '@libp2p/interface'
import { putPiece, ReceiptBook, ReceiptSigner, rebuildPieces } from '@shoal/client'
import {
  ByteReader,
  CID,
  describeError,
  ErrorCode,
  encodeFrame,
  MAX_REPAIR_ORDER_BYTES,
  openRepairOrder,
  type RepairAnswer,
  type RepairOrder,
  readFrame,
  ShoalError,
  sendBounded,
  verifyGrant
} from '@shoal/core'
import type { Logger } from 'pino'
import { GRANT_SKEW_MS } from './constants.ts'
import { sendRefusal } from './refusal.ts'

export interface RepairServiceComponents {
  libp2p: Libp2p
  peerId: string
  /** Signs the receipts that pay the sources for what they sent (the tracker names this key in their grants). */
  privateKey: PrivateKey
  trackerKey: PublicKey
  logger: Logger
}

export interface RepairStats {
  orders: number
  rebuilt: number
  refused: number
}

export interface RepairServiceInit {
  /** Orders carried out at once; more are refused with ERR_NODE_OVERLOADED (the tracker repairs those itself). */
  maxConcurrent?: number
  /** An order not done in this time is abandoned. */
  timeoutMs?: number
  /** A source that sends nothing for this long is dropped for the next one. */
  stallMs?: number
  /** The signed order must have arrived this long after the stream opened. */
  orderTimeoutMs?: number
}

/**
 * Repair work for the tracker (the repair protocol): reads k pieces of a segment from their holders, rebuilds
 * the missing ones and stores them on the nodes the tracker chose, so repair traffic never passes through the
 * tracker. An order is carried out only when every grant in it is the tracker's: nobody else can make a node
 * fetch or send anything. The answer carries each target's own signed receipt, which the tracker checks.
 */
export class RepairService {
  readonly #c: RepairServiceComponents
  readonly #log: Logger
  readonly #max: number
  readonly #timeoutMs: number
  readonly #stallMs: number
  readonly #orderTimeoutMs: number
  /** Orders being carried out (read and verified), against `maxConcurrent`. */
  #working = 0
  readonly #inflight = new Set<Promise<void>>()
  /** Receipts for the sources' pieces, on their way to them: repair egress is paid like any other. */
  readonly #receipts: ReceiptBook
  readonly stats: RepairStats = { orders: 0, rebuilt: 0, refused: 0 }

  constructor(components: RepairServiceComponents, init: RepairServiceInit = {}) {
    this.#c = components
    this.#log = components.logger.child({ op: 'repair' })
    this.#receipts = new ReceiptBook(ReceiptSigner.fromKey(components.privateKey), async () => components.libp2p)
    this.#max = init.maxConcurrent ?? 2
    this.#timeoutMs = init.timeoutMs ?? 120_000
    this.#stallMs = init.stallMs ?? 30_000
    this.#orderTimeoutMs = init.orderTimeoutMs ?? 5_000
  }

  readonly handle = (stream: Stream, connection: Connection): Promise<void> => {
    const task = this.#serve(stream, connection)
    this.#inflight.add(task)
    return task.finally(() => this.#inflight.delete(task))
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.#inflight])
    await this.#receipts.flush()
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    const onTimeout = (): void => stream.abort(new ShoalError(ErrorCode.TIMEOUT, 'repair took too long'))
    timeout.addEventListener('abort', onTimeout, { once: true })
    const log = this.#log.child({ peer: connection.remotePeer.toString() })
    try {
      // The order is read and its signature checked before it counts against the limit, within a short time:
      // idle streams from anyone cannot hold the node's repair slots (issue 12).
      const order = await this.#readOrder(stream)
      if (this.#working >= this.#max) {
        throw new ShoalError(ErrorCode.NODE_OVERLOADED, `already carrying out ${this.#max} repair orders`)
      }
      this.#working++
      let answer: RepairAnswer
      try {
        await this.#checkGrants(order)
        answer = await this.#carryOut(order, timeout, log)
      } finally {
        this.#working--
      }
      this.stats.orders++
      this.stats.rebuilt += answer.placed.length
      await sendBounded(stream, [encodeFrame(answer)], { signal: timeout })
      await stream.close({ signal: timeout })
      log.info({ placed: answer.placed.length, failed: answer.failed.length }, 'repair order carried out')
      // Best effort, after the answer: a source that cannot be reached now misses that payment.
      void this.#receipts.flush()
    } catch (err) {
      this.stats.refused++
      const error =
        err instanceof ShoalError ? err : new ShoalError(ErrorCode.INTERNAL, 'internal error', { cause: err })
      if (error.code === ErrorCode.INTERNAL) log.error({ err }, 'repair order failed')
      else log.info({ code: error.code, err: error.message }, 'repair order refused')
      await sendRefusal(stream, error, timeout, log, 'repair')
    } finally {
      timeout.removeEventListener('abort', onTimeout)
    }
  }

  /** The tracker-signed order for this worker (repair protocol v2), read within `orderTimeoutMs`. */
  async #readOrder(stream: Stream): Promise<RepairOrder> {
    const signal = AbortSignal.timeout(this.#orderTimeoutMs)
    const onTimeout = (): void =>
      stream.abort(new ShoalError(ErrorCode.TIMEOUT, 'no repair order within the first-byte timeout'))
    signal.addEventListener('abort', onTimeout, { once: true })
    try {
      const frame = await readFrame(new ByteReader(stream), MAX_REPAIR_ORDER_BYTES)
      if (frame === undefined) throw new ShoalError(ErrorCode.TRUNCATED, 'stream ended before the repair order')
      return await openRepairOrder(frame.order, this.#c.trackerKey, {
        worker: this.#c.peerId,
        now: Date.now(),
        skewMs: GRANT_SKEW_MS
      })
    } finally {
      signal.removeEventListener('abort', onTimeout)
    }
  }

  /** Every grant must be the tracker's, for the node and piece it is listed with. */
  async #checkGrants(order: RepairOrder): Promise<void> {
    const now = Date.now()
    const check = (kind: 'get' | 'put', p: { cid: string; node: { peerId: string }; grant: string }) =>
      verifyGrant(p.grant, this.#c.trackerKey, { kind, node: p.node.peerId, piece: p.cid, now, skewMs: GRANT_SKEW_MS })
    await Promise.all([...order.sources.map((s) => check('get', s)), ...order.targets.map((t) => check('put', t))])
    if (order.targets.some((t) => t.node.peerId === this.#c.peerId)) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, 'a repair order cannot store a piece on its own worker')
    }
  }

  async #carryOut(order: RepairOrder, signal: AbortSignal, log: Logger): Promise<RepairAnswer> {
    const rebuilt = await rebuildPieces(this.#c.libp2p, {
      k: order.k,
      m: order.m,
      pieceSize: order.pieceSize,
      sources: order.sources.filter((s) => s.node.peerId !== this.#c.peerId),
      grantFor: (s) => s.grant,
      rebuild: order.targets.map((t) => ({ index: t.index, cid: t.cid })),
      stallMs: this.#stallMs,
      signal,
      onSourceError: (s, err) => log.info({ node: s.node.peerId, err: describeError(err) }, 'repair source failed'),
      // Grants with a receipt key name this node's: the tracker pays those sources for what they sent. The
      // receipts go to the source on the get stream itself (get protocol 2.0.0), or later through the book
      // when the stream could not take the last one.
      receipts: this.#receipts
    })
    const answer: RepairAnswer = { ok: true, placed: [], failed: [] }
    await Promise.all(
      order.targets.map(async (target) => {
        const piece = rebuilt.find((r) => r.index === target.index)
        if (piece === undefined) return
        try {
          const receipt = await putPiece(
            this.#c.libp2p,
            target.node,
            { grant: target.grant, cid: CID.parse(target.cid), bytes: piece.bytes },
            { signal }
          )
          answer.placed.push({
            index: target.index,
            cid: target.cid,
            node: target.node.peerId,
            root: piece.root,
            receipt
          })
        } catch (err) {
          signal.throwIfAborted()
          answer.failed.push({ index: target.index, node: target.node.peerId, message: describeError(err) })
        }
      })
    )
    return answer
  }
}
