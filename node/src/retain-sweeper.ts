import type { PrivateKey, PublicKey } from '@libp2p/interface'
import {
  BloomFilter,
  describeError,
  ErrorCode,
  isAbort,
  isShoalError,
  ShoalError,
  signToken,
  sleep,
  verifyRetainList
} from '@shoal/core'
import type { Logger } from 'pino'
import type { PieceStore } from './piece-store.ts'

export interface RetainSweeperComponents {
  trackerUrl: string
  /** Retain lists must be signed with it (wire/retain-list.ts). */
  trackerKey: PublicKey
  peerId: string
  privateKey: PrivateKey
  store: Pick<PieceStore, 'list' | 'stat' | 'delete'>
  logger: Logger
}

/** A retain list older than this is not acted on, signed or not. */
const RETAIN_LIST_MAX_AGE_MS = 24 * 3_600_000

export interface RetainSweeperInit {
  /** How often the node asks for its retain list; default 6 h. */
  intervalMs?: number
  /**
   * Pieces stored less than this before the list was made are kept whatever it says: a repair or an upload may
   * be between its put and its commit. Default 2 h (more than a grant lives).
   */
  graceMs?: number
  /** A list that would drop more than this share of the pieces is not acted on (a tracker that lost its data). */
  maxDropFraction?: number
}

export interface RetainResult {
  kept: number
  deleted: number
  freedBytes: number
  /** Set when the list was not acted on. */
  refused?: string
}

/**
 * Garbage collection by retain filter: now and then the node asks the tracker for a Bloom filter of every piece
 * it should hold and deletes the others it has held since well before the filter was made. Delete orders
 * already remove deleted objects' pieces; this catches what they cannot (a lost order, a repair interrupted
 * between its put and its commit), so the node's disk use matches what the network says it holds. A filter
 * costs about 1.2 bytes per piece, so a node with millions of pieces fetches and holds a few megabytes; the
 * 1% of garbage it lets through is dropped by a later filter (each has its own seed).
 */
export class RetainSweeper {
  readonly #c: RetainSweeperComponents
  readonly #intervalMs: number
  readonly #graceMs: number
  readonly #maxDrop: number
  #loop: { controller: AbortController; done: Promise<void> } | undefined
  readonly stats = { sweeps: 0, deleted: 0, freedBytes: 0 }

  constructor(components: RetainSweeperComponents, init: RetainSweeperInit = {}) {
    this.#c = components
    this.#intervalMs = init.intervalMs ?? 6 * 3_600_000
    this.#graceMs = init.graceMs ?? 2 * 3_600_000
    this.#maxDrop = init.maxDropFraction ?? 0.5
  }

  start(): void {
    if (this.#loop !== undefined) return
    const controller = new AbortController()
    const signal = controller.signal
    const run = async (): Promise<void> => {
      while (!signal.aborted) {
        try {
          await sleep(this.#intervalMs, signal)
          await this.sweep(signal)
        } catch (err) {
          if (isAbort(err, signal)) return
          this.#c.logger.warn({ err: describeError(err) }, 'retain sweep failed')
        }
      }
    }
    this.#loop = { controller, done: run() }
  }

  async stop(): Promise<void> {
    const loop = this.#loop
    this.#loop = undefined
    loop?.controller.abort()
    await loop?.done
  }

  /** Asks for the retain filter and deletes what it does not hold. */
  async sweep(signal?: AbortSignal): Promise<RetainResult> {
    const { createdAt, keep } = await this.#fetchFilter(signal)
    const cutoff = createdAt - this.#graceMs
    const drop: { cid: Parameters<PieceStore['delete']>[0]; size: number }[] = []
    let total = 0
    for await (const cid of this.#c.store.list(signal === undefined ? {} : { signal })) {
      total++
      if (keep.has(cid.toString())) continue
      const record = await this.#c.store.stat(cid)
      if (record !== undefined && record.storedAt < cutoff) drop.push({ cid, size: record.size })
    }
    this.stats.sweeps++
    if (drop.length > 0 && drop.length > total * this.#maxDrop) {
      const refused = `the retain list would drop ${drop.length} of ${total} pieces: not acted on`
      this.#c.logger.error({ drop: drop.length, total }, refused)
      return { kept: total, deleted: 0, freedBytes: 0, refused }
    }
    let freed = 0
    for (const piece of drop) {
      signal?.throwIfAborted()
      if (await this.#c.store.delete(piece.cid)) freed += piece.size
    }
    this.stats.deleted += drop.length
    this.stats.freedBytes += freed
    if (drop.length > 0) this.#c.logger.info({ deleted: drop.length, freed }, 'dropped pieces nobody references')
    return { kept: total - drop.length, deleted: drop.length, freedBytes: freed }
  }

  async #fetchFilter(signal?: AbortSignal): Promise<{ createdAt: number; keep: BloomFilter }> {
    const token = await signToken(this.#c.privateKey, { v: 1, kind: 'retain', node: this.#c.peerId, at: Date.now() })
    const response = await fetch(new URL('/v1/nodes/retain', this.#c.trackerUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      signal:
        signal === undefined ? AbortSignal.timeout(120_000) : AbortSignal.any([signal, AbortSignal.timeout(120_000)])
    })
    const body = (await response.json()) as {
      createdAt?: unknown
      filter?: unknown
      signature?: unknown
      error?: { message?: string }
    }
    if (!response.ok || !Number.isSafeInteger(body.createdAt) || body.filter === undefined) {
      throw new ShoalError(
        ErrorCode.TRACKER_UNREACHABLE,
        `retain filter: ${body.error?.message ?? `unexpected answer (HTTP ${response.status})`}`
      )
    }
    // Pieces are deleted on this list's word: only one the tracker signed for this node, recently, counts.
    await verifyRetainList(body.signature, this.#c.trackerKey, {
      node: this.#c.peerId,
      createdAt: body.createdAt as number,
      filter: body.filter,
      now: Date.now(),
      maxAgeMs: RETAIN_LIST_MAX_AGE_MS
    })
    try {
      return { createdAt: body.createdAt as number, keep: BloomFilter.fromJSON(body.filter) }
    } catch (err) {
      if (!isShoalError(err)) throw err
      throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `retain filter: ${err.message}`, { cause: err })
    }
  }
}
