import rsWasmUrl from '@digitaldefiance/reed-solomon-erasure.wasm/wasm?url'

/**
 * Wires the browser data path before anything uses it: @shoal/core's browser loader fetches the Reed-Solomon
 * codec from `SHOAL_RS_WASM_URL`, and Vite emits the .wasm as a hashed asset whose URL is only known here.
 */
;(globalThis as { SHOAL_RS_WASM_URL?: string }).SHOAL_RS_WASM_URL = rsWasmUrl

export interface UiConfig {
  /** Base URL of the tracker's HTTP API. */
  tracker: string
}

/**
 * The server that serves the UI says where the tracker is (`/config.json`); a `?tracker=` query wins, and the
 * Vite dev server can set VITE_SHOAL_TRACKER.
 */
export async function loadConfig(): Promise<UiConfig> {
  const fromQuery = new URLSearchParams(location.search).get('tracker')
  if (fromQuery !== null) return { tracker: fromQuery }
  try {
    const response = await fetch('/config.json', { cache: 'no-store' })
    if (response.ok) {
      const body = (await response.json()) as Partial<UiConfig>
      if (typeof body.tracker === 'string') return { tracker: body.tracker }
    }
  } catch {
    // No config served: fall back below.
  }
  return { tracker: (import.meta.env.VITE_SHOAL_TRACKER as string | undefined) ?? 'http://127.0.0.1:7070' }
}
