import {
  generateContentKey,
  generateObjectNonce,
  type ObjectLayout,
  randomBytes,
  recycleBuffer,
  recycledBytes,
  takeRecycled
} from '@shoal/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { serveCodec, type WorkerRequest, type WorkerResponse } from '../src/codec/codec-protocol.ts'
import { type CodecPort, CodecThreadPool } from '../src/codec/codec-threads.ts'

/** A worker in this thread: messages cross with structuredClone, so transferred buffers detach as they would. */
function inProcessWorker(): CodecPort {
  let toWorker: ((request: WorkerRequest) => void) | undefined
  let toEngine: ((response: WorkerResponse) => void) | undefined
  serveCodec({
    postMessage: (response, transfer) => {
      const moved = structuredClone(response, { transfer })
      queueMicrotask(() => toEngine?.(moved))
    },
    onRequest: (handler) => {
      toWorker = handler
    }
  })
  return {
    postMessage: (request, transfer) => {
      const moved = structuredClone(request, { transfer })
      queueMicrotask(() => toWorker?.(moved))
    },
    listen: (onResponse) => {
      toEngine = onResponse
    },
    terminate: async () => {}
  }
}

const stops: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop()
})

async function downloadThrough(recycle: boolean) {
  const pool = new CodecThreadPool({ size: 1, spawn: inProcessWorker, recycle })
  stops.push(() => pool.stop())
  const layout: ObjectLayout = { size: 300_000, segmentSize: 100_000, k: 3, m: 2 }
  const codec = await pool.open(layout, generateContentKey(), generateObjectNonce())
  const data = randomBytes(300_000)
  const before = recycledBytes()
  const given: Uint8Array[] = []
  let pieceSize = 0
  for (let s = 0; s < 3; s++) {
    const encoded = await codec.encode(s, data.slice(s * 100_000, (s + 1) * 100_000))
    // Pieces 1..3: a data piece missing, so Reed-Solomon rebuilds it from a parity piece.
    for (let i = 1; i <= 3; i++) {
      const piece = encoded.pieces[i]!.slice()
      pieceSize = piece.byteLength
      given.push(piece)
      await codec.addPiece(s, i, encoded.cids[i]!, piece)
    }
    const plaintext = await codec.decode(s)
    expect(Buffer.from(plaintext).equals(Buffer.from(data.subarray(s * 100_000, (s + 1) * 100_000)))).toBe(true)
  }
  return { returned: recycledBytes() - before, pieceSize, given }
}

describe('piece buffers handed back by codec workers (the browser engine)', () => {
  it('with recycle, the pieces of each decoded segment come back for reuse, the plaintext intact', async () => {
    const { returned, pieceSize, given } = await downloadThrough(true)
    // Moved to the worker (detached here), then moved back with the decoded segments.
    expect(given.every((p) => p.byteLength === 0)).toBe(true)
    expect(returned).toBe(9 * pieceSize)
    const reused = takeRecycled(pieceSize)
    expect(reused?.byteLength).toBe(pieceSize)
    expect(takeRecycled(pieceSize + 1)).toBeUndefined()
  })

  it('a discarded segment (an aborted download) hands its pieces back too', async () => {
    const pool = new CodecThreadPool({ size: 1, spawn: inProcessWorker, recycle: true })
    stops.push(() => pool.stop())
    const layout: ObjectLayout = { size: 100_000, segmentSize: 100_000, k: 3, m: 2 }
    const codec = await pool.open(layout, generateContentKey(), generateObjectNonce())
    const encoded = await codec.encode(0, randomBytes(100_000))
    const before = recycledBytes()
    for (let i = 0; i < 2; i++) await codec.addPiece(0, i, encoded.cids[i]!, encoded.pieces[i]!.slice())
    codec.discard(0)
    codec.close()
    // Both are sent without waiting for the answer: the buffers come back with the discard's.
    await vi.waitFor(() => expect(recycledBytes() - before).toBe(2 * encoded.pieces[0]!.byteLength))
  })

  it('without it (Node), the worker frees them and nothing is kept', async () => {
    const { returned } = await downloadThrough(false)
    expect(returned).toBe(0)
  })
})

describe('buffer pool', () => {
  it('keeps buffers by exact size up to its bound, and refuses detached ones', () => {
    const start = recycledBytes()
    const a = new ArrayBuffer(1024)
    recycleBuffer(a)
    expect(recycledBytes()).toBe(start + 1024)
    expect(takeRecycled(1024)?.buffer).toBe(a)
    expect(takeRecycled(1024)).toBeUndefined()
    const detached = new ArrayBuffer(1024)
    structuredClone(detached, { transfer: [detached] })
    recycleBuffer(detached)
    expect(recycledBytes()).toBe(start)
    // 32 MiB at most (other tests in this file may have left some): the rest is left to the collector.
    const room = Math.floor(((32 << 20) - start) / (4 << 20))
    for (let i = 0; i < 9; i++) recycleBuffer(new ArrayBuffer(4 << 20))
    expect(room).toBeLessThan(9)
    expect(recycledBytes() - start).toBe(room * (4 << 20))
    for (let i = 0; i < room; i++) expect(takeRecycled(4 << 20)?.byteLength).toBe(4 << 20)
    expect(takeRecycled(4 << 20)).toBeUndefined()
  })
})
