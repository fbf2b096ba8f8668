import { ErrorCode, ShoalError } from '../errors.ts'

/**
 * Systematic erasure code over equal-size shards. The reed-solomon-erasure layout is the contract: any backend
 * (the crate's WASM build, or the SIMD build in simd-codec.ts) must produce byte-identical parity so pieces stay readable.
 */
export interface ErasureCodec {
  readonly name: string
  /** `shards` holds k data shards followed by m parity shards, each `shardSize` bytes; parity is filled in place. */
  encode(shards: Uint8Array, k: number, m: number): void
  /** Rebuilds missing data shards in place from any k present ones. */
  reconstruct(shards: Uint8Array, k: number, m: number, present: readonly boolean[]): void
  /**
   * Rebuilds the k data shards from any k of `pieces` (undefined = missing) and hands them to `use` as views
   * that are valid only during the call (they may point into the codec's own memory): the decoder reads them
   * there instead of copying a whole segment into a shard buffer first.
   */
  withDataShards<T>(
    pieces: readonly (Uint8Array | undefined)[],
    k: number,
    m: number,
    use: (data: readonly Uint8Array[]) => T
  ): T
}

interface RsExports {
  memory: WebAssembly.Memory
  encode(ptr: number, len: number, k: number, m: number): number
  reconstruct(ptr: number, len: number, k: number, m: number, flagsPtr: number, flagsLen: number): number
  __wbindgen_malloc(size: number): number
  __wbindgen_free(ptr: number, size: number): void
}

const RESULT_MESSAGES: Record<number, string> = {
  1: 'too few shards',
  2: 'too many shards',
  3: 'too few data shards',
  4: 'too many data shards',
  5: 'too few parity shards',
  6: 'too many parity shards',
  9: 'incorrect shard size',
  10: 'too few shards present to reconstruct',
  11: 'empty shard'
}

/**
 * reed-solomon-erasure compiled to WASM (`@digitaldefiance/reed-solomon-erasure.wasm`), called through its raw
 * exports. The package's own JS wrapper frees the present-flags buffer after `reconstruct`, but the Rust side
 * takes ownership of it and frees it too: the double free corrupts the allocator and a later call traps with
 * "memory access out of bounds". This wrapper frees only what it still owns.
 */
export class WasmReedSolomon implements ErasureCodec {
  readonly name = 'reed-solomon-erasure.wasm'
  readonly #module: WebAssembly.Module
  #ex: RsExports

  constructor(wasmBytes: Uint8Array) {
    this.#module = new WebAssembly.Module(wasmBytes as Uint8Array<ArrayBuffer>)
    this.#ex = this.#instantiate()
  }

  #instantiate(): RsExports {
    return new WebAssembly.Instance(this.#module).exports as unknown as RsExports
  }

  /** A trap leaves the instance's memory in an unknown state: replace it and report a typed error. */
  #run<T>(op: string, k: number, m: number, fn: (ex: RsExports) => T): T {
    try {
      return fn(this.#ex)
    } catch (cause) {
      this.#ex = this.#instantiate()
      throw new ShoalError(ErrorCode.ERASURE_FAILED, `Reed-Solomon ${op} trapped (${k}+${m})`, { cause })
    }
  }

