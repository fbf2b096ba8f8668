import type { ObjectEntry, ShoalClient } from '@shoal/client'
import { prepareDownloads } from './save.ts'
import { registerPort, servePort } from './worker-port.ts'

export function isStreamable(mime: string | undefined): boolean {
  return mime !== undefined && /^(video|audio)\//.test(mime)
}

/**
 * A URL a <video> or <audio> element can play and seek: the service worker answers its Range requests, and each
 * range is fetched from the storage nodes and decrypted here on demand (the engine starts at the segment that
 * holds the first byte). Nothing is written to disk and nothing outside the ranges asked for is downloaded.
 */
export async function openMedia(client: ShoalClient, entry: ObjectEntry): Promise<{ url: string; close(): void }> {
  const worker = (await prepareDownloads())?.active
  if (worker === undefined || worker === null)
    throw new Error('This browser cannot stream previews (no service worker).')
  const id = crypto.randomUUID()
  const controller = new AbortController()
  const port = await registerPort(worker, {
    type: 'shoal-media',
    id,
    name: entry.name,
    size: entry.size,
    mime: entry.mime ?? ''
  })
  port.onmessage = (e) => {
    const m = e.data as { type?: string; offset?: number; length?: number }
    const rangePort = e.ports[0]
    if (m.type !== 'range' || rangePort === undefined) return
    // Serve at once (the worker's first pull may come before the download opens); open the range lazily.
    async function* range(): AsyncGenerator<Uint8Array> {
      const { stream } = await client.get(entry.name, {
        offset: m.offset ?? 0,
        length: m.length ?? entry.size,
        signal: controller.signal
      })
      yield* stream
    }
    servePort(rangePort, range(), controller.signal)
      .catch(() => {})
      .finally(() => rangePort.close())
  }
  return {
    url: `/__shoal_media/${id}`,
    close() {
      controller.abort()
      worker.postMessage({ type: 'shoal-media-end', id })
      port.close()
    }
  }
}
