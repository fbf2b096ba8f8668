/** Rates older than this are not trusted: a node's link or load may have changed since. */
const MAX_AGE_MS = 24 * 60 * 60_000
/** Nodes remembered at most; the least recently measured go first. */
const MAX_NODES = 4096

/**
 * The delivery rate this client last measured from each node, kept across downloads (and, saved by the CLI,
 * across `shoal` runs). A download's scoreboard starts from these instead of knowing nothing: without them a
 * download's first segment went to whichever holders came first, and with uneven links it waited ~0.7 s on a
 * 3 MB/s host while 40 MB/s ones idled. Only a starting point: each download measures again and its rates win.
 */
export class NodeRates {
  readonly #rates = new Map<string, { bytesPerMs: number; at: number }>()
  readonly #now: () => number
  #changed = false

  constructor(now: () => number = () => Date.now()) {
    this.#now = now
  }

  /** The last measured rate in bytes per ms, unless it is too old to trust. */
  rate(peerId: string): number | undefined {
    const entry = this.#rates.get(peerId)
    return entry !== undefined && this.#now() - entry.at <= MAX_AGE_MS ? entry.bytesPerMs : undefined
  }

  /** The best rate still trusted, or 0. */
  best(): number {
    let best = 0
    for (const peerId of this.#rates.keys()) best = Math.max(best, this.rate(peerId) ?? 0)
    return best
  }

  record(peerId: string, bytesPerMs: number): void {
    if (!(Number.isFinite(bytesPerMs) && bytesPerMs > 0)) return
    this.#rates.delete(peerId)
    this.#rates.set(peerId, { bytesPerMs, at: this.#now() })
    if (this.#rates.size > MAX_NODES) this.#rates.delete(this.#rates.keys().next().value as string)
    this.#changed = true
  }

  /** Whether anything was recorded since this object was made or loaded. */
  get changed(): boolean {
    return this.#changed
  }

  toJSON(): SavedNodeRates {
    return { v: 1, rates: [...this.#rates].map(([peerId, r]) => [peerId, r.bytesPerMs, r.at]) }
  }

  /** Rates saved by `toJSON`. Anything malformed is left out: this is a cache, never a reason to fail. */
  static fromJSON(value: unknown, now?: () => number): NodeRates {
    const rates = new NodeRates(now)
    const entries = (value as Partial<SavedNodeRates> | null)?.rates
    if ((value as Partial<SavedNodeRates> | null)?.v !== 1 || !Array.isArray(entries)) return rates
    for (const entry of entries.slice(-MAX_NODES)) {
      if (!Array.isArray(entry)) continue
      const [peerId, bytesPerMs, at] = entry as unknown[]
      if (typeof peerId !== 'string' || typeof bytesPerMs !== 'number' || typeof at !== 'number') continue
      if (!(Number.isFinite(bytesPerMs) && bytesPerMs > 0 && Number.isFinite(at))) continue
      rates.#rates.set(peerId, { bytesPerMs, at })
    }
    return rates
  }
}

export interface SavedNodeRates {
  v: 1
  /** [peer id, bytes per ms, when measured (ms since the epoch)] */
  rates: [string, number, number][]
}
