import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { SavedSession } from '@shoal/client'
import { ErrorCode, ShoalError } from '@shoal/core'

/** `SHOAL_HOME` (default ~/.shoal) holds the session: the token and the master key, readable by the user only. */
export function configDir(env: NodeJS.ProcessEnv): string {
  return env.SHOAL_HOME ?? join(homedir(), '.shoal')
}

export async function loadSession(dir: string): Promise<SavedSession | undefined> {
  let text: string
  try {
    text = await readFile(join(dir, 'session.json'), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const value = JSON.parse(text) as SavedSession
    if (typeof value.token !== 'string' || typeof value.masterKey !== 'string' || typeof value.tracker !== 'string') {
      throw new Error('missing fields')
    }
    return value
  } catch (cause) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `${join(dir, 'session.json')} is damaged: run "shoal login" again`, {
      cause
    })
  }
}

export async function saveSession(dir: string, session: SavedSession): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'session.json')
  const tmp = `${file}.tmp`
  await writeFile(tmp, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, file)
}

export async function clearSession(dir: string): Promise<void> {
  await rm(join(dir, 'session.json'), { force: true })
}
