import { LocalCodecEngine } from './local-engine.ts'
import type { CodecEngine } from './segment-worker.ts'
import { WorkerCodecEngine } from './worker-engine.ts'

/** Node: worker threads by default. */
export function createCodecEngine(kind: 'workers' | 'local', workers?: number): CodecEngine {
  return kind === 'local' ? new LocalCodecEngine() : new WorkerCodecEngine(workers === undefined ? {} : { workers })
}
