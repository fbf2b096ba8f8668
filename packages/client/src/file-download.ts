import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { ErrorCode, isShoalError, ShoalError } from '@shoal/core'
import { release } from './codec/release.ts'
import type { DownloadOptions } from './download.ts'
import type { ObjectEntry, ShoalClient } from './shoal-client.ts'

/**
 * Resumable downloads to a file, for Node (`@shoal/client/files`; the browser has no files to continue).
 * The download is written to OUT.shoal-partial and renamed when complete. An interrupted download keeps the
 * partial file, with OUT.shoal-partial.json naming the object it belongs to, and downloading to the same OUT
 * again continues from the partial file's length: every byte in it came out of the engine verified and
 * decrypted, in order, so the rest is one ranged download. A partial file of another object (the file was
 * replaced meanwhile) or of a different size is discarded and the download starts over.
 *
 * @example
 * ```ts
 * import { downloadFile } from '@shoal/client/files'
 * const { resumedFrom } = await downloadFile(shoal, 'movie.mp4', './movie.mp4') // again after a failure: resumes
 * ```
 */
export interface FileDownloadOptions extends Omit<DownloadOptions, 'offset' | 'length'> {
  /** Called before any byte moves when an earlier download is continued: from `offset` of `size` bytes. */
  onResume?: (offset: number, size: number) => void
  /** An older version of the file (an id from `ShoalClient.versions`) instead of the current one. */
  version?: string
}

export interface FileDownloadResult {
  object: ObjectEntry
  /** Where this run started: 0, or the length of the partial file it continued. */
  resumedFrom: number
}

/**
 * Downloads `name` to the file `out` (replacing it at the end, never leaving a wrong file there), continuing an
 * interrupted download of the same object. After a failure `isInterruption` says whether calling it again makes
 * sense; any other failure drops the partial file.
 */
export async function downloadFile(
  client: ShoalClient,
  name: string,
  out: string,
  options: FileDownloadOptions = {}
): Promise<FileDownloadResult> {
  const { onResume, onProgress, ...rest } = options
  const signal = options.signal === undefined ? {} : { signal: options.signal }
  const info =
    options.version === undefined
      ? await client.stat(name, signal)
      : await client.statVersion(name, options.version, signal)
  const offset = await resumeOffset(out, info)
  if (offset > 0) onResume?.(offset, info.size)
  await markPartial(out, info)
  try {
    const { object, stream } = await client.get(name, {
      ...rest,
      offset,
      ...(onProgress === undefined
        ? {}
        : { onProgress: (p) => onProgress({ ...p, bytes: offset + p.bytes, total: info.size }) })
    })
    if (object.id !== info.id) throw new ShoalError(ErrorCode.CONFLICT, `${name} was replaced while downloading`)
    await writeOut(stream, partialPath(out), offset > 0 ? 'a' : 'w')
    await rename(partialPath(out), out)
    await dropPartial(out)
    return { object, resumedFrom: offset }
  } catch (err) {
    if (!isInterruption(err, options.signal)) await dropPartial(out)
    throw err
  }
}

/**
 * Writes the segments in order and frees each once it is on disk. A segment outlived its write by up to a
 * major collection (it had aged into the old generation while queued), so a 2 GiB download's client kept tens
 * of MB of written segments around (peak RSS 310 MB against ~140 MB of live buffers).
 */
async function writeOut(stream: AsyncIterable<Uint8Array>, path: string, flags: 'a' | 'w'): Promise<void> {
  const file = await open(path, flags)
  try {
    for await (const chunk of stream) {
      for (let done = 0; done < chunk.byteLength; ) {
        const { bytesWritten } = await file.write(chunk, done, chunk.byteLength - done)
        done += bytesWritten
      }
      release(chunk)
    }
  } finally {
    await file.close()
  }
}

/**
 * Writes a download to a Node writable (`shoal get NAME -` to standard output) and frees each segment once the
 * stream has taken it, as `writeOut` does for files: piped into `stream.pipeline` a written segment waited for a
 * major collection, so the client's peak RSS into a pipe was 303-315 MB where the same download into a file
 * peaked at 268-299 MB. One write in flight at a time is the backpressure: the engine keeps fetching meanwhile.
 * Only a stream over a file descriptor (`process.stdout`, whose `fd` is set) is done with a chunk when its write
 * callback runs; any other writable (a PassThrough) may still hold it, so its chunks are left to the collector.
 */
export async function writeToStream(stream: AsyncIterable<Uint8Array>, out: NodeJS.WritableStream): Promise<void> {
  let failure: Error | undefined
  let fail: ((err: Error) => void) | undefined
  // A closed pipe (`shoal get f - | head`) is reported as an 'error' event as well as to the write's callback.
  const onError = (err: Error) => {
    failure ??= err
    fail?.(err)
  }
  out.on('error', onError)
  const ownsWrittenBytes = typeof (out as { fd?: unknown }).fd === 'number'
  try {
    for await (const chunk of stream) {
      if (failure !== undefined) throw failure
      await new Promise<void>((resolve, reject) => {
        fail = reject
        out.write(chunk, (err) => (err ? reject(err) : resolve()))
      })
      fail = undefined
      if (ownsWrittenBytes) release(chunk)
    }
  } finally {
    out.off('error', onError)
  }
}

interface PartialInfo {
  objectId: string
  size: number
}

/** Where an unfinished download to `out` is kept. */
export const partialPath = (out: string) => `${out}.shoal-partial`
const infoPath = (out: string) => `${out}.shoal-partial.json`

/** Where to continue from: the partial file's length when it belongs to `object`, else 0 (after clearing it). */
async function resumeOffset(out: string, object: { id: string; size: number }): Promise<number> {
  const [info, partial] = await Promise.all([
    readFile(infoPath(out), 'utf8')
      .then((text) => JSON.parse(text) as PartialInfo)
      .catch(() => undefined),
    stat(partialPath(out)).catch(() => undefined)
  ])
  const same = info !== undefined && info.objectId === object.id && info.size === object.size
  if (same && partial !== undefined && partial.size <= object.size) return partial.size
  await dropPartial(out)
  return 0
}

async function markPartial(out: string, object: { id: string; size: number }): Promise<void> {
  await writeFile(infoPath(out), `${JSON.stringify({ objectId: object.id, size: object.size })}\n`)
}

async function dropPartial(out: string): Promise<void> {
  await Promise.all([rm(partialPath(out), { force: true }), rm(infoPath(out), { force: true })])
}

/** A download cut short by something a rerun can get past (Ctrl-C, the network, nodes or tracker away). */
export function isInterruption(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted === true) return true
  return [
    ErrorCode.TRACKER_UNREACHABLE,
    ErrorCode.NOT_ENOUGH_PIECES,
    ErrorCode.NODE_UNREACHABLE,
    ErrorCode.TIMEOUT,
    ErrorCode.ABORTED
  ].some((code) => isShoalError(err, code))
}
