/**
 * First wait after a node could not be dialled: most of the time a tracker takes to count a dead node offline
 * (three 30 s heartbeats), during which its grants still list the node among the online holders.
 */
const FIRST_BACKOFF_MS = 60_000
/** Longest wait: a node that stays down is tried again this often, in case it came back. */
const MAX_BACKOFF_MS = 10 * 60_000

/**
 * Nodes this client could not dial lately, shared by all its downloads and uploads. A transfer's own NodeScoreboard forgets
 * a dead node when the transfer ends, so every download (and every ranged read of a video) dialled it again,
 * waited for the dial to fail and, in a browser, logged a failed WebSocket each time (issue 15: "the client
 * keeps redialling dead nodes"). A node marked here is asked only when the others cannot make up the pieces;
 * it is tried again after a backoff that doubles (60 s up to 10 min) while it stays down, and forgiven at its
 * first success. An upload leaves them out of its first placement of each segment (the tracker may still count
 * them online for a while).
 */
export class UnreachableNodes {
  readonly #down = new Map<string, { until: number; backoffMs: number; how: DownHow }>()
  readonly #now: () => number

  constructor(now: () => number = () => Date.now()) {
    this.#now = now
  }

  /**
   * The node could not be dialled (`unreachable`: ERR_NODE_UNREACHABLE) or sent nothing while others delivered
   * (`silent`: a timeout, or a whole hedge period without a byte). A silent node may only have been slow under
   * load; one that refused a dial is almost surely down, and was the one a browser logs a failed WebSocket for.
   */
  failed(peerId: string, how: DownHow = 'unreachable'): void {
    const was = this.#down.get(peerId)
    const backoffMs = was === undefined ? FIRST_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, was.backoffMs * 2)
    // Once refused, a later silence does not make it look better.
    const worst = was?.how === 'unreachable' ? 'unreachable' : how
    this.#down.set(peerId, { until: this.#now() + backoffMs, backoffMs, how: worst })
  }

  /** The node served a piece. */
  reached(peerId: string): void {
    this.#down.delete(peerId)
  }

  /** The nodes whose backoff has not run out. */
  down(): string[] {
    const now = this.#now()
    return [...this.#down].flatMap(([peerId, entry]) => (entry.until > now ? [peerId] : []))
  }

  /** Whether the node failed a dial and its backoff has not run out. */
  isDown(peerId: string): boolean {
    return this.downHow(peerId) !== undefined
  }

  /** How the node failed, while its backoff has not run out. */
  downHow(peerId: string): DownHow | undefined {
    const entry = this.#down.get(peerId)
    return entry !== undefined && entry.until > this.#now() ? entry.how : undefined
  }
}

export type DownHow = 'unreachable' | 'silent'
