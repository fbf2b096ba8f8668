import { createHash } from 'node:crypto'
import { createReadStream, watch } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { checkName, checkPath, isResumable, type ObjectEntry, type ShoalClient } from '@shoal/client'
import { describeError, ErrorCode, formatBytes, isShoalError } from '@shoal/core'
import { type BackupState, loadState, saveState, statePath } from './backup-state.ts'
import { dropCheckpoint, findCheckpoint, saveCheckpoint } from './checkpoints.ts'
import { mimeFor } from './mime.ts'

/**
 * `shoal backup DIR --to FOLDER`: a one-way copy of a local folder into the drive. Only files that are new or
 * changed (by size and modification time, then by SHA-256 content hash) are uploaded; nothing is ever deleted
 * from the drive. Safe to interrupt: finished files are recorded at once, and the file in flight resumes from
 * its last committed segment on the next run.
 */
export interface BackupInit {
  client: ShoalClient
  /** SHOAL_HOME: where the state and upload checkpoints live. */
  home: string
  /** The local folder (absolute). */
  dir: string
  /** The drive folder, without a trailing "/". */
  folder: string
  log: NodeJS.WriteStream
  signal?: AbortSignal
}

export interface BackupSummary {
  uploaded: number
  uploadedBytes: number
  unchanged: number
  /** Files stored with fewer pieces than planned because storage nodes were down (repair completes them). */
  degraded: number
  failed: { file: string; error: string }[]
  ms: number
}

/** Interrupted (signal, lost network or tracker): the run stopped; running it again continues. */
export class BackupInterruptedError extends Error {
  readonly code = 'ERR_BACKUP_INTERRUPTED'
}

interface LocalFile {
  rel: string
  path: string
  size: number
  mtimeMs: number
}

async function walk(dir: string, root = dir, out: LocalFile[] = []): Promise<LocalFile[]> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, d.name)
    // Symbolic links are not followed: a link to "/" or a loop would back up far more than the folder.
    if (d.isDirectory()) await walk(path, root, out)
    else if (d.isFile()) {
      const info = await stat(path)
      out.push({ rel: relative(root, path).split(sep).join('/'), path, size: info.size, mtimeMs: info.mtimeMs })
    }
  }
  return out
}

async function hashFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) }))
    hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** The file's bytes for the upload, hashed on the way: no second read for a new file. */
async function* hashing(path: string, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer)
    yield chunk as Buffer
  }
}

function progressLine(log: NodeJS.WriteStream, text: string): void {
  if (log.isTTY === true) log.write(`\r${text.slice(0, (log.columns ?? 100) - 1)}\x1b[K`)
}

