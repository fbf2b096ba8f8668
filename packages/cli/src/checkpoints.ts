import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'

/**
 * Interrupted uploads, remembered per (file, size, modification time, name) so that running the same
 * `shoal put` again resumes instead of starting over. The tracker keeps everything else (sealed key,
 * committed segments); a checkpoint is only the upload id.
 */
export interface Checkpoint {
  uploadId: string
  file: string
  name: string
  size: number
  mtimeMs: number
}

function path(dir: string, file: string, name: string, size: number, mtimeMs: number): string {
  const key = createHash('sha256')
    .update(JSON.stringify([resolve(file), name, size, mtimeMs]))
    .digest('hex')
    .slice(0, 32)
  return join(dir, 'uploads', `${key}.json`)
}

export async function findCheckpoint(dir: string, file: string, name: string, size: number, mtimeMs: number) {
  try {
    return JSON.parse(await readFile(path(dir, file, name, size, mtimeMs), 'utf8')) as Checkpoint
  } catch {
    return undefined
  }
}

export async function saveCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  await mkdir(join(dir, 'uploads'), { recursive: true, mode: 0o700 })
  const file = path(dir, checkpoint.file, checkpoint.name, checkpoint.size, checkpoint.mtimeMs)
  await writeFile(file, `${JSON.stringify({ ...checkpoint, file: resolve(checkpoint.file) })}\n`, { mode: 0o600 })
}

export async function dropCheckpoint(dir: string, file: string, name: string, size: number, mtimeMs: number) {
  await rm(path(dir, file, name, size, mtimeMs), { force: true })
}
