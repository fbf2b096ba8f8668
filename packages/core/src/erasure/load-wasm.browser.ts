import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm/browser'

/** Browser: the bundler copies the .wasm next to the bundle; it must be served as application/wasm. */
export async function loadRsWasm(): Promise<ReedSolomonErasure> {
  const url = new URL('@digitaldefiance/reed-solomon-erasure.wasm/wasm', import.meta.url)
  return ReedSolomonErasure.fromResponse(fetch(url))
}
