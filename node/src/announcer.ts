import type { ContentRouting } from '@libp2p/interface'
import type { CID } from '@shoal/core'
import { describeError, isAbort, sleep } from '@shoal/core'
import type { Logger } from 'pino'
import {
  PROVIDE_ATTEMPTS,
  PROVIDE_BATCH,
  PROVIDE_MAX_DEFER_MS,
  PROVIDE_QUEUE_MAX,
  PROVIDE_QUIET_MS,
  PROVIDE_TIMEOUT_MS
} from './constants.ts'

export interface AnnouncerComponents {
  contentRouting: ContentRouting
  logger: Logger
  /** Piece transfers (puts and gets) in flight now: announcing waits while there are any. */
  activeTransfers?: () => number
}

export interface AnnouncerInit {
  /** Provides running at once. */
  batch?: number
  /** Pieces waiting to be announced; beyond it new ones are dropped (the next full re-announce covers them). */
  maxQueue?: number
  provideTimeoutMs?: number
  /**
   * Announcing waits until no piece has arrived for this long: a DHT provide costs a lookup and several RPCs,
   * and doing them during a burst of uploads takes CPU from the transfers themselves. The tracker is the fast
   * path for finding pieces; the DHT only needs to catch up.
   */
  quietMs?: number
  /**
   * The longest a piece waits for a quiet moment. Past it, a node that never goes quiet still announces, one
   * piece at a time, so a busy node's pieces become findable without taking a batch's CPU from its transfers.
   */
  maxDeferMs?: number
}

interface Pending {
  cid: CID
  attempts: number
  queuedAt: number
}

/** How often a deferred announcer looks again whether the node went quiet. */
const QUIET_POLL_MS = 250

/**
 * Announces stored pieces in the DHT in the background, a few at a time, so a put answers without waiting for
 * the DHT and a node that restarts re-announces what it holds. A failed provide is retried a few times and then
 * left to the next re-announce; failures are expected (no peers yet) and logged at debug.
 */
export class Announcer {
  readonly #c: AnnouncerComponents
  readonly #batch: number
  readonly #maxQueue: number
  readonly #timeoutMs: number
  readonly #queue: Pending[] = []
  #wake: (() => void) | undefined
  #space: (() => void) | undefined
  #controller: AbortController | undefined
  #loop: Promise<void> | undefined
  #announced = 0
  readonly #quietMs: number
  #lastQueued = 0
  #lastBusy = 0
  readonly #maxDeferMs: number

  constructor(components: AnnouncerComponents, init: AnnouncerInit = {}) {
    this.#c = components
    this.#batch = init.batch ?? PROVIDE_BATCH
    this.#maxQueue = init.maxQueue ?? PROVIDE_QUEUE_MAX
    this.#timeoutMs = init.provideTimeoutMs ?? PROVIDE_TIMEOUT_MS
    this.#quietMs = init.quietMs ?? PROVIDE_QUIET_MS
    this.#maxDeferMs = init.maxDeferMs ?? PROVIDE_MAX_DEFER_MS
  }

  /** Pieces announced successfully since start. */
  get announced(): number {
    return this.#announced
  }

  get pending(): number {
    return this.#queue.length
  }

  start(): void {
    if (this.#controller !== undefined) return
    this.#controller = new AbortController()
    this.#loop = this.#run(this.#controller.signal)
  }

  async stop(): Promise<void> {
    const controller = this.#controller
    if (controller === undefined) return
    this.#controller = undefined
    controller.abort()
    this.#notify()
    this.#space?.()
    await this.#loop
    this.#loop = undefined
  }

  /** Queues one piece; never blocks. */
  queue(cid: CID): void {
    if (this.#queue.length >= this.#maxQueue) {
      this.#c.logger.debug({ piece: cid.toString() }, 'announce queue full: left to the next re-announce')
      return
    }
    this.#lastQueued = Date.now()
    this.#queue.push({ cid, attempts: 0, queuedAt: this.#lastQueued })
    this.#notify()
  }

  /** Queues every piece from `source`, waiting for room: memory stays bounded however many pieces there are. */
  async queueAll(source: AsyncIterable<CID>, signal: AbortSignal): Promise<number> {
    let count = 0
    for await (const cid of source) {
      while (this.#queue.length >= this.#maxQueue && !signal.aborted && this.#controller !== undefined) {
        await new Promise<void>((resolve) => {
          this.#space = resolve
        })
      }
      if (signal.aborted || this.#controller === undefined) break
      this.#queue.push({ cid, attempts: 0, queuedAt: Date.now() })
      this.#notify()
      count++
    }
    return count
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve
        })
        continue
      }
      const now = Date.now()
      const overdue = now - (this.#queue[0]?.queuedAt ?? now) >= this.#maxDeferMs
      // Quiet means no transfer for quietMs, not just none at this instant: a download leaves each node idle
      // for moments between its requests, and a batch of provides started there competes with the next one.
      if ((this.#c.activeTransfers?.() ?? 0) > 0) this.#lastBusy = now
      const quiet = Math.max(this.#lastQueued, this.#lastBusy) + this.#quietMs - now
      const busy = now === this.#lastBusy
      if (!overdue && (quiet > 0 || busy)) {
        await sleep(quiet > 0 ? quiet : QUIET_POLL_MS, signal).catch(() => {})
        continue
      }
      const batch = this.#queue.splice(0, overdue && busy ? 1 : this.#batch)
      const space = this.#space
      this.#space = undefined
      space?.()
      await Promise.all(batch.map((item) => this.#provide(item, signal)))
    }
  }

  async #provide(item: Pending, signal: AbortSignal): Promise<void> {
    const piece = item.cid.toString()
    try {
      await this.#c.contentRouting.provide(item.cid, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)])
      })
      this.#announced++
      this.#c.logger.debug({ piece }, 'piece announced')
    } catch (err) {
      if (isAbort(err, signal)) return
      item.attempts++
      this.#c.logger.debug({ piece, attempts: item.attempts, err: describeError(err) }, 'announce failed')
      if (item.attempts < PROVIDE_ATTEMPTS && this.#queue.length < this.#maxQueue) this.#queue.push(item)
    }
  }
}
