import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm'

/** Node: the package's own loader relies on __dirname, which ESM lacks, so the bytes are read here. */
export async function loadRsWasm(): Promise<ReedSolomonErasure> {
  const path = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm')
  return ReedSolomonErasure.fromBytes(await readFile(path))
}
