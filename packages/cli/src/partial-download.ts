import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import { ErrorCode, isShoalError } from '@shoal/core'

/**
 * `shoal get` writes to OUT.shoal-partial and renames it when complete. An interrupted download keeps the
 * partial file, with OUT.shoal-partial.json naming the object it belongs to, and running the same command again
 * continues from the partial file's length: every byte in it came out of the engine verified and decrypted, in
 * order, so the rest is one ranged download. A partial file of another object (the file was replaced meanwhile)
 * or of a different size is discarded and the download starts over.
 */
interface PartialInfo {
  objectId: string
  size: number
}

export const partialPath = (out: string) => `${out}.shoal-partial`
const infoPath = (out: string) => `${out}.shoal-partial.json`

/** Where to continue from: the partial file's length when it belongs to `object`, else 0 (after clearing it). */
export async function resumeOffset(out: string, object: { id: string; size: number }): Promise<number> {
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

export async function markPartial(out: string, object: { id: string; size: number }): Promise<void> {
  await writeFile(infoPath(out), `${JSON.stringify({ objectId: object.id, size: object.size })}\n`)
}

export async function dropPartial(out: string): Promise<void> {
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
