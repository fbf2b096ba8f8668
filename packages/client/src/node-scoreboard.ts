import type { NodeRates } from './node-rates.ts'
import type { UnreachableNodes } from './unreachable-nodes.ts'

/**
 * What one transfer has learned about each node: requests in flight, its delivery rate and failures. The
 * download engine picks holders by it, so load spreads over all nodes across the whole file, requests follow
 * measured rates (a node twice as fast gets about twice the pieces), and a node that failed or lied is tried
 * only when nothing else is left.
 */
export class NodeScoreboard {
  readonly #nodes = new Map<string, NodeScore>()
  readonly #durations: number[] = []
  readonly #now: () => number
  readonly #unreachable: UnreachableNodes | undefined
  readonly #priors: NodeRates | undefined
  /** The best measured rate, kept as rates change: cost() runs for every holder each time a request starts. */
  #bestRate = 0

  /**
   * `unreachable`: nodes the client failed to dial in earlier transfers, scored as if they failed here.
   * `priors`: rates measured in earlier downloads, used until this one measures the node (and updated by it).
   */
  constructor(now: () => number = () => performance.now(), unreachable?: UnreachableNodes, priors?: NodeRates) {
    this.#now = now
    this.#unreachable = unreachable
    this.#priors = priors
    this.#bestRate = priors?.best() ?? 0
  }

  #get(peerId: string): NodeScore {
    let score = this.#nodes.get(peerId)
    if (score === undefined) {
      score = {
        inFlight: 0,
        outstanding: 0,
        bytesPerMs: undefined,
        failures: 0,
        transferring: false,
        busySince: 0,
        busyMs: 0,
        bytes: 0
      }
      this.#nodes.set(peerId, score)
    }
    return score
  }

  /** A request for `bytes` more went to this node. */
  started(peerId: string, bytes = 0): void {
    const score = this.#get(peerId)
    score.inFlight++
    score.outstanding += bytes
  }

  /** A request ended without a verdict on the node (cancelled because enough pieces arrived). */
  cancelled(peerId: string, unreceived = 0): void {
    this.#end(this.#get(peerId), unreceived)
  }

  /** Bytes of a piece arrived from this node (called per chunk): its rate is measured from these. */
  received(peerId: string, bytes: number): void {
    const score = this.#get(peerId)
    const now = this.#now()
    score.outstanding = Math.max(0, score.outstanding - bytes)
    // The node's rate is bytes delivered per ms while bytes flow, from the first byte of a request until it has
    // none left: time spent dialling and waiting for the first byte (a cold connection's handshakes) is not
    // its rate. A 40 MB/s node measured at 5 MB/s by its first, cold request was never asked
    // again once requests waited for a free node (session 10). With several requests in flight, each one's own
    // duration understates the node (two pieces served side by side each take twice as long), and the cost
    // below already counts the queue. Sampled over at least RATE_SAMPLE_MS of transfer time.
    if (!score.transferring) {
      score.transferring = true
      score.busySince = now
    }
    score.bytes += bytes
    const busy = score.busyMs + now - score.busySince
    if (busy < RATE_SAMPLE_MS) return
    const rate = score.bytes / busy
    // An exponential moving average: recent samples matter most, one outlier does not dominate.
    const was = score.bytesPerMs
    score.bytesPerMs = was === undefined ? rate : 0.7 * was + 0.3 * rate
    this.#priors?.record(peerId, score.bytesPerMs)
    if (score.bytesPerMs >= this.#bestRate) this.#bestRate = score.bytesPerMs
    else if (was === this.#bestRate)
      this.#bestRate = Math.max(...[...this.#nodes.values()].map((s) => s.bytesPerMs ?? 0))
    score.bytes = 0
    score.busyMs = 0
    score.busySince = now
  }

  succeeded(peerId: string, ms: number): void {
    this.#end(this.#get(peerId), 0)
    this.#durations.push(ms)
    if (this.#durations.length > 64) this.#durations.shift()
  }

  failed(peerId: string, unreceived = 0): void {
    const score = this.#get(peerId)
    this.#end(score, unreceived)
    score.failures++
  }

  /** A piece this node delivered failed its hash after its request had ended (found when the segment decoded). */
  corrupted(peerId: string): void {
    this.#get(peerId).failures++
  }

  #end(score: NodeScore, unreceived: number): void {
    score.inFlight--
    score.outstanding = score.inFlight === 0 ? 0 : Math.max(0, score.outstanding - unreceived)
    if (score.inFlight === 0 && score.transferring) {
      score.busyMs += this.#now() - score.busySince
      score.transferring = false
    }
  }

  /** Requests this node is serving for this transfer now. */
  inFlight(peerId: string): number {
    return this.#nodes.get(peerId)?.inFlight ?? 0
  }

  isHealthy(peerId: string): boolean {
    return this.#failures(peerId) === 0
  }

  /**
   * Failures seen in this transfer, or, for a node an earlier transfer found down, one if it went silent and two
   * if it could not be dialled: a node that was only slow under load is asked before one that refused a dial.
   */
  #failures(peerId: string): number {
    const failures = this.#get(peerId).failures
    if (failures > 0) return failures
    const how = this.#unreachable?.downHow(peerId)
    return how === undefined ? 0 : how === 'silent' ? 1 : 2
  }

  /** Measured delivery rate in bytes per ms (or an earlier download's), or undefined before any was measured. */
  rate(peerId: string): number | undefined {
    return this.#nodes.get(peerId)?.bytesPerMs ?? this.#priors?.rate(peerId)
  }

  /** Median duration of recent successful piece requests, or undefined before the first. */
  medianDurationMs(): number | undefined {
    if (this.#durations.length === 0) return undefined
    const sorted = [...this.#durations].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]
  }

  /**
   * Expected time until `bytes` more from this node would be in: what it still owes on the requests it is
   * serving, then the new bytes, at its rate (this download's, else an earlier one's). Lower is better. Unknown
   * nodes are assumed as fast as the best known one, so every node gets tried early.
   */
  cost(peerId: string, bytes: number): number {
    const score = this.#get(peerId)
    const rate = score.bytesPerMs ?? this.#priors?.rate(peerId) ?? (this.#bestRate > 0 ? this.#bestRate : 1)
    const failures = this.#failures(peerId)
    const penalty = failures > 0 ? 1e9 * failures : 0
    return (score.outstanding + bytes) / rate + penalty
  }
}

/** Shortest busy time a rate sample covers: shorter ones are mostly the timing of chunk arrivals. */
const RATE_SAMPLE_MS = 50

interface NodeScore {
  inFlight: number
  /** Bytes the requests in flight still owe. */
  outstanding: number
  bytesPerMs: number | undefined
  failures: number
  /** Whether bytes are flowing: from a request's first byte until no request is left. */
  transferring: boolean
  busySince: number
  /** Transfer time and bytes delivered since the last rate sample. */
  busyMs: number
  bytes: number
}
