import { LocalCodecEngine } from './local-engine.ts'
import type { CodecEngine } from './segment-worker.ts'
import { WebWorkerCodecEngine } from './web-worker-engine.ts'

/** Browser: Web Workers by default; 'local' codes on the page's thread (for comparison and tiny transfers). */
export function createCodecEngine(kind: 'workers' | 'local', workers?: number): CodecEngine {
  return kind === 'local' ? new LocalCodecEngine() : new WebWorkerCodecEngine(workers === undefined ? {} : { workers })
}
