import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { NodeRates, type SavedSession } from '@shoal/client'
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

/**
 * Replaces `path` with `text`, readable by the user only, through a temporary file and a rename: a reader (or a
 * crash) sees the old content or the new, never half. Creates the folder (private) if needed.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  try {
    await writeFile(tmp, text, { mode: 0o600 })
    await chmod(tmp, 0o600)
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw err
  }
}

export async function saveSession(dir: string, session: SavedSession): Promise<void> {
  await replaceFile(join(dir, 'session.json'), `${JSON.stringify(session, null, 2)}\n`)
}

/**
 * Node rates measured by earlier `shoal` runs (node-rates.json): a cache, so a missing, unreadable or malformed
 * file gives an empty one rather than an error.
 */
export async function loadNodeRates(dir: string): Promise<NodeRates> {
  try {
    return NodeRates.fromJSON(JSON.parse(await readFile(join(dir, 'node-rates.json'), 'utf8')))
  } catch {
    return new NodeRates()
  }
}

/** Keeps the rates a run measured for the next one; a home folder that cannot be written only loses the cache. */
export async function saveNodeRates(dir: string, rates: NodeRates): Promise<void> {
  if (!rates.changed) return
  await replaceFile(join(dir, 'node-rates.json'), `${JSON.stringify(rates)}\n`).catch(() => undefined)
}

export async function clearSession(dir: string): Promise<void> {
  await rm(join(dir, 'session.json'), { force: true })
}
