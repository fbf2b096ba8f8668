import { parentPort } from 'node:worker_threads'
import { loadErasureCodec, type ObjectLayout, SegmentCodec, ShoalError } from '@shoal/core'
import { PendingSegments } from './pending-segments.ts'

/** Worker side of WorkerCodecEngine: one SegmentCodec and its pending pieces per open object. */
export type WorkerRequest =
  | { op: 'open'; id: number; object: number; layout: ObjectLayout; key: Uint8Array; nonce: Uint8Array }
  | { op: 'ping'; id: number }
  | { op: 'close'; id: number; object: number }
  | { op: 'encode'; id: number; object: number; index: number; plaintext: Uint8Array }
  | { op: 'add'; id: number; object: number; segment: number; piece: number; cid: string; bytes: Uint8Array }
  | { op: 'decode'; id: number; object: number; segment: number }
  | { op: 'discard'; id: number; object: number; segment: number }

export interface WorkerResponse {
  id: number
  ok: boolean
  code?: string
  message?: string
  shards?: Uint8Array
  cids?: string[]
  pieceSize?: number
  plaintext?: Uint8Array
}

const port = parentPort
if (port === null) throw new Error('codec-worker must run as a worker thread')
const erasure = await loadErasureCodec()
const objects = new Map<number, { codec: SegmentCodec; pending: PendingSegments }>()

port.on('message', (request: WorkerRequest) => {
  void handle(request).then(
    ([response, transfer]) => port.postMessage(response, transfer),
    (err: unknown) => {
      const response: WorkerResponse =
        err instanceof ShoalError
          ? { id: request.id, ok: false, code: err.code, message: err.message }
          : { id: request.id, ok: false, message: err instanceof Error ? err.message : String(err) }
      port.postMessage(response)
    }
  )
})

async function handle(request: WorkerRequest): Promise<[WorkerResponse, ArrayBuffer[]]> {
  const ok = { id: request.id, ok: true }
  switch (request.op) {
    case 'ping':
      return [ok, []]
    case 'open': {
      const codec = await SegmentCodec.create(request.layout, erasure, request.key, request.nonce)
      objects.set(request.object, { codec, pending: new PendingSegments(codec) })
      return [ok, []]
    }
    case 'close':
      objects.delete(request.object)
      return [ok, []]
    case 'encode': {
      const e = await object(request.object).codec.encode(request.index, request.plaintext)
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

function object(id: number): { codec: SegmentCodec; pending: PendingSegments } {
  const o = objects.get(id)
  if (o === undefined) throw new Error(`object ${id} is not open in this worker`)
  return o
}
