import { loadRsWasmBytes } from '#load-rs-wasm'
import { type ErasureCodec, WasmReedSolomon } from './codec.ts'
import { SimdReedSolomon, simdAvailable } from './simd-codec.ts'

export { checkShards, type ErasureCodec, WasmReedSolomon } from './codec.ts'
export { SimdReedSolomon, simdAvailable } from './simd-codec.ts'

/** Which build runs: `simd` where WebAssembly has SIMD, else `crate` (reed-solomon-erasure's WASM build). */
export type ErasureBackend = 'simd' | 'crate'

let shared: Promise<ErasureCodec> | undefined

/**
 * Loads the Reed-Solomon codec once per realm (thread or page). `SHOAL_ERASURE=crate` in a Node process's
 * environment picks the crate's build even where SIMD runs (to compare the two; both write the same bytes).
 */
export function loadErasureCodec(): Promise<ErasureCodec> {
  shared ??= loadBackend(chosenBackend())
  return shared
}

export async function loadBackend(backend: ErasureBackend): Promise<ErasureCodec> {
  if (backend === 'simd') return new SimdReedSolomon()
  return new WasmReedSolomon(await loadRsWasmBytes())
}

function chosenBackend(): ErasureBackend {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
  if (env?.SHOAL_ERASURE === 'crate' || !simdAvailable()) return 'crate'
  return 'simd'
}
