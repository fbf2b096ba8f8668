import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { ErrorCode, ShoalError } from '../errors.ts'

type Chunk = StreamMessageEvent['data']

export interface PausingReaderInit {
  /** Bytes received but not yet consumed above which the stream is paused. */
  highWaterMark: number
  /** Aborts a pending read: node shutdown or the request's idle watchdog. */
  signal: AbortSignal
  /** Called for every received chunk: feeds the idle watchdog. */
  onActivity?: () => void
}

/**
 * Reads a libp2p stream with real backpressure. The stream's own async iterator pushes every message into an
 * unbounded queue and yamux grants more window as soon as a frame arrives, so a slow consumer (the disk) would
 * let a fast sender fill memory. This reader pauses the stream above a high-water mark: yamux then stops sending
 * window updates and the sender stalls once its remaining window is spent. Memory per stream is thereby bounded
 * by the high-water mark plus two muxer windows: what arrives while paused (one window), and what a resume hands
 * over from libp2p's buffer while the window it grants lets in more.
 */
export class PausingReader implements AsyncIterable<Chunk> {
  readonly #stream: Stream
  readonly #highWaterMark: number
  readonly #signal: AbortSignal
  readonly #onActivity: (() => void) | undefined
  readonly #queue: Chunk[] = []
  #queued = 0
  #paused = false
  /** Inside stream.resume(), which dispatches buffered messages before it lets the muxer grant window again. */
  #resuming = false
  #ended = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  #disposed = false

  constructor(stream: Stream, init: PausingReaderInit) {
    this.#stream = stream
    this.#highWaterMark = init.highWaterMark
    this.#signal = init.signal
    this.#onActivity = init.onActivity
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('end', this.#onEnd)
    stream.addEventListener('close', this.#onClose)
    init.signal.addEventListener('abort', this.#onAbort)
    if (stream.readableEnded) this.#ended = true
    if (stream.status === 'aborted' || stream.status === 'reset') {
      this.#error = new ShoalError(ErrorCode.TRUNCATED, `stream was ${stream.status} before the request was read`)
    }
    if (init.signal.aborted) this.#onAbort()
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.#queued
  }

  [Symbol.asyncIterator](): AsyncIterator<Chunk> {
    return {
      next: () => this.#next(),
      return: async () => {
        this.dispose()
        return { done: true, value: undefined }
      }
    }
  }

  /** Detaches from the stream; later reads end. Safe to call more than once. */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#stream.removeEventListener('message', this.#onMessage)
    this.#stream.removeEventListener('end', this.#onEnd)
    this.#stream.removeEventListener('close', this.#onClose)
    this.#signal.removeEventListener('abort', this.#onAbort)
    this.#queue.length = 0
    this.#queued = 0
    this.#ended = true
    this.#notify()
  }

  async #next(): Promise<IteratorResult<Chunk>> {
    for (;;) {
      const chunk = this.#queue.shift()
      if (chunk !== undefined) {
        this.#queued -= chunk.byteLength
        if (this.#paused && this.#queued <= this.#highWaterMark / 2) this.#resume()
        return { done: false, value: chunk }
      }
      if (this.#error !== undefined) throw this.#error
      if (this.#ended) return { done: true, value: undefined }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#resuming = true
    try {
      this.#stream.resume()
    } catch {
      // The stream closed meanwhile: nothing left to resume.
    } finally {
      this.#resuming = false
    }
    // libp2p's resume() first dispatches what it buffered while paused (synchronously, into #onMessage) and only
    // then re-enables the muxer's window updates. A pause() from inside that dispatch would be undone by the
    // second step: the stream would stay 'paused' for reading while yamux granted window on every frame, so
    // its read buffer would grow until libp2p reset the stream at maxReadBufferLength. Pause only now.
    if (this.#queued >= this.#highWaterMark) this.#pause()
  }

  #pause(): void {
    if (this.#paused) return
    try {
      this.#stream.pause()
      this.#paused = true
    } catch {
      // Closing already: no more data will come anyway.
    }
  }

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    this.#queue.push(evt.data)
    this.#queued += evt.data.byteLength
    this.#onActivity?.()
    // While resume() runs, pausing is left to #resume (see there).
    if (!this.#resuming && this.#queued >= this.#highWaterMark) this.#pause()
    this.#notify()
  }

  readonly #onEnd = (): void => {
    this.#ended = true
    this.#notify()
  }

  readonly #onClose = (evt: StreamCloseEvent): void => {
    if (evt.error !== undefined) {
      this.#error ??= new ShoalError(ErrorCode.TRUNCATED, `stream closed early: ${evt.error.message}`, {
        cause: evt.error
      })
    } else if (this.#stream.readBufferLength === 0) {
      // Closed cleanly with nothing left in libp2p's buffer; anything paused there still arrives via 'message'.
      this.#ended = true
    }
    this.#notify()
  }

  readonly #onAbort = (): void => {
    const reason: unknown = this.#signal.reason
    this.#error ??=
      reason instanceof ShoalError ? reason : new ShoalError(ErrorCode.ABORTED, 'request aborted', { cause: reason })
    this.#notify()
  }
}
