import type { SavedSession } from '@shoal/client'

/**
 * What the harness tells client-run.ts (one JSON line on its stdin). Later stdin lines are marks: the client
 * notes how many bytes it had moved when each arrived (the harness sends one after killing nodes, so the result
 * shows whether the kill landed mid-transfer).
 */
export interface ClientJob {
  mode: 'upload' | 'download'
  session: SavedSession
  name: string
  /** Upload: the file to read. */
  file?: string
  size: number
  /** sha256 (hex) of the source file; a download must produce exactly these bytes. */
  sha256: string
  /** Merged into ShoalClientInit. */
  clientInit: Record<string, unknown>
  /** Per-call options of put() or get() (signal and onProgress are added by the client). */
  options: Record<string, unknown>
  /** Print a progress line every this many bytes (0: never). */
  progressEvery: number
  timeoutMs: number
  /** Write V8 CPU profiles of the client process here (read by the harness, not by client-run). */
  profileDir?: string
}

export interface ProgressLine {
  type: 'progress'
  bytes: number
  total: number
}

export interface ClientResult {
  type: 'result'
  mode: ClientJob['mode']
  ok: boolean
  /** Plaintext bytes moved. */
  bytes: number
  /** From calling put()/get() until the last byte (upload: until put() resolved). */
  ms: number
  /** Download: from calling get() to the first plaintext chunk. */
  ttfbMs?: number
  /** Download: from calling get() until it returned the stream (name lookup, keys; no piece yet). */
  openMs?: number
  /** Bytes on the wire as the SDK reports them (pieces, parity included), when it does. */
  wireBytes?: number
  /** CPU time of the whole client process (every thread) during the transfer. */
  cpuUserMs: number
  cpuSystemMs: number
  /** Peak resident set of the client process over its life, MB (10^6 bytes). */
  peakRssMB: number
  /** Resident set before the transfer started, MB. */
  startRssMB: number
  /** Download: sha256 of what came out, and whether it equals the source's. */
  sha256?: string
  match?: boolean
  /** Bytes moved when each harness mark arrived. */
  marks: { text: string; bytes: number; atMs: number }[]
  /** Download: the engine's events by type (piece, hedge, failure, relocated), when the SDK reports them. */
  events?: Record<string, number>
  /** Download: pieces received per node (peer id), when the SDK reports them. */
  piecesByNode?: Record<string, number>
  /** Lines the SDK logged (retries, failovers). */
  log: string[]
  error?: { code: string; message: string }
}

export type ClientLine = ProgressLine | ClientResult
