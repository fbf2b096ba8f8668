import { serveCodec, type WorkerRequest, type WorkerResponse } from './codec-protocol.ts'

/**
 * The browser's codec worker (WebWorkerCodecEngine), bundled by Vite from the engine's `new Worker(new URL(...))`.
 * A worker has its own globalThis, so the page's SHOAL_RS_WASM_URL arrives in the `init` message.
 */
const scope = globalThis as unknown as {
  postMessage(message: WorkerResponse, transfer: ArrayBuffer[]): void
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null
  SHOAL_RS_WASM_URL?: string
}
serveCodec(
  {
    postMessage: (response, transfer) => scope.postMessage(response, transfer),
    onRequest: (handler) => {
      scope.onmessage = (event) => handler(event.data)
    }
  },
  {
    configure: (request) => {
      if (request.wasmUrl !== undefined) scope.SHOAL_RS_WASM_URL = request.wasmUrl
    }
  }
)
