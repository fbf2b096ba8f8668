import { type ErasureCodec, loadErasureCodec, type ObjectLayout, SegmentCodec, ShoalError } from '@shoal/core/codec'
import { PendingSegments } from './pending-segments.ts'
import { ownsBuffer, release } from './release.ts'

/** Most bytes of piece buffers a worker holds for the engine until its next response; the rest are freed. */
const MAX_RETURNED_BYTES = 32 * 1024 * 1024

/**
 * The messages between a codec engine and its workers, and the worker side of them, shared by the Node worker
 * (codec-worker.ts) and the browser's (codec-worker.browser.ts). No platform imports here: both bundles reach it.
 */
export type WorkerRequest =
  /**
   * First message to every worker: loads the Reed-Solomon codec (from `wasmUrl` in a browser). With `recycle`,
   * piece buffers the worker is done with go back to the engine with its next response (`returned`) instead of
   * being freed: a browser's fresh buffers are costly (@shoal/core's buffer-pool.ts).
   */
  | { op: 'init'; id: number; wasmUrl?: string; recycle?: boolean }
  | { op: 'open'; id: number; object: number; layout: ObjectLayout; key: Uint8Array; nonce: Uint8Array }
  | { op: 'close'; id: number; object: number }
  | { op: 'encode'; id: number; object: number; index: number; plaintext: Uint8Array }
  | { op: 'add'; id: number; object: number; segment: number; piece: number; cid: string; bytes: Uint8Array }
  | { op: 'decode'; id: number; object: number; segment: number }
  | { op: 'discard'; id: number; object: number; segment: number }

export interface WorkerResponse {
  id: number
  ok: boolean
  /** A ShoalError's code: the engine rethrows the same typed error (ERR_PIECE_CORRUPT from `decode`). */
  code?: string
  message?: string
  /** The error's details (ERR_PIECE_CORRUPT from `decode` names the pieces). */
  details?: Record<string, unknown>
  shards?: Uint8Array
  cids?: string[]
  pieceSize?: number
  plaintext?: Uint8Array
  /** Piece buffers handed back for reuse (init's `recycle`), moved with the response. */
  returned?: ArrayBuffer[]
}

/** The worker's end of the channel: `parentPort` in Node, the worker's global scope in a browser. */
export interface WorkerSide {
  postMessage(response: WorkerResponse, transfer: ArrayBuffer[]): void
  onRequest(handler: (request: WorkerRequest) => void): void
}

export interface ServeCodecInit {
  /** Runs on `init` before the codec loads: the browser worker points its WASM loader at `wasmUrl` here. */
  configure?(request: Extract<WorkerRequest, { op: 'init' }>): void
}

/** Answers codec requests on `side`: one SegmentCodec and its pending pieces per open object. */
export function serveCodec(side: WorkerSide, init: ServeCodecInit = {}): void {
  let erasure: Promise<ErasureCodec> | undefined
  let recycle = false
  const returned = new Set<ArrayBuffer>()
  let returnedBytes = 0
  const free = (bytes: Uint8Array | undefined): void => {
    if (recycle && bytes !== undefined && ownsBuffer(bytes) && returnedBytes + bytes.byteLength <= MAX_RETURNED_BYTES) {
      returned.add(bytes.buffer as ArrayBuffer)
      returnedBytes += bytes.byteLength
    } else release(bytes)
  }
  /** Adds the buffers waiting to go back to a response (any response: an aborted download decodes nothing). */
  const withReturned = ([response, transfer]: [WorkerResponse, ArrayBuffer[]]): [WorkerResponse, ArrayBuffer[]] => {
    // Never hand back a buffer the response moves anyway (a cipher may open a segment in place).
    for (const buffer of transfer) if (returned.delete(buffer)) returnedBytes -= buffer.byteLength
    if (returned.size === 0) return [response, transfer]
    const back = [...returned]
    returned.clear()
    returnedBytes = 0
    return [{ ...response, returned: back }, [...transfer, ...back]]
  }
  const objects = new Map<number, { codec: SegmentCodec; pending: PendingSegments }>()

  const object = (id: number): { codec: SegmentCodec; pending: PendingSegments } => {
    const o = objects.get(id)
    if (o === undefined) throw new Error(`object ${id} is not open in this worker`)
    return o
  }

  const handle = async (request: WorkerRequest): Promise<[WorkerResponse, ArrayBuffer[]]> => {
    const ok = { id: request.id, ok: true }
    switch (request.op) {
      case 'init':
        init.configure?.(request)
        recycle = request.recycle === true
        erasure ??= loadErasureCodec()
        await erasure
        return [ok, []]
      case 'open': {
        erasure ??= loadErasureCodec()
        const codec = await SegmentCodec.create(request.layout, await erasure, request.key, request.nonce)
        objects.set(request.object, { codec, pending: new PendingSegments(codec, free) })
        return [ok, []]
      }
      case 'close':
        objects.delete(request.object)
        return [ok, []]
      case 'encode': {
        const e = await object(request.object).codec.encode(request.index, request.plaintext)
        // Sealed into the shard buffer by now; moved here from the engine's thread, so it is ours to free.
        release(request.plaintext)
        const shards = new Uint8Array(e.pieces[0]!.buffer, 0, e.pieceSize * e.pieces.length)
        return [{ ...ok, shards, cids: e.cids.map(String), pieceSize: e.pieceSize }, [shards.buffer as ArrayBuffer]]
      }
      case 'add':
        await object(request.object).pending.add(request.segment, request.piece, request.cid, request.bytes)
        return [ok, []]
      case 'decode': {
        const plaintext = await object(request.object).pending.decode(request.segment)
        return [{ ...ok, plaintext }, [plaintext.buffer as ArrayBuffer]]
      }
      case 'discard':
        object(request.object).pending.discard(request.segment)
        return [ok, []]
    }
  }

  side.onRequest((request) => {
    void handle(request).then(
      (answer) => side.postMessage(...withReturned(answer)),
      (err: unknown) => {
        const response: WorkerResponse =
          err instanceof ShoalError
            ? {
                id: request.id,
                ok: false,
                code: err.code,
                message: err.message,
                ...(err.details === undefined ? {} : { details: err.details })
              }
            : { id: request.id, ok: false, message: err instanceof Error ? err.message : String(err) }
        side.postMessage(...withReturned([response, []]))
      }
    )
  })
}
