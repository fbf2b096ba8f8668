import { ErrorCode, errorFromCode, type ObjectLayout, recycleBuffer, ShoalError } from '@shoal/core'
import type { WorkerRequest, WorkerResponse } from './codec-protocol.ts'
import { ownsBuffer } from './release.ts'
import type { CodecEngine, EncodedPieces, ObjectCodec } from './segment-worker.ts'

/**
 * The engine's end of one worker: a node:worker_threads Worker or a DOM Worker behind the same few members, so
 * the request bookkeeping below serves both. No platform imports here: the browser bundle reaches this file.
 */
export interface CodecPort {
  postMessage(request: WorkerRequest, transfer: ArrayBuffer[]): void
  /** Wires the worker's responses and its failures (a crash, a script that did not load, an exit). */
  listen(onResponse: (response: WorkerResponse) => void, onFailure: (err: Error) => void): void
  terminate(): Promise<void>
}

type Pending = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void }
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** One worker and the requests waiting on it. */
class CodecThread {
  readonly port: CodecPort
  /** The `init` request, sent first: settles once the worker has loaded the codec (or failed to). */
  readonly ready: Promise<WorkerResponse>
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #failed: Error | undefined

  constructor(port: CodecPort, init: { wasmUrl?: string; recycle?: boolean }) {
    this.port = port
    port.listen(
      (response) => {
        for (const buffer of response.returned ?? []) recycleBuffer(buffer)
        const p = this.#pending.get(response.id)
        if (p === undefined) return
        this.#pending.delete(response.id)
        p.resolve(response)
      },
      (err) => {
        this.#failed ??= new ShoalError(ErrorCode.INTERNAL, `codec worker failed: ${err.message}`, { cause: err })
        for (const p of this.#pending.values()) p.reject(this.#failed)
        this.#pending.clear()
      }
    )
    this.ready = this.call({
      op: 'init',
      ...(init.wasmUrl === undefined ? {} : { wasmUrl: init.wasmUrl }),
      ...(init.recycle === true ? { recycle: true } : {})
    })
    // Observed by warm() or the first open; a worker that never started must not be an unhandled rejection.
    this.ready.catch(() => {})
  }

  async call(request: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<WorkerResponse> {
    if (this.#failed !== undefined) throw this.#failed
    const id = this.#nextId++
    const response = await new Promise<WorkerResponse>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.port.postMessage({ ...request, id } as WorkerRequest, transfer)
    })
    if (!response.ok) {
      throw response.code === undefined
        ? new ShoalError(ErrorCode.INTERNAL, `codec worker: ${response.message}`)
        : errorFromCode(response.code, response.message, response.details)
    }
    return response
  }
}

export interface CodecThreadPoolInit {
  /** How many workers. */
  size: number
  /** Starts one worker; may throw where workers are unavailable. */
  spawn(): CodecPort
  /** Handed to each worker in `init`: where a browser worker fetches the Reed-Solomon WASM. */
  wasmUrl?: string
  /** Workers hand piece buffers back for reuse (the browser's engine: fresh buffers are costly there). */
  recycle?: boolean
}

/**
 * Runs sealing, coding and hashing on a pool of workers so the thread that drives the network (and, in a
 * browser, paints the page) never waits on them. Segments are spread over workers by index; a segment's pieces
 * all go to the worker that decodes it. Buffers are transferred, not copied, across threads.
 */
export class CodecThreadPool implements CodecEngine {
  readonly #init: CodecThreadPoolInit
  #threads: CodecThread[] | undefined
  #nextObject = 1

  constructor(init: CodecThreadPoolInit) {
    if (!(init.size >= 1)) throw new TypeError(`a codec pool needs at least one worker, not ${init.size}`)
    this.#init = init
  }

  #pool(): CodecThread[] {
    if (this.#threads === undefined) {
      const threads: CodecThread[] = []
      try {
        for (let i = 0; i < this.#init.size; i++) threads.push(new CodecThread(this.#init.spawn(), this.#init))
      } catch (err) {
        for (const t of threads) void t.port.terminate()
        throw err
      }
      this.#threads = threads
    }
    return this.#threads
  }

  async warm(): Promise<void> {
    await Promise.all(this.#pool().map((t) => t.ready))
  }

  async open(layout: ObjectLayout, contentKey: Uint8Array, nonce: Uint8Array): Promise<ObjectCodec> {
    const threads = this.#pool()
    const object = this.#nextObject++
    await Promise.all(threads.map((t) => t.call({ op: 'open', object, layout, key: contentKey, nonce })))
    const threadFor = (segment: number): CodecThread => threads[segment % threads.length]!
    return {
      async encode(index, plaintext): Promise<EncodedPieces> {
        // The plaintext must own its buffer: it is moved to the worker, not copied.
        const owned = ownsBuffer(plaintext) ? plaintext : plaintext.slice()
        const r = await threadFor(index).call({ op: 'encode', object, index, plaintext: owned }, [
          owned.buffer as ArrayBuffer
        ])
        const shards = r.shards!
        const size = r.pieceSize!
        const pieces = r.cids!.map((_, i) => shards.subarray(i * size, (i + 1) * size))
        return { index, pieces, cids: r.cids!, pieceSize: size }
      },
      async addPiece(segment, piece, cid, bytes) {
        // A piece that owns its whole buffer (getPiece's are) moves to the worker; a view is copied first. The
        // caller must not use `bytes` afterwards.
        const owned = ownsBuffer(bytes) ? bytes : bytes.slice()
        await threadFor(segment).call({ op: 'add', object, segment, piece, cid, bytes: owned }, [
          owned.buffer as ArrayBuffer
        ])
      },
      async decode(segment) {
        return (await threadFor(segment).call({ op: 'decode', object, segment })).plaintext!
      },
      discard(segment) {
        threadFor(segment)
          .call({ op: 'discard', object, segment })
          .catch(() => {})
      },
      close() {
        for (const t of threads) t.call({ op: 'close', object }).catch(() => {})
      }
    }
  }

  async stop(): Promise<void> {
    const threads = this.#threads
    this.#threads = undefined
    await Promise.all((threads ?? []).map((t) => t.port.terminate()))
  }
}
