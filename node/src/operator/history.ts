import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** One point of the node's traffic and storage history. */
export interface HistoryPoint {
  /** ms since the epoch. */
  at: number
  stored: number
  capacity: number
  /** Bytes received (puts) and sent (gets) since the previous point. */
  ingress: number
  egress: number
}

export const HISTORY_FILE = 'history.json'

/**
 * Ingress/egress and stored bytes sampled at a fixed interval, kept for the dashboard's charts: a bounded ring
 * (memory does not grow with uptime) saved to the data folder, so a restart keeps the picture.
 */
export class TrafficHistory {
  readonly #path: string
  readonly #max: number
  #points: HistoryPoint[] = []
  #last: { bytesIn: number; bytesOut: number } | undefined

  constructor(dataDir: string, maxPoints = 2016) {
    this.#path = join(dataDir, HISTORY_FILE)
    this.#max = maxPoints
  }

  get points(): readonly HistoryPoint[] {
    return this.#points
  }

  async load(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(this.#path, 'utf8')) as unknown
      if (Array.isArray(saved))
        this.#points = (saved as HistoryPoint[]).filter((p) => Number.isFinite(p?.at)).slice(-this.#max)
    } catch {
      this.#points = []
    }
  }

  /**
   * Adds a point from the node's running counters (which restart at zero when the node does): the first sample
   * after a start only sets the baseline.
   */
  async sample(
    now: number,
    counters: { bytesIn: number; bytesOut: number; stored: number; capacity: number }
  ): Promise<void> {
    const last = this.#last
    this.#last = { bytesIn: counters.bytesIn, bytesOut: counters.bytesOut }
    if (last === undefined) return
    this.#points.push({
      at: now,
      stored: counters.stored,
      capacity: counters.capacity,
      ingress: Math.max(0, counters.bytesIn - last.bytesIn),
      egress: Math.max(0, counters.bytesOut - last.bytesOut)
    })
    if (this.#points.length > this.#max) this.#points.splice(0, this.#points.length - this.#max)
    const tmp = `${this.#path}.tmp`
    await writeFile(tmp, JSON.stringify(this.#points))
    await rename(tmp, this.#path)
  }
}
