import { randomFillSync } from 'node:crypto'
import {
  generateContentKey,
  generateObjectNonce,
  importAesKey,
  loadErasureCodec,
  openSegment,
  pieceCid,
  SegmentCodec,
  sealSegment
} from '@shoal/core'
import { MB, MiB, median, round } from './stats.ts'

export interface CodecResult {
  /** e.g. 'rs-encode 10+4'. */
  id: string
  what: string
  /** Bytes one operation processes (a segment's plaintext, or the buffer hashed). */
  bytes: number
  /** MB/s per sample (each sample: `iterations` operations back to back). */
  samples: number[]
  median: number
}

async function measure(
  id: string,
  what: string,
  bytes: number,
  samples: number,
  iterations: number,
  op: () => unknown
): Promise<CodecResult> {
  await op() // warm-up: JIT, WASM memory growth
  const values: number[] = []
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now()
    for (let i = 0; i < iterations; i++) await op()
    const seconds = (performance.now() - t0) / 1000
    values.push(round((bytes * iterations) / MB / seconds))
  }
  return { id, what, bytes, samples: values, median: round(median(values)) }
}

/**
 * Single-thread, in-process ceilings of the client's per-segment work at 8 MiB segments: what one core can
 * seal, code and hash, before any network. MB/s are plaintext segment bytes per second (for sha256: bytes hashed).
 */
export async function benchCodec(
  layouts: readonly { k: number; m: number }[],
  samples: number,
  iterations: number,
  segmentSize = 8 * MiB
): Promise<CodecResult[]> {
  const results: CodecResult[] = []
  const plaintext = new Uint8Array(segmentSize)
  randomFillSync(plaintext)
  const key = await importAesKey(generateContentKey())
  const nonce = generateObjectNonce()
  const sealed = await sealSegment(key, nonce, 0, false, plaintext)
  const run = async (id: string, what: string, bytes: number, op: () => unknown) => {
    const r = await measure(id, what, bytes, samples, iterations, op)
    results.push(r)
    return r
  }

  await run('aes-gcm seal', 'AES-256-GCM seal, WebCrypto (core sealSegment)', segmentSize, () =>
    sealSegment(key, nonce, 0, false, plaintext)
  )
  await run('aes-gcm open', 'AES-256-GCM open, WebCrypto (core openSegment)', segmentSize, () =>
    openSegment(key, nonce, 0, false, sealed)
  )
  await run('sha256', 'sha2-256 piece CID (core pieceCid)', segmentSize, () => pieceCid(plaintext))

  const erasure = await loadErasureCodec()
  for (const { k, m } of layouts) {
    const shardSize = Math.ceil((segmentSize + 16) / k)
    const shards = new Uint8Array(shardSize * (k + m))
    shards.set(sealed.subarray(0, Math.min(sealed.byteLength, shardSize * k)))
    await run(`rs-encode ${k}+${m}`, `Reed-Solomon encode ${k}+${m} (${erasure.name})`, segmentSize, () =>
      erasure.encode(shards, k, m)
    )
    // Worst case for reconstruct: min(m, k) data shards lost, rebuilt from parity.
    const lost = Math.min(m, k)
    const present = Array.from({ length: k + m }, (_, i) => i >= lost)
    if (lost > 0) {
      await run(
        `rs-reconstruct ${k}+${m}`,
        `Reed-Solomon reconstruct ${k}+${m} (${erasure.name}), ${lost} data shards lost`,
        segmentSize,
        () => erasure.reconstruct(shards, k, m, present)
      )
    }
    const layout = { size: segmentSize * 4, segmentSize, k, m }
    const codec = await SegmentCodec.create(layout, erasure, generateContentKey(), nonce)
    const encoded = await codec.encode(0, plaintext)
    await run(`segment-encode ${k}+${m}`, `SegmentCodec.encode ${k}+${m}: seal, RS, k+m CIDs`, segmentSize, () =>
      codec.encode(0, plaintext)
    )
    await run(`segment-decode ${k}+${m}`, `SegmentCodec.decode ${k}+${m}, all data pieces present`, segmentSize, () =>
      codec.decode(0, encoded.pieces)
    )
    if (lost > 0) {
      const partial = encoded.pieces.map((p, i) => (i < lost ? undefined : p))
      await run(
        `segment-decode ${k}+${m} lost ${lost}`,
        `SegmentCodec.decode ${k}+${m}, ${lost} data pieces lost`,
        segmentSize,
        () => codec.decode(0, partial)
      )
    }
  }
  return results
}