  encode(shards: Uint8Array, k: number, m: number): void {
    checkShards(k, m, shards.byteLength)
    // The WASM build traps on m = 0; with no parity there is nothing to compute.
    if (m === 0) return
    const result = this.#run('encode', k, m, (ex) => {
      const len = shards.byteLength
      const ptr = ex.__wbindgen_malloc(len)
      try {
        new Uint8Array(ex.memory.buffer, ptr, len).set(shards)
        const code = ex.encode(ptr, len, k, m)
        const dataLen = (len / (k + m)) * k
        if (code === 0) shards.set(new Uint8Array(ex.memory.buffer, ptr + dataLen, len - dataLen), dataLen)
        return code
      } finally {
        ex.__wbindgen_free(ptr, len)
      }
    })
    if (result !== 0) throw codecError('encode', result, k, m)
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
    const present = pieces.map((p) => p !== undefined)
    let used = false
    let value: T | undefined
    let failure: { err: unknown } | undefined
    const result = this.#run('reconstruct', k, m, (ex) => {
      const len = size * (k + m)
      const ptr = ex.__wbindgen_malloc(len)
      try {
        pieces.forEach((piece, i) => {
          if (piece !== undefined) new Uint8Array(ex.memory.buffer, ptr + i * size, size).set(piece)
        })
        const flagsPtr = ex.__wbindgen_malloc(present.length)
        new Uint8Array(ex.memory.buffer, flagsPtr, present.length).set(present.map((p) => (p ? 1 : 0)))
        // Ownership of the flags buffer passes to Rust, which frees it.
        const code = ex.reconstruct(ptr, len, k, m, flagsPtr, present.length)
        if (code === 0) {
          used = true
          // The caller's own failure is not a codec trap: kept apart so it surfaces unchanged.
          try {
            value = use(Array.from({ length: k }, (_, i) => new Uint8Array(ex.memory.buffer, ptr + i * size, size)))
          } catch (err) {
            failure = { err }
          }
        }
        return code
      } finally {
        ex.__wbindgen_free(ptr, len)
      }
    })
    if (failure !== undefined) throw failure.err
    if (result !== 0 || !used) throw codecError('reconstruct', result, k, m)
    return value as T
  }
}

/** `reconstruct` by way of `withDataShards`: the missing data shards written into their slots. */
export function reconstructInPlace(
  codec: ErasureCodec,
  shards: Uint8Array,
  k: number,
  m: number,
  present: readonly boolean[]
): void {
  checkShards(k, m, shards.byteLength)
  if (present.length !== k + m) throw new TypeError('present flags must cover k + m shards')
  const size = shards.byteLength / (k + m)
  const pieces = present.map((p, i) => (p ? shards.subarray(i * size, (i + 1) * size) : undefined))
  codec.withDataShards(pieces, k, m, (data) => {
    data.forEach((shard, i) => {
      if (!present[i]) shards.set(shard, i * size)
    })
  })
}

/**
 * What every backend's `withDataShards` checks first: k + m piece slots, the present ones of one non-empty
 * `size`; the data shards `missing` (none: nothing to rebuild); and, when some are, at least k pieces present
 * (ERR_NOT_ENOUGH_PIECES otherwise, which also covers m = 0).
 */
export function rebuildNeeds(
  pieces: readonly (Uint8Array | undefined)[],
  k: number,
  m: number
): { size: number; missing: number[] } {
  if (pieces.length !== k + m) throw new TypeError('pieces must cover k + m shards')
  const size = pieces.find((p) => p !== undefined)?.byteLength ?? 0
  checkShards(k, m, size * (k + m))
  if (pieces.some((p) => p !== undefined && p.byteLength !== size)) throw new TypeError('pieces differ in size')
  const missing: number[] = []
  for (let i = 0; i < k; i++) if (pieces[i] === undefined) missing.push(i)
  if (missing.length > 0 && pieces.filter((p) => p !== undefined).length < k) {
    throw new ShoalError(ErrorCode.NOT_ENOUGH_PIECES, `need ${k} of ${k + m} pieces to rebuild a segment`)
  }
  return { size, missing }
}

export function checkShards(k: number, m: number, length: number): void {
  // k = 1 is replication; layouts require k >= 2.
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 2 || m < 0 || k + m > 256) {
    throw new TypeError(`invalid erasure parameters k=${k} m=${m}`)
  }
  if (length === 0 || length % (k + m) !== 0) throw new TypeError('shard buffer must hold k + m equal non-empty shards')
}

function codecError(op: string, result: number, k: number, m: number): ShoalError {
  return new ShoalError(
    ErrorCode.ERASURE_FAILED,
    `Reed-Solomon ${op} failed (${k}+${m}): ${RESULT_MESSAGES[result] ?? `code ${result}`}`
  )
}
