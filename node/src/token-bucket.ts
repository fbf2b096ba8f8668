import { sleep } from '@shoal/core'

export interface TokenBucketInit {
  /** Bytes per second. */
  rate: number
  /** Bytes that may go out at once after an idle period. */
  burst: number
}

/**
 * Paces bytes to a rate, shared by every transfer that draws from it (the node has one: it models the home
 * uplink, so ten downloads share 20 MB/s rather than getting 20 MB/s each). Implemented as a virtual clock
 * (GCRA): each take() books its bytes after those already booked and sleeps until its slot, minus the burst
 * allowance; waiters are served in the order they asked.
 */
export class TokenBucket {
  readonly #msPerByte: number
  readonly #burstMs: number
  /** When the bytes booked so far will have drained at `rate`. */
  #drainedAt = 0

  constructor(init: TokenBucketInit) {
    if (!(init.rate > 0)) throw new TypeError('token bucket rate must be positive')
    this.#msPerByte = 1000 / init.rate
    this.#burstMs = Math.max(0, init.burst) * this.#msPerByte
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now()
    this.#drainedAt = Math.max(this.#drainedAt, now) + bytes * this.#msPerByte
    const wait = this.#drainedAt - this.#burstMs - now
    if (wait > 0) await sleep(wait, signal)
  }
}
