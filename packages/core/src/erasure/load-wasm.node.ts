import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'

/** Node: the package's own loader relies on __dirname, which ESM lacks, so the bytes are read here. */
export async function loadRsWasmBytes(): Promise<Uint8Array> {
  const path = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm')
  return new Uint8Array(await readFile(path))
}
