import { ErrorCode, ShoalError } from '../errors.ts'
import { checkShards, type ErasureCodec, rebuildNeeds, reconstructInPlace } from './codec.ts'
import { decodingRows, encodingMatrix, type GfMatrix, gfMul } from './gf256.ts'
import { gfDotModuleBytes, STEP_BYTES } from './simd-kernel.ts'

interface DotExports {
  memory: WebAssembly.Memory
  dot(tables: number, inputs: number, n: number, out: number, len: number): void
}

const PAGE = 65536
/** Coefficient tables (32 bytes per input, up to 256 inputs), then the input addresses, then shards. */
const TABLES_AT = 0
const INPUTS_AT = 256 * 32
const SHARDS_AT = INPUTS_AT + 256 * 4

/** True where WebAssembly has SIMD (Node >= 16.4, Chromium >= 91, Firefox >= 89, Safari >= 16.4). */
export function simdAvailable(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(gfDotModuleBytes())
  } catch {
    return false
  }
}

/**
 * reed-solomon-erasure's code (same matrix, same parity bytes: gf256.ts) computed with WebAssembly SIMD: every
 * output shard is one pass over its k inputs, a product taking two 16-lane table lookups per 16 bytes. On this
 * machine 4x the crate's WASM build on encode and 4.6x on rebuild; the crate looks up one byte at a time
 * (bench/RESULTS.md, session 17). The crate stays the reference the tests hold this to, and the codec where
 * WebAssembly has no SIMD.
 *
 * Holds one instance's memory, grown to the largest segment seen (k + m shards, padded to 32 bytes each).
 */
export class SimdReedSolomon implements ErasureCodec {
  readonly name = 'reed-solomon-simd'
  readonly #ex: DotExports
  #u8: Uint8Array
  /** Coefficient tables by matrix row, per layout and present set. */
  readonly #tables = new Map<string, Uint8Array[]>()

  constructor() {
    this.#ex = new WebAssembly.Instance(new WebAssembly.Module(gfDotModuleBytes())).exports as unknown as DotExports
    this.#u8 = new Uint8Array(this.#ex.memory.buffer)
  }

  encode(shards: Uint8Array, k: number, m: number): void {
    checkShards(k, m, shards.byteLength)
    if (m === 0) return
    const size = shards.byteLength / (k + m)
    const stride = padded(size)
    this.#reserve((k + m) * stride)
    for (let i = 0; i < k; i++) this.#u8.set(shards.subarray(i * size, (i + 1) * size), SHARDS_AT + i * stride)
    const inputs = Array.from({ length: k }, (_, i) => SHARDS_AT + i * stride)
    const rows = this.#rowTables(`e${k}+${m}`, () => encodingMatrix(k, m).slice(k))
    rows.forEach((tables, p) => {
      const out = SHARDS_AT + (k + p) * stride
      this.#dot(tables, inputs, out, stride)
      shards.set(this.#u8.subarray(out, out + size), (k + p) * size)
    })
  }

  reconstruct(shards: Uint8Array, k: number, m: number, present: readonly boolean[]): void {
    reconstructInPlace(this, shards, k, m, present)
  }

  withDataShards<T>(
    pieces: readonly (Uint8Array | undefined)[],
    k: number,
    m: number,
    use: (data: readonly Uint8Array[]) => T
  ): T {
    const { size, missing } = rebuildNeeds(pieces, k, m)
    if (missing.length === 0) return use(pieces.slice(0, k) as Uint8Array[])
    // The data shards present, then parity shards in order, k in all (rebuildNeeds checked there are): any k
    // rebuild the same bytes.
    const from: number[] = []
    for (let i = 0; i < k + m && from.length < k; i++) if (pieces[i] !== undefined) from.push(i)
    const stride = padded(size)
    this.#reserve((k + missing.length) * stride)
    const inputs = from.map((piece, slot) => {
      const at = SHARDS_AT + slot * stride
      this.#u8.set(pieces[piece]!, at)
      return at
    })
    const rows = this.#rowTables(`d${k}+${m}:${from.join(',')}:${missing.join(',')}`, () =>
      decodingRows(k, m, from, missing)
    )
    const data = pieces.slice(0, k) as Uint8Array[]
    rows.forEach((tables, r) => {
      const out = SHARDS_AT + (k + r) * stride
      this.#dot(tables, inputs, out, stride)
      data[missing[r]!] = this.#u8.subarray(out, out + size)
    })
    return use(data)
  }

  #dot(tables: Uint8Array, inputs: readonly number[], out: number, len: number): void {
    this.#u8.set(tables, TABLES_AT)
    const view = new DataView(this.#u8.buffer, INPUTS_AT, inputs.length * 4)
    for (let j = 0; j < inputs.length; j++) view.setUint32(j * 4, inputs[j]!, true)
    this.#ex.dot(TABLES_AT, INPUTS_AT, inputs.length, out, len)
  }

  /** Each row's 32 bytes of nibble tables per coefficient, made once per layout and present set. */
  #rowTables(key: string, rows: () => GfMatrix): Uint8Array[] {
    let tables = this.#tables.get(key)
    if (tables === undefined) {
      tables = rows().map((row) => {
        const out = new Uint8Array(row.length * 32)
        row.forEach((c, j) => {
          for (let x = 0; x < 16; x++) {
            out[j * 32 + x] = gfMul(c, x)
            out[j * 32 + 16 + x] = gfMul(c, x << 4)
          }
        })
        return out
      })
      // Present sets vary per segment; a few hundred of them at most for real layouts, bounded here anyway.
      if (this.#tables.size >= 1024) this.#tables.clear()
      this.#tables.set(key, tables)
    }
    return tables
  }

  #reserve(shardBytes: number): void {
    const need = SHARDS_AT + shardBytes
    const have = this.#ex.memory.buffer.byteLength
    if (need > have) {
      try {
        this.#ex.memory.grow(Math.ceil((need - have) / PAGE))
      } catch (cause) {
        throw new ShoalError(ErrorCode.ERASURE_FAILED, `Reed-Solomon could not get ${need} bytes of memory`, { cause })
      }
    }
    // Growing detaches the old buffer.
    if (this.#u8.buffer !== this.#ex.memory.buffer) this.#u8 = new Uint8Array(this.#ex.memory.buffer)
  }
}

function padded(size: number): number {
  return Math.ceil(size / STEP_BYTES) * STEP_BYTES
}
