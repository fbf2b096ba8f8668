import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

/**
 * The web UI bundles @shoal/client and @shoal/core from the workspace's TypeScript sources. Vite resolves with
 * the "browser" condition, so the packages' `#codec-engine`, `#transports` and `#load-rs-wasm` imports pick
 * their browser builds (WebCrypto, WebSockets, fetched WASM) and libp2p picks its browser fields.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  clearScreen: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic' } },
  resolve: { conditions: ['browser', 'module', 'import', 'default'] },
  // The codec's Web Workers (@shoal/client's codec-worker.browser.ts) are started with { type: 'module' }: bundle
  // them as ES modules to match, not as the default 'iife'.
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2023',
    sourcemap: true,
    chunkSizeWarningLimit: 2048,
    // The app, and the page `pnpm bench` times the browser data path with.
    rolldownOptions: {
      input: {
        main: fileURLToPath(new URL('./index.html', import.meta.url)),
        bench: fileURLToPath(new URL('./bench.html', import.meta.url))
      }
    }
  }
})
