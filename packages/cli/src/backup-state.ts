import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { replaceFile } from './config.ts'

/**
 * What `shoal backup` knows it has uploaded, per (tracker, account, local folder, remote folder), in SHOAL_HOME:
 * each file's size, modification time and SHA-256 as they were when its upload committed. A file whose size and
 * time still match is skipped without reading it; one whose time changed but whose hash did not is skipped too
 * (a `touch`, a copy that kept the bytes). The file is rewritten (temp file, rename) after every upload, so an
 * interrupted run loses at most the file in flight, which the upload checkpoint then resumes.
 */
export interface BackedUpFile {
  size: number
  mtimeMs: number
  sha256: string
}

export interface BackupState {
  version: 1
  dir: string
  folder: string
  files: Record<string, BackedUpFile>
}

export function statePath(home: string, key: { tracker: string; email: string; dir: string; folder: string }): string {
  const id = createHash('sha256')
    .update(JSON.stringify([key.tracker, key.email, key.dir, key.folder]))
    .digest('hex')
    .slice(0, 32)
  return join(home, 'backups', `${id}.json`)
}

export async function loadState(path: string, dir: string, folder: string): Promise<BackupState> {
  try {
    const state = JSON.parse(await readFile(path, 'utf8')) as BackupState
    if (state.version === 1 && typeof state.files === 'object' && state.files !== null) return state
  } catch {
    // Missing or damaged: start from what the drive holds (the run compares sizes and times with it).
  }
  return { version: 1, dir, folder, files: {} }
}

export async function saveState(path: string, state: BackupState): Promise<void> {
  await replaceFile(path, `${JSON.stringify(state)}\n`)
}
