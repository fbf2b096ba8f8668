import type { ObjectLayout } from '@shoal/core'
import type { WorkerResponse } from './codec-protocol.ts'
import { type CodecPort, CodecThreadPool } from './codec-threads.ts'
import { LocalCodecEngine } from './local-engine.ts'
import type { CodecEngine, ObjectCodec } from './segment-worker.ts'

export interface WebWorkerCodecEngineInit {
  /** Web Workers; default: one per core but one (the page's), at least 1, at most 4. */
  workers?: number
}

/**
 * Browser: the codec in Web Workers (codec-worker.browser.ts). WebCrypto's AES-GCM and digests already run off
 * the page's thread, but Reed-Solomon (WASM) and the copies around it do not: on the page they
 * stall painting and input for tens of milliseconds per segment. Where a worker cannot be started (no Worker,
 * a script the page may not load), it falls back to the page's thread.
 */
export class WebWorkerCodecEngine implements CodecEngine {
  readonly #size: number
  #engine: Promise<CodecEngine> | undefined

  constructor(init: WebWorkerCodecEngineInit = {}) {
    const cores = typeof navigator === 'undefined' ? 2 : (navigator.hardwareConcurrency ?? 2)
    this.#size = Math.max(1, init.workers ?? Math.min(4, cores - 1))
  }

  /** Starts the workers and waits until each has loaded the codec; on any failure to start, the local engine. */
  #start(): Promise<CodecEngine> {
    this.#engine ??= (async () => {
      let pool: CodecThreadPool | undefined
      try {
        pool = new CodecThreadPool({
          size: this.#size,
          spawn: spawnWorker,
          recycle: true,
          // The page's loader setting (web-ui/src/runtime.ts), resolved against the page: the worker's own
          // base URL is its script's.
          ...wasmUrl()
        })
        await pool.warm()
        return pool
      } catch (err) {
        await pool?.stop()
        console.warn('shoal: codec workers unavailable, coding on the page instead:', err)
        return new LocalCodecEngine()
      }
    })()
    return this.#engine
  }

  async warm(): Promise<void> {
    await (await this.#start()).warm()
  }

  async open(layout: ObjectLayout, contentKey: Uint8Array, nonce: Uint8Array): Promise<ObjectCodec> {
    return (await this.#start()).open(layout, contentKey, nonce)
  }

  async stop(): Promise<void> {
    const engine = this.#engine
    this.#engine = undefined
    await (await engine)?.stop()
  }
}

function wasmUrl(): { wasmUrl?: string } {
  const url = (globalThis as { SHOAL_RS_WASM_URL?: string }).SHOAL_RS_WASM_URL ?? './reed_solomon_erasure_bg.wasm'
  return typeof location === 'undefined' ? { wasmUrl: url } : { wasmUrl: new URL(url, location.href).href }
}

function spawnWorker(): CodecPort {
  // This exact form is what Vite recognises and bundles as a separate worker script.
  const worker = new Worker(new URL('./codec-worker.browser.ts', import.meta.url), { type: 'module' })
  return {
    postMessage: (request, transfer) => worker.postMessage(request, transfer),
    listen(onResponse, onFailure) {
      worker.onmessage = (event: MessageEvent<WorkerResponse>) => onResponse(event.data)
      // A script that fails to load or throws at the top reports here, with no message for a failed load.
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault()
        onFailure(new Error(event.message || 'the codec worker script did not load'))
      }
      worker.onmessageerror = () => onFailure(new Error('a codec worker message could not be read'))
    },
    terminate: async () => worker.terminate()
  }
}
