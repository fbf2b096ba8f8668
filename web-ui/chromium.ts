/** Debian's Chromium, which the browser tests and the benchmark drive (Playwright cannot download a browser here). */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * Flags for headless Chromium on a machine without a display or internet: without the background-networking
 * ones it keeps dialing Google's hosts, and the closed network refuses it many times a second (STACK.md).
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]
