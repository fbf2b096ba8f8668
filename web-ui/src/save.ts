import { registerPort, servePort } from './worker-port.ts'

/**
 * Where a download's decrypted bytes go. In order of preference:
 * - a service-worker stream: the browser's own download manager writes to disk as bytes arrive (any size);
 * - the File System Access API (a save dialog, then a writable file stream);
 * - a Blob, only for files small enough to hold in memory.
 * A download that fails writes nothing usable: the stream is errored (the browser marks the download failed),
 * the writable is aborted, or the Blob is never made.
 */

export const BLOB_LIMIT = 512 * 1024 * 1024

export interface SaveTarget {
  name: string
  size: number
  mime?: string
}

type Chunks = AsyncIterable<Uint8Array>

let registration: Promise<ServiceWorkerRegistration | undefined> | undefined

/** Registers the download worker early, so it controls downloads by the time the user clicks one. */
export function prepareDownloads(): Promise<ServiceWorkerRegistration | undefined> {
  registration ??= (async () => {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) return undefined
    try {
      const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' })
      await navigator.serviceWorker.ready
      return reg
    } catch {
      return undefined
    }
  })()
  return registration
}

export type SaveMethod = 'stream' | 'picker' | 'blob'

export function preferredMethod(size: number, hasWorker: boolean): SaveMethod {
  const forced = new URLSearchParams(location.search).get('save')
  if (forced === 'blob' || forced === 'picker' || forced === 'stream') return forced
  if (hasWorker) return 'stream'
  if ('showSaveFilePicker' in window) return 'picker'
  if (size <= BLOB_LIMIT) return 'blob'
  throw new Error(`this browser cannot save a file of this size (${size} bytes) without a service worker`)
}

/**
 * Saves `open()`'s bytes as a file. `open` is called only once the destination is ready, so a failure to open
 * the source (wrong key, revoked share) never leaves an empty file behind.
 */
export async function saveFile(target: SaveTarget, chunks: Chunks, signal: AbortSignal): Promise<void> {
  const reg = await prepareDownloads()
  const method = preferredMethod(target.size, reg?.active != null)
  if (method === 'stream' && reg?.active) return saveThroughWorker(reg.active, target, chunks, signal)
  if (method === 'picker') return saveWithPicker(target, chunks, signal)
  return saveAsBlob(target, chunks, signal)
}

async function saveThroughWorker(worker: ServiceWorker, target: SaveTarget, chunks: Chunks, signal: AbortSignal) {
  const id = crypto.randomUUID()
  const port = await registerPort(worker, {
    type: 'shoal-download',
    id,
    name: target.name,
    size: target.size,
    mime: target.mime ?? ''
  })
  const finished = servePort(port, chunks, signal)
  const frame = document.createElement('iframe')
  frame.hidden = true
  frame.src = `/__shoal_download/${id}`
  document.body.append(frame)
  try {
    await finished
  } finally {
    // Keep the frame until the browser has taken the whole response.
    setTimeout(() => frame.remove(), 60_000)
    port.close()
  }
}

interface PickerWindow {
  showSaveFilePicker(options: { suggestedName: string }): Promise<{
    createWritable(): Promise<
      WritableStreamDefaultWriter & { write(b: Uint8Array): Promise<void>; close(): Promise<void> }
    >
  }>
}

async function saveWithPicker(target: SaveTarget, chunks: Chunks, signal: AbortSignal): Promise<void> {
  const handle = await (window as unknown as PickerWindow).showSaveFilePicker({ suggestedName: target.name })
  const writable = await handle.createWritable()
  try {
    for await (const chunk of chunks) {
      signal.throwIfAborted()
      await writable.write(chunk)
    }
    await writable.close()
  } catch (err) {
    // Aborting discards the temporary file: the destination keeps its old content (or stays absent).
    await writable.abort(err).catch(() => {})
    throw err
  }
}

async function saveAsBlob(target: SaveTarget, chunks: Chunks, signal: AbortSignal): Promise<void> {
  if (target.size > BLOB_LIMIT) throw new Error('this file is too large to save in this browser')
  const parts: Uint8Array[] = []
  for await (const chunk of chunks) {
    signal.throwIfAborted()
    parts.push(chunk)
  }
  const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: target.mime ?? 'application/octet-stream' }))
  const link = document.createElement('a')
  link.href = url
  link.download = target.name
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
