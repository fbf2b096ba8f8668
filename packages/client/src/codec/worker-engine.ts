import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { type CodecPort, CodecThreadPool } from './codec-threads.ts'
import type { CodecEngine, ObjectCodec } from './segment-worker.ts'

export interface WorkerCodecEngineInit {
  /**
   * Worker threads; default: one per core but one, at least 1 and at most 4. The calling thread needs a core
   * of its own for libp2p (noise, yamux): on 2 cores, one worker moved as many MB/s as two, up and down, in
   * about 45 MB less memory (bench/RESULTS.md, session 5).
   */
  workers?: number
}

/** Node: the codec on node:worker_threads (codec-worker.ts), so the thread that drives the network never waits. */
export class WorkerCodecEngine implements CodecEngine {
  readonly #pool: CodecThreadPool

  constructor(init: WorkerCodecEngineInit = {}) {
    this.#pool = new CodecThreadPool({
      size: Math.max(1, init.workers ?? Math.min(4, availableParallelism() - 1)),
      spawn: spawnThread
    })
  }

  warm(): Promise<void> {
    return this.#pool.warm()
  }

  open(...args: Parameters<CodecEngine['open']>): Promise<ObjectCodec> {
    return this.#pool.open(...args)
  }

  stop(): Promise<void> {
    return this.#pool.stop()
  }
}

function spawnThread(): CodecPort {
  const worker = new Worker(new URL('./codec-worker.ts', import.meta.url))
  // Idle workers must not keep a CLI process alive.
  worker.unref()
  return {
    postMessage: (request, transfer) => worker.postMessage(request, transfer),
    listen(onResponse, onFailure) {
      worker.on('message', onResponse)
      worker.on('error', onFailure)
      // An exited worker answers nothing more: whatever waits on it fails, and so does whatever is sent later.
      worker.on('exit', (code) => onFailure(new Error(`exited with code ${code}`)))
    },
    terminate: async () => {
      await worker.terminate()
    }
  }
}
