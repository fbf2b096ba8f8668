import { ErrorCode, ShoalError } from '../errors.ts'

/**
 * Systematic erasure code over equal-size shards. The reed-solomon-erasure layout is the contract: any backend
 * (the WASM build today; native or SIMD later) must produce byte-identical parity so pieces stay readable.
 */
export interface ErasureCodec {
  readonly name: string
  /** `shards` holds k data shards followed by m parity shards, each `shardSize` bytes; parity is filled in place. */
  encode(shards: Uint8Array, k: number, m: number): void
  /** Rebuilds missing data shards in place from any k present ones. */
  reconstruct(shards: Uint8Array, k: number, m: number, present: readonly boolean[]): void
}

interface RsWasm {
  encode(shards: Uint8Array, dataShards: number, parityShards: number): number
  reconstruct(shards: Uint8Array, dataShards: number, parityShards: number, available: boolean[]): number
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

export class WasmReedSolomon implements ErasureCodec {
  readonly name = 'reed-solomon-erasure.wasm'
  readonly #rs: RsWasm

  constructor(rs: RsWasm) {
    this.#rs = rs
  }

  encode(shards: Uint8Array, k: number, m: number): void {
    check(k, m, shards.byteLength)
    const result = this.#rs.encode(shards, k, m)
    if (result !== 0) throw codecError('encode', result, k, m)
  }

  reconstruct(shards: Uint8Array, k: number, m: number, present: readonly boolean[]): void {
    check(k, m, shards.byteLength)
    if (present.length !== k + m) throw new TypeError('present flags must cover k + m shards')
    if (present.filter(Boolean).length < k) {
      throw new ShoalError(ErrorCode.NOT_ENOUGH_PIECES, `need ${k} of ${k + m} pieces to rebuild a segment`)
    }
    if (present.slice(0, k).every(Boolean)) return
    const result = this.#rs.reconstruct(shards, k, m, [...present])
    if (result !== 0) throw codecError('reconstruct', result, k, m)
  }
}

function check(k: number, m: number, length: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > 256) {
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
