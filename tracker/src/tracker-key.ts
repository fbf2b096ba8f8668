import { constants } from 'node:fs'
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'

export const KEY_FILE = 'tracker.key'

/**
 * Loads the tracker's Ed25519 signing key from `<dataDir>/tracker.key`, creating it on first start. Nodes pin
 * the public key at first contact, so losing this file orphans every grant ever issued: it is written once,
 * fsynced and renamed into place, readable only by its owner.
 */
export async function loadOrCreateTrackerKey(dataDir: string, log: Logger): Promise<PrivateKey> {
  const path = join(dataDir, KEY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (bytes !== undefined) {
    const key = privateKeyFromProtobuf(bytes)
    if (key.type !== 'Ed25519') throw new TypeError(`${path} holds a ${key.type} key, not Ed25519`)
    const mode = (await stat(path)).mode & 0o777
    if ((mode & 0o077) !== 0) {
      log.warn({ path, mode: mode.toString(8) }, 'tracker key was readable by others; restricting it to 0600')
      await chmod(path, 0o600)
    }
    return key
  }
  await mkdir(dataDir, { recursive: true })
  const key = await generateKeyPair('Ed25519')
  const temp = `${path}.${process.pid}.tmp`
  const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  try {
    await file.writeFile(privateKeyToProtobuf(key))
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temp, path)
  log.info({ path }, 'created a new tracker key')
  return key
}
