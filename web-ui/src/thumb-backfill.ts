import type { ObjectEntry, ShoalClient } from '@shoal/client'
import { explain } from './drive.ts'
import { isImage, renderThumbnail } from './thumbs.ts'

/** Photos bigger than this keep their placeholder: the backfill must stay cheap for the person's bandwidth. */
const MAX_BACKFILL_BYTES = 24 * 1024 * 1024
/**
 * Per entry, in this tab: `done` (it has its thumbnail now, or failed MAX_ATTEMPTS times: not fetched again and again),
 * `waiting` (it failed and is tried again after a pause), or the signal of the run working on it. A run that
 * was aborted leaves its signal behind, so the run that replaced it takes the entry over at once: with a plain
 * "tried" set, the new run started before the aborted one had cleared its mark, skipped the photo, and it kept
 * its placeholder until the next reload (the likeliest cause of a CI run where a backed-up photo never got one).
 */
const claims = new Map<string, AbortSignal | 'done' | 'waiting'>()
/** Failed attempts per entry: a download, decoding or rename that failed (a node busy or restarting, a loaded
 * machine) is tried again after a pause, a few times; then the entry keeps its placeholder in this tab. */
const failures = new Map<string, number>()
const MAX_ATTEMPTS = 5
const RETRY_PAUSE_MS = 2_000

/**
 * Images that arrived without a thumbnail (uploaded by `shoal backup` or a script: Node has no image decoder)
 * get one the first time the album is opened in a browser: the image is fetched and decrypted here, scaled
 * as at upload, and the thumbnail is sealed into the file's metadata (a same-name rename: the pieces stay put).
 * One at a time, in album order; `onAdded` runs after each so the tile updates.
 */
export async function backfillThumbnails(
  client: Pick<ShoalClient, 'get' | 'rename'>,
  photos: readonly ObjectEntry[],
  signal: AbortSignal,
  onAdded: () => void,
  render: (image: Blob) => Promise<string> = renderThumbnail
): Promise<void> {
  for (const entry of photos) {
    if (signal.aborted) return
    if (entry.meta.thumb !== undefined || !isImage(entry.mime) || entry.size > MAX_BACKFILL_BYTES) continue
    const claim = claims.get(entry.id)
    if (claim === 'done' || claim === 'waiting' || (claim !== undefined && !claim.aborted)) continue
    claims.set(entry.id, signal)
    try {
      const parts: Uint8Array[] = []
      const { stream } = await client.get(entry.name, { signal })
      for await (const chunk of stream) parts.push(chunk)
      // A decoding failure is tried again too, like a failed fetch: it may come from a loaded machine.
      const thumb = await render(new Blob(parts as BlobPart[], { type: entry.mime }))
      if (signal.aborted) return
      await client.rename(entry.name, entry.name, { thumb }, { signal })
      claims.set(entry.id, 'done')
      onAdded()
    } catch (err) {
      // Cut short (the album closed, or the list reloaded): the aborted signal releases the entry to the next run.
      if (signal.aborted) return
      // A thumbnail is a nicety: a failure keeps the placeholder and is said in the console, not in a toast.
      console.warn(`No thumbnail yet for ${entry.name}: ${explain(err)}`)
      retryLater(entry.id, onAdded)
    }
  }
}

/** Releases `id` after a pause (longer each time) and asks for a reload, which runs the backfill again. */
function retryLater(id: string, onAdded: () => void): void {
  const count = (failures.get(id) ?? 0) + 1
  failures.set(id, count)
  if (count >= MAX_ATTEMPTS) {
    claims.set(id, 'done')
    return
  }
  claims.set(id, 'waiting')
  setTimeout(
    () => {
      claims.delete(id)
      // Whichever backfill runs by then (the list may have reloaded meanwhile) is handed a fresh list.
      onAdded()
    },
    RETRY_PAUSE_MS * 2 ** (count - 1)
  )
}
