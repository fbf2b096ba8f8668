import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'

export { buildWebUi, ensureWebUiBuilt, WEB_UI_DIST } from './build.ts'
export { CHROMIUM_FLAGS, CHROMIUM_PATH } from './chromium.ts'

const DIST = fileURLToPath(new URL('./dist/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  // Browsers compile WASM only when it is served with this type.
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon'
}

export interface WebUiServerInit {
  /** The tracker the page talks to, handed to it as /config.json. */
  tracker: string
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** The built app; default web-ui/dist. */
  dir?: string
  /**
   * PEM certificate and key: serve HTTPS. A page served over HTTPS dials only secure WebSockets (`/tls/ws`)
   * and needs an HTTPS tracker (docs/deploy.md); in production a reverse proxy or CDN usually does this.
   */
  tls?: { cert: string; key: string }
}

export interface WebUiServer {
  url: string
  close(): Promise<void>
}

/**
 * Serves the built web UI: static files (hashed assets cached for good, the rest revalidated), /config.json
 * naming the tracker, and index.html for app routes such as share links (/s/...). The page talks to the
 * tracker and the storage nodes itself; this server never sees a file or a key.
 */
export async function startWebUiServer(init: WebUiServerInit): Promise<WebUiServer> {
  const dir = init.dir ?? DIST
  const config = JSON.stringify({ tracker: init.tracker })
  const csp = contentSecurityPolicy(init.tracker)
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    void (async () => {
      const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end()
        return
      }
      if (path === '/config.json') {
        response.writeHead(200, { 'content-type': TYPES['.json']!, 'cache-control': 'no-store' }).end(config)
        return
      }
      let file = normalize(join(dir, path))
      if (!file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) {
        response.writeHead(404).end()
        return
      }
      let info = await stat(file).catch(() => undefined)
      if (info?.isDirectory() === true) {
        file = join(file, 'index.html')
        info = await stat(file).catch(() => undefined)
      }
      if (info === undefined && extname(path) === '') {
        // An app route: the page itself decides what to show.
        file = join(dir, 'index.html')
        info = await stat(file).catch(() => undefined)
      }
      if (info === undefined) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
        return
      }
      const immutable = path.startsWith('/assets/')
      response.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': csp,
        'x-frame-options': 'DENY'
      })
      if (request.method === 'HEAD') {
        response.end()
        return
      }
      // A read that fails after the stat (the file went away, a disk error) ends this response, not the server:
      // pipe() left the read stream's 'error' unhandled, and that took the whole process down (issue 12).
      await pipeline(createReadStream(file), response).catch(() => {
        response.destroy()
      })
    })().catch(() => {
      if (!response.headersSent) response.writeHead(500)
      response.end()
    })
  }
  const tls = init.tls
  // https.Server is a tls.Server, not an http.Server, but serves the same handler and closes the same way.
  const server: Server =
    tls === undefined ? createServer(handler) : (createHttpsServer(tls, handler) as unknown as Server)
  server.on('clientError', (_err, socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, init.host ?? '127.0.0.1', resolve)
  })
  const address = server.address() as AddressInfo
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/**
 * What the page may load and talk to: its own scripts (and WASM), the tracker, storage nodes over WebSockets,
 * media from blobs; nothing may frame it (clickjacking) and no plugin or base-URI tricks apply.
 */
function contentSecurityPolicy(tracker: string): string {
  let trackerOrigin = ''
  let loopback = false
  try {
    const url = new URL(tracker)
    trackerOrigin = url.origin
    loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]'
  } catch {
    trackerOrigin = ''
  }
  // A network on one machine (development, tests, the browser benchmark's report server) lives on loopback.
  const local = loopback ? ' http://127.0.0.1:* http://localhost:*' : ''
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    // blob: and frame-src blob: for previews (PDF and text in a frame, the viewer's own decrypted bytes).
    `connect-src 'self' blob: ${trackerOrigin}${local} ws: wss:`.replace('  ', ' '),
    "frame-src 'self' blob:",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'"
  ].join('; ')
}
