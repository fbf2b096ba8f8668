/**
 * Turns a transfer's progress reports into what a person should see. The engine reports once per segment
 * (8 MiB by default), several segments at once, so raw progress jumps and then stands still for seconds; and
 * a speed taken over the first few milliseconds of a tiny file is absurd. So:
 * - the speed is measured over a sliding window of reports, and is 0 ("not known yet") until a second has
 *   passed, and for small files always: the UI says "starting…" instead of a made-up rate or "16666 h left";
 * - between reports the shown bytes advance at the measured speed, never further than one step (the largest
 *   jump seen) past the last report and never backwards;
 * - reports that arrive bunched (several segments finishing together, or a busy page) are eased in over about
 *   a second instead of drawn as one jump.
 */
export const MIN_MEASURE_MS = 1000
/** Share of the remaining gap to the target closed per `shown` call (the UI calls it every 200 ms). */
const EASING = 0.35
/** Below this a transfer's time is mostly round trips (tracker, grants, dials): its "speed" would say nothing. */
export const MIN_MEASURE_BYTES = 256 * 1024
const WINDOW_MS = 5000

export class ProgressMeter {
  readonly total: number
  readonly #startedAt: number
  #samples: { at: number; bytes: number }[] = []
  #step = 0
  #shown = 0

  constructor(total: number, now = performance.now()) {
    this.total = total
    this.#startedAt = now
    this.#samples.push({ at: now, bytes: 0 })
  }

  report(bytes: number, now = performance.now()): void {
    const last = this.#samples[this.#samples.length - 1]!
    if (bytes < last.bytes) return
    this.#step = Math.max(this.#step, bytes - last.bytes)
    this.#samples.push({ at: now, bytes })
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > WINDOW_MS) this.#samples.shift()
  }

  /** Bytes per second, or 0 while too little is known to say. */
  speed(now = performance.now()): number {
    if (now - this.#startedAt < MIN_MEASURE_MS || this.total < MIN_MEASURE_BYTES) return 0
    const first = this.#samples[0]!
    const last = this.#samples[this.#samples.length - 1]!
    const reported = last.bytes
    if (reported === 0) return 0
    // Over the window when it spans enough time; else the average since the start (setup time included, so
    // the first figure is low rather than high).
    const span = last.at - first.at
    if (span >= MIN_MEASURE_MS && last.bytes > first.bytes) return ((last.bytes - first.bytes) * 1000) / span
    return (reported * 1000) / Math.max(1, now - this.#startedAt)
  }

  /**
   * The bytes to draw now: eased toward the target (the last report, plus what the measured speed says has
   * moved since, at most one step ahead), monotonic. Call it once per frame or tick.
   */
  shown(now = performance.now()): number {
    const last = this.#samples[this.#samples.length - 1]!
    const speed = this.speed(now)
    const estimate = speed > 0 ? last.bytes + (speed * (now - last.at)) / 1000 : last.bytes
    const target = Math.max(last.bytes, Math.min(estimate, this.total, last.bytes + this.#step * 0.95))
    const gap = target - this.#shown
    // Small gaps close at once; a big jump is spread over several ticks.
    if (gap > 0) this.#shown += gap <= this.total / 200 ? gap : gap * EASING
    return Math.floor(this.#shown)
  }

  /** Seconds left, or undefined while the speed is not known. */
  remaining(now = performance.now()): number | undefined {
    const speed = this.speed(now)
    // From what is drawn, without easing it on (only `shown` moves it).
    return speed > 0 ? Math.max(0, (this.total - this.#shown) / speed) : undefined
  }

  /** The whole transfer's average, for the "done" line; undefined when it was too short to mean anything. */
  average(now = performance.now()): number | undefined {
    const ms = now - this.#startedAt
    return ms < MIN_MEASURE_MS || this.total < MIN_MEASURE_BYTES ? undefined : (this.total * 1000) / ms
  }
}
