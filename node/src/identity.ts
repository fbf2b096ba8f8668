import { randomUUID } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ErrorCode, ShoalError } from '@shoal/core'
import type { Logger } from 'pino'

export const IDENTITY_FILE = 'identity.key'

/**
 * The node's Ed25519 libp2p key, kept in `DIR/identity.key` (protobuf, mode 0600) so the peer id, which the
 * tracker's grants name, survives restarts. Created on first start.
 */
export async function loadOrCreateIdentity(dataDir: string, logger?: Logger): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err
  }
  if (bytes !== undefined) {
    let key: PrivateKey
    try {
      key = privateKeyFromProtobuf(bytes)
    } catch (cause) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `${path} does not hold a libp2p private key`, { cause })
    }
    if (key.type !== 'Ed25519') {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `${path} holds a ${key.type} key; Shoal nodes use Ed25519`)
    }
    const mode = (await stat(path)).mode & 0o777
    if ((mode & 0o077) !== 0) {
      logger?.warn({ path, mode: mode.toString(8) }, 'identity key was readable by others: restricting it to 0600')
      await chmod(path, 0o600)
    }
    return key
  }
  const key = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
  logger?.info({ path }, 'created a new node identity')
  return key
}

/** The peer id (string form) a key stands for: what grants and heartbeats name. */
export function peerIdOf(key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

/** Write to a unique temporary name, fsync, rename: a crash leaves the old file or the new one, never half. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${randomUUID()}.tmp`
  const file = await open(tmp, 'wx', mode)
  try {
    await file.writeFile(data)
    await file.sync()
  } catch (err) {
    await file.close().catch(() => undefined)
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  await file.close()
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
