/**
 * What one transfer has learned about each node: requests in flight, recent throughput and failures. The
 * download engine picks holders by it, so load spreads over all nodes across the whole file, slow nodes get
 * less, and a node that failed or lied is tried only when nothing else is left.
 */
export class NodeScoreboard {
  readonly #nodes = new Map<string, NodeScore>()
  readonly #durations: number[] = []

  #get(peerId: string): NodeScore {
    let score = this.#nodes.get(peerId)
    if (score === undefined) {
      score = { inFlight: 0, bytesPerMs: undefined, failures: 0 }
      this.#nodes.set(peerId, score)
    }
    return score
  }

  started(peerId: string): void {
    this.#get(peerId).inFlight++
  }

  /** A request ended without a verdict on the node (cancelled because enough pieces arrived). */
  cancelled(peerId: string): void {
    this.#get(peerId).inFlight--
  }

  succeeded(peerId: string, bytes: number, ms: number): void {
    const score = this.#get(peerId)
    score.inFlight--
    const rate = bytes / Math.max(ms, 1)
    // An exponential moving average: recent pieces matter most, one outlier does not dominate.
    score.bytesPerMs = score.bytesPerMs === undefined ? rate : 0.7 * score.bytesPerMs + 0.3 * rate
    this.#durations.push(ms)
    if (this.#durations.length > 64) this.#durations.shift()
  }

  failed(peerId: string): void {
    const score = this.#get(peerId)
    score.inFlight--
    score.failures++
  }

  isHealthy(peerId: string): boolean {
    return this.#get(peerId).failures === 0
  }

  /** Median duration of recent successful piece requests, or undefined before the first. */
  medianDurationMs(): number | undefined {
    if (this.#durations.length === 0) return undefined
    const sorted = [...this.#durations].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]
  }

  /**
   * Expected time for `bytes` from this node, counting the requests it is already serving: lower is better.
   * Unknown nodes are assumed as fast as the best known one, so every node gets tried early.
   */
  cost(peerId: string, bytes: number): number {
    const score = this.#get(peerId)
    let best = 0
    for (const s of this.#nodes.values()) if (s.bytesPerMs !== undefined && s.bytesPerMs > best) best = s.bytesPerMs
    const rate = score.bytesPerMs ?? (best > 0 ? best : 1)
    const penalty = score.failures > 0 ? 1e9 * score.failures : 0
    return ((score.inFlight + 1) * bytes) / rate + penalty
  }
}

interface NodeScore {
  inFlight: number
  bytesPerMs: number | undefined
  failures: number
}
