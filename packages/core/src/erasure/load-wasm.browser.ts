/**
 * Browser: the page serves the .wasm file (as application/wasm); its URL can be set before first use with
 * `globalThis.SHOAL_RS_WASM_URL`, otherwise it is expected next to the page.
 */
export async function loadRsWasmBytes(): Promise<Uint8Array> {
  const url = (globalThis as { SHOAL_RS_WASM_URL?: string }).SHOAL_RS_WASM_URL ?? './reed_solomon_erasure_bg.wasm'
  const response = await fetch(url)
  if (!response.ok) throw new Error(`could not load the Reed-Solomon codec from ${url}: HTTP ${response.status}`)
  return new Uint8Array(await response.arrayBuffer())
}
