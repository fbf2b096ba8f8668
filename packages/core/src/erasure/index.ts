import { loadRsWasmBytes } from '#load-rs-wasm'
import { type ErasureCodec, WasmReedSolomon } from './codec.ts'

export { type ErasureCodec, WasmReedSolomon } from './codec.ts'

let shared: Promise<ErasureCodec> | undefined

/** Loads the WASM Reed-Solomon codec once per realm (thread or page). */
export function loadErasureCodec(): Promise<ErasureCodec> {
  shared ??= loadRsWasmBytes().then((bytes) => new WasmReedSolomon(bytes))
  return shared
}
