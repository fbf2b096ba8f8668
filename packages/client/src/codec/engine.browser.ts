import { LocalCodecEngine } from './local-engine.ts'
import type { CodecEngine } from './segment-worker.ts'

/** Browser: on the page's thread until a Web Worker engine exists (WebCrypto is already off-thread). */
export function createCodecEngine(_kind: 'workers' | 'local', _workers?: number): CodecEngine {
  return new LocalCodecEngine()
}
