import type { ObjectEntry, ShoalClient } from '@shoal/client'
import { isImage, makeThumbnail } from './thumbs.ts'

/** Photos bigger than this keep their placeholder: the backfill must stay cheap for the person's bandwidth. */
const MAX_BACKFILL_BYTES = 24 * 1024 * 1024
/** Entries already tried in this tab (undecodable files are not fetched again and again). */
const tried = new Set<string>()
/** Failed fetches per entry: a download that failed (a node busy or restarting) is tried again, a few times. */
const failures = new Map<string, number>()
const MAX_FETCH_ATTEMPTS = 3
const RETRY_PAUSE_MS = 3_000

/**
 * Images that arrived without a thumbnail (uploaded by `shoal backup` or a script: Node has no image decoder)
 * get one the first time the album is opened in a browser: the image is fetched and decrypted here, scaled
 * as at upload, and the thumbnail is sealed into the file's metadata (a same-name rename: the pieces stay put).
 * One at a time, in album order; `onAdded` runs after each so the tile updates.
 */
export async function backfillThumbnails(
  client: ShoalClient,
  photos: readonly ObjectEntry[],
  signal: AbortSignal,
  onAdded: () => void
): Promise<void> {
  for (const entry of photos) {
    if (signal.aborted) return
    if (entry.meta.thumb !== undefined || !isImage(entry.mime) || entry.size > MAX_BACKFILL_BYTES) continue
    if (tried.has(entry.id)) continue
    tried.add(entry.id)
    try {
      const parts: Uint8Array[] = []
      try {
        const { stream } = await client.get(entry.name, { signal })
        for await (const chunk of stream) parts.push(chunk)
      } catch (err) {
        if (!signal.aborted) retryLater(entry.id, onAdded)
        throw err
      }
      const thumb = await makeThumbnail(new Blob(parts as BlobPart[], { type: entry.mime }))
      if (signal.aborted) {
        tried.delete(entry.id)
        return
      }
      if (thumb === undefined) continue
      await client.rename(entry.name, entry.name, { thumb }, { signal })
      onAdded()
    } catch {
      // A thumbnail is a nicety: a file that cannot be fetched or decoded keeps its placeholder. One cut short
      // (the album closed, or the list reloaded) is tried again next time.
      if (signal.aborted) tried.delete(entry.id)
    }
  }
}

/**
 * Forgets that `id` was tried, after a pause, and asks for a reload (which runs the backfill again), unless it
 * failed MAX_FETCH_ATTEMPTS times already: CI saw a photo keep its placeholder for good after one failed fetch.
 */
function retryLater(id: string, onAdded: () => void): void {
  const count = (failures.get(id) ?? 0) + 1
  failures.set(id, count)
  if (count >= MAX_FETCH_ATTEMPTS) return
  setTimeout(() => {
    tried.delete(id)
    // Whichever backfill runs by then (the list may have reloaded meanwhile) is handed a fresh list.
    onAdded()
  }, RETRY_PAUSE_MS * count)
}
