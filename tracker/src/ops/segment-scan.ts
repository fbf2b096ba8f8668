import type { Clock } from '../config.ts'
import type { ScanCursor, StoreParts } from '../store/store.ts'
import { type WalkedSegment, walkedPage } from './segments.ts'

/** Most segments read per store statement (and claimed per cursor write). */
export const SCAN_PAGE = 1000
/** Cursor writes lost to another tracker in a row before this tick gives up (it tries again next tick). */
const MAX_CLAIM_ATTEMPTS = 5

export interface ScanSlice {
  segments: WalkedSegment[]
  /** This slice began a pass (the first slice of it). */
  started: boolean
  /** This slice reached the last segment: the pass is over. */
  finished: boolean
  /** The cursor as this slice left it. */
  cursor: ScanCursor
}

/**
 * A walk over every segment that goes a slice at a time from a position kept in the store's coordination part
 * (docs/tracker-shape.md, "Background work"). Each slice is claimed by moving the cursor past it, with a version
 * check, before anyone works on it: two trackers never take the same slice, a restart goes on where the walk
 * stood, and a slice claimed by a tracker that then died is only checked again at the next pass.
 */
export class SegmentScan {
  readonly #store: StoreParts<'objects' | 'coordination'>
  readonly #clock: Clock
  readonly name: string
  /**
   * When this process last began a pass (or was made), in its own monotonic time: tick() begins one only after
   * a period of that too, so a test clock jumping days does not set off a pass on every tick, and a process
   * never begins passes faster than its interval whatever the clocks say.
   */
  #localPassAt = performance.now()
  /**
   * The tracker-clock start of the pass the last cursor read found finished, while no slice has been claimed
   * since (no pass ever: minus infinity). tick() reads nothing until a new pass may begin by both rules of
   * next(): an idle tick between passes costs no store statement. Only the lease holder walks, so nobody
   * else begins the next pass early (a trigger's fullPass, on any tracker, walks its pass itself).
   */
  #finished: number | undefined

  constructor(name: string, store: StoreParts<'objects' | 'coordination'>, clock: Clock) {
    this.name = name
    this.#store = store
    this.#clock = clock
  }

  /**
   * Claims the next slice of at most `limit` segments. A finished pass is followed by a new one once `periodMs`
   * has passed since it began (0: at once) and if `mayBegin`; before that, and when other trackers kept winning
   * the cursor, the answer is undefined.
   */
  async next(limit: number, periodMs: number, mayBegin = true): Promise<ScanSlice | undefined> {
    const { coordination, objects } = this.#store
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const now = this.#clock.now()
      const stored = await coordination.getCursor(this.name)
      const version = (stored?.version ?? 0) + 1
      const started = stored === undefined || stored.finishedAt !== undefined
      this.#finished = started ? (stored?.startedAt ?? Number.NEGATIVE_INFINITY) : undefined
      if (started && !mayBegin) return undefined
      if (stored !== undefined && started && now - stored.startedAt < periodMs) return undefined
      this.#finished = undefined
      const base: ScanCursor = started
        ? { version, pass: (stored?.pass ?? 0) + 1, startedAt: now, segments: 0 }
        : { ...stored, version }
      const page = await objects.listSegments(base.after, limit)
      const last = page.at(-1)
      const finished = page.length < limit || last === undefined
      const { after: _, ...rest } = base
      const cursor: ScanCursor = finished
        ? { ...rest, segments: base.segments + page.length, finishedAt: now }
        : {
            ...rest,
            segments: base.segments + page.length,
            after: { objectId: last.objectId, index: last.segment.index }
          }
      if (await coordination.putCursor(this.name, cursor)) {
        return { segments: walkedPage(page), started, finished, cursor }
      }
    }
    return undefined
  }

  /**
   * Runs `budget` segments' worth of slices (one tick of a background task), handing each slice to `work`.
   * Stops at the end of a pass.
   */
  async tick(
    budget: number,
    periodMs: number,
    work: (slice: ScanSlice) => Promise<void>,
    signal?: AbortSignal
  ): Promise<void> {
    const finished = this.#finished
    const localDue = performance.now() - this.#localPassAt >= periodMs
    if (finished !== undefined && (!localDue || this.#clock.now() - finished < periodMs)) return
    for (let left = budget; left > 0 && signal?.aborted !== true; ) {
      const mayBegin = performance.now() - this.#localPassAt >= periodMs
      const slice = await this.next(Math.min(left, SCAN_PAGE), periodMs, mayBegin)
      if (slice === undefined) return
      if (slice.started) this.#localPassAt = performance.now()
      left -= SCAN_PAGE
      await work(slice)
      if (slice.finished) return
    }
  }

  /** Runs slices until a whole pass begun by this call is done (tests, an operator's trigger). */
  async fullPass(work: (slice: ScanSlice) => Promise<void>, signal?: AbortSignal): Promise<void> {
    let began = false
    for (;;) {
      signal?.throwIfAborted()
      const slice = await this.next(SCAN_PAGE, 0)
      if (slice === undefined) continue
      // The end of a pass another call began is worked on too (it was claimed): only our own pass ends the loop.
      began ||= slice.started
      await work(slice)
      if (slice.finished && began) return
    }
  }
}
