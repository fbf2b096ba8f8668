// Shoal's service worker. The page decrypts; this worker only turns the page's bytes into HTTP responses:
// - /__shoal_download/<id>: a real browser download (content-disposition: attachment), so large files go to disk
//   without ever being held whole in memory;
// - /__shoal_media/<id>: byte ranges of a file for <video>/<audio> previews (206 Partial Content), fetched from
//   the storage nodes on demand, so a preview can start and seek without downloading the whole file.
// Bytes flow through a MessagePort, pulled one chunk at a time (backpressure).
const DOWNLOAD = '/__shoal_download/'
const MEDIA = '/__shoal_media/'
/** Largest range answered at once: players ask again for the rest. */
const MAX_RANGE = 8 * 1024 * 1024
const downloads = new Map()
const media = new Map()

self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

self.addEventListener('message', (event) => {
  const data = event.data
  if (typeof data?.id !== 'string') return
  const entry = { name: data.name, size: data.size, mime: data.mime, port: event.ports[0] }
  if (data.type === 'shoal-download') downloads.set(data.id, entry)
  else if (data.type === 'shoal-media') media.set(data.id, entry)
  else if (data.type === 'shoal-media-end') media.delete(data.id)
  else return
  event.ports[0]?.postMessage({ type: 'registered' })
})

/** A stream that asks `port` for each chunk when the consumer wants one. */
function pulled(port) {
  return new ReadableStream(
    {
      pull(controller) {
        return new Promise((resolve) => {
          port.onmessage = (message) => {
            const m = message.data
            if (m.type === 'chunk') controller.enqueue(new Uint8Array(m.chunk))
            else if (m.type === 'end') controller.close()
            else if (m.type === 'error') controller.error(new Error(m.message))
            resolve()
          }
          port.postMessage({ type: 'pull' })
        })
      },
      cancel() {
        port.postMessage({ type: 'cancel' })
      }
    },
    { highWaterMark: 2 }
  )
}

function download(id) {
  const entry = downloads.get(id)
  if (entry === undefined) return new Response('This download has expired.', { status: 404 })
  downloads.delete(id)
  const encoded = encodeURIComponent(entry.name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)
  return new Response(pulled(entry.port), {
    headers: {
      'content-type': entry.mime || 'application/octet-stream',
      'content-length': String(entry.size),
      'content-disposition': `attachment; filename*=UTF-8''${encoded}`,
      'x-content-type-options': 'nosniff'
    }
  })
}

function mediaRange(id, request) {
  const entry = media.get(id)
  if (entry === undefined) return new Response('This preview has ended.', { status: 404 })
  const size = entry.size
  const match = /^bytes=(\d*)-(\d*)$/.exec(request.headers.get('range') ?? '')
  let start = 0
  let end = size - 1
  if (match !== null) {
    if (match[1] === '' && match[2] !== '') start = Math.max(0, size - Number(match[2]))
    else {
      start = Number(match[1] || 0)
      if (match[2] !== '') end = Math.min(end, Number(match[2]))
    }
  }
  if (size === 0 || start >= size || start > end) {
    return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } })
  }
  end = Math.min(end, start + MAX_RANGE - 1)
  const channel = new MessageChannel()
  entry.port.postMessage({ type: 'range', offset: start, length: end - start + 1 }, [channel.port2])
  return new Response(pulled(channel.port1), {
    status: 206,
    headers: {
      'content-type': entry.mime || 'application/octet-stream',
      'content-length': String(end - start + 1),
      'content-range': `bytes ${start}-${end}/${size}`,
      'accept-ranges': 'bytes',
      'cache-control': 'no-store'
    }
  })
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  if (url.origin !== self.location.origin) return
  if (url.pathname.startsWith(DOWNLOAD)) event.respondWith(download(url.pathname.slice(DOWNLOAD.length)))
  else if (url.pathname.startsWith(MEDIA))
    event.respondWith(mediaRange(url.pathname.slice(MEDIA.length), event.request))
})
