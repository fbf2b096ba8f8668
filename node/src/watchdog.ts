import { ErrorCode, ShoalError } from '@shoal/core'

/**
 * Aborts its signal when nothing touched it for `idleMs`. libp2p 3 streams carry an `inactivityTimeout` field,
 * but no muxer enforces it, so every request runs under one of these: a stalled peer cannot pin a stream.
 * One timer per watchdog, re-armed lazily, so touching it per chunk costs a clock read.
 */
export class Watchdog {
  readonly #controller = new AbortController()
  #idleMs: number
  #last = Date.now()
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(idleMs: number) {
    this.#idleMs = idleMs
    this.#arm(idleMs)
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  touch(): void {
    this.#last = Date.now()
  }

  /** Changes the allowed idle time from now on (e.g. a short grace once the answer went out). */
  setIdle(ms: number): void {
    if (this.#controller.signal.aborted) return
    this.#idleMs = ms
    this.touch()
    clearTimeout(this.#timer)
    this.#arm(ms)
  }

  dispose(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const idle = Date.now() - this.#last
      if (idle >= this.#idleMs) {
        this.#timer = undefined
        this.#controller.abort(new ShoalError(ErrorCode.TIMEOUT, `stream idle for ${idle} ms`))
      } else {
        this.#arm(this.#idleMs - idle)
      }
    }, ms)
    // A watchdog must never keep the process alive on its own.
    this.#timer.unref?.()
  }
}