export async function runBackup(init: BackupInit): Promise<BackupSummary> {
  const { client, dir, folder, log, signal } = init
  const started = performance.now()
  const session = client.session()
  const path = statePath(init.home, { tracker: session.tracker, email: session.email, dir, folder })
  const state: BackupState = await loadState(path, dir, folder)
  const files = (await walk(dir)).sort((a, b) => a.rel.localeCompare(b.rel))
  const prefix = `${folder}/`
  const remote = new Map<string, ObjectEntry>(
    (await client.list({ ...(signal ? { signal } : {}) }))
      .filter((e) => e.name.startsWith(prefix))
      .map((e) => [e.name, e])
  )
  const summary: BackupSummary = { uploaded: 0, uploadedBytes: 0, unchanged: 0, degraded: 0, failed: [], ms: 0 }
  const total = files.reduce((sum, f) => sum + f.size, 0)
  let seenBytes = 0

  for (const [i, file] of files.entries()) {
    signal?.throwIfAborted()
    const name = `${prefix}${file.rel}`
    const known = state.files[file.rel]
    const stored = remote.get(name)
    const status = `backup [${i + 1}/${files.length}] ${formatBytes(seenBytes)} of ${formatBytes(total)}`
    seenBytes += file.size
    try {
      checkPath(name)
      for (const part of file.rel.split('/')) checkName(part)
      // Unchanged: what was uploaded is still in the drive, and the file has its size and time, or its hash.
      if (stored !== undefined && stored.size === file.size) {
        if (known !== undefined && known.size === file.size && known.mtimeMs === file.mtimeMs) {
          summary.unchanged++
          continue
        }
        if (known === undefined && stored.meta.modified === file.mtimeMs) {
          // No local record (first run on this device, or the state was lost): the drive's copy has the same
          // size and time; remember it with its hash.
          state.files[file.rel] = { size: file.size, mtimeMs: file.mtimeMs, sha256: await hashFile(file.path, signal) }
          await saveState(path, state)
          summary.unchanged++
          continue
        }
        if (known !== undefined && known.size === file.size) {
          progressLine(log, `${status} checking ${file.rel}`)
          const sha256 = await hashFile(file.path, signal)
          if (sha256 === known.sha256) {
            state.files[file.rel] = { ...known, mtimeMs: file.mtimeMs }
            await saveState(path, state)
            summary.unchanged++
            continue
          }
        }
      }
      const hash = createHash('sha256')
      const mime = mimeFor(file.rel)
      const previous = await findCheckpoint(init.home, file.path, name, file.size, file.mtimeMs)
      const upload = (resume: string | undefined) =>
        client.put(name, hashing(file.path, hash), file.size, {
          overwrite: true,
          meta: { modified: file.mtimeMs, taken: file.mtimeMs },
          ...(mime === undefined ? {} : { mime }),
          onProgress: (p) =>
            progressLine(log, `${status} ${file.rel} ${p.total === 0 ? 100 : Math.floor((p.bytes / p.total) * 100)}%`),
          onStarted: (uploadId) => {
            void saveCheckpoint(init.home, {
              uploadId,
              file: file.path,
              name,
              size: file.size,
              mtimeMs: file.mtimeMs
            })
          },
          ...(resume === undefined ? {} : { resume }),
          ...(signal === undefined ? {} : { signal })
        })
      const result = await upload(previous?.uploadId).catch((err: unknown) => {
        if (previous !== undefined && isShoalError(err, ErrorCode.UPLOAD_NOT_FOUND)) return upload(undefined)
        throw err
      })
      await dropCheckpoint(init.home, file.path, name, file.size, file.mtimeMs)
      // A resumed upload read only the segments it still needed: hash the whole file for the record.
      const sha256 = previous === undefined ? hash.digest('hex') : await hashFile(file.path, signal)
      state.files[file.rel] = { size: file.size, mtimeMs: file.mtimeMs, sha256 }
      await saveState(path, state)
      summary.uploaded++
      summary.uploadedBytes += file.size
      if (result.degraded !== undefined) summary.degraded++
      if (log.isTTY !== true) log.write(`  + ${file.rel} (${formatBytes(file.size)})\n`)
    } catch (err) {
      if (isResumable(err, signal) || signal?.aborted === true) {
        progressLine(log, '')
        throw new BackupInterruptedError(
          `backup interrupted at ${file.rel} (${describeError(err)}): run the same command again to continue`,
          { cause: err }
        )
      }
      summary.failed.push({ file: file.rel, error: describeError(err) })
      log.write(`${log.isTTY === true ? '\r\x1b[K' : ''}  ! ${file.rel}: ${describeError(err)}\n`)
    }
  }
  progressLine(log, '')
  summary.ms = performance.now() - started
  return summary
}

export function summaryLine(dir: string, folder: string, s: BackupSummary): string {
  const failed = s.failed.length > 0 ? `, ${s.failed.length} failed` : ''
  const degraded =
    s.degraded > 0
      ? ` (${s.degraded} stored with fewer pieces than planned while nodes were down; repair adds them)`
      : ''
  return `Backed up ${dir} to ${folder}: ${s.uploaded} uploaded (${formatBytes(s.uploadedBytes)})${degraded}, ${s.unchanged} unchanged${failed} in ${(s.ms / 1000).toFixed(1)} s`
}

/**
 * Waits for a change under `dir` (recursive watch), then a quiet second so a file still being copied is not
 * caught half-way; resolves false when `signal` ends the watch.
 */
export function nextChange(dir: string, signal?: AbortSignal, quietMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve(false)
    let timer: ReturnType<typeof setTimeout> | undefined
    const watcher = watch(dir, { recursive: true })
    const finish = (changed: boolean) => {
      clearTimeout(timer)
      watcher.close()
      signal?.removeEventListener('abort', onAbort)
      resolve(changed)
    }
    const onAbort = () => finish(false)
    signal?.addEventListener('abort', onAbort, { once: true })
    watcher.on('change', () => {
      clearTimeout(timer)
      timer = setTimeout(() => finish(true), quietMs)
    })
    watcher.on('error', () => finish(false))
  })
}
