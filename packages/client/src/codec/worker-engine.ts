import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { ErrorCode, errorFromCode, type ObjectLayout, ShoalError } from '@shoal/core'
import type { WorkerRequest, WorkerResponse } from './codec-worker.ts'
import type { CodecEngine, EncodedPieces, ObjectCodec } from './segment-worker.ts'

export interface WorkerCodecEngineInit {
  /** Worker threads; default: one per core, at most 4. */
  workers?: number
}

type Pending = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void }

/** One worker thread and the requests waiting on it. */
class CodecThread {
  readonly worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #failed: Error | undefined

  constructor() {
    this.worker = new Worker(new URL('./codec-worker.ts', import.meta.url))
    this.worker.unref()
    this.worker.on('message', (response: WorkerResponse) => {
      const p = this.#pending.get(response.id)
      if (p === undefined) return
      this.#pending.delete(response.id)
      p.resolve(response)
    })
    const fail = (err: Error): void => {
      this.#failed = new ShoalError(ErrorCode.INTERNAL, `codec worker failed: ${err.message}`, { cause: err })
      for (const p of this.#pending.values()) p.reject(this.#failed)
      this.#pending.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => {
      if (code !== 0 || this.#pending.size > 0) fail(new Error(`exited with code ${code}`))
    })
  }

  get load(): number {
    return this.#pending.size
  }

  async call(request: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<WorkerResponse> {
    if (this.#failed !== undefined) throw this.#failed
    const id = this.#nextId++
    const response = await new Promise<WorkerResponse>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.worker.postMessage({ ...request, id }, transfer)
    })
    if (!response.ok) {
      throw response.code === undefined
        ? new ShoalError(ErrorCode.INTERNAL, `codec worker: ${response.message}`)
        : errorFromCode(response.code, response.message)
    }
    return response
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/**
 * Runs sealing, coding and hashing on worker threads so the thread that drives the network never waits on
 * them. Segments are spread over workers by index; a segment's pieces all go to the worker that decodes it.
 * Buffers are transferred, not copied, across threads.
 */
export class WorkerCodecEngine implements CodecEngine {
  readonly #size: number
  #threads: CodecThread[] | undefined
  #nextObject = 1

  constructor(init: WorkerCodecEngineInit = {}) {
    this.#size = Math.max(1, init.workers ?? Math.min(4, availableParallelism()))
  }

  #pool(): CodecThread[] {
    this.#threads ??= Array.from({ length: this.#size }, () => new CodecThread())
    return this.#threads
  }

  async warm(): Promise<void> {
    await Promise.all(this.#pool().map((t) => t.call({ op: 'ping' })))
  }

  async open(layout: ObjectLayout, contentKey: Uint8Array, nonce: Uint8Array): Promise<ObjectCodec> {
    const threads = this.#pool()
    const object = this.#nextObject++
    await Promise.all(threads.map((t) => t.call({ op: 'open', object, layout, key: contentKey, nonce })))
    const threadFor = (segment: number): CodecThread => threads[segment % threads.length]!
    return {
      async encode(index, plaintext): Promise<EncodedPieces> {
        // The plaintext must own its buffer: it is moved to the worker, not copied.
        const owned =
          plaintext.byteOffset === 0 && plaintext.byteLength === plaintext.buffer.byteLength
            ? plaintext
            : plaintext.slice()
        const r = await threadFor(index).call({ op: 'encode', object, index, plaintext: owned }, [
          owned.buffer as ArrayBuffer
        ])
        const shards = r.shards!
        const size = r.pieceSize!
        const pieces = r.cids!.map((_, i) => shards.subarray(i * size, (i + 1) * size))
        return { index, pieces, cids: r.cids!, pieceSize: size }
      },
      async addPiece(segment, piece, cid, bytes) {
        // Received bytes may be views into transport buffers: hand the worker its own copy.
        const owned = bytes.slice()
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
    await Promise.all((threads ?? []).map((t) => t.worker.terminate()))
  }
}
