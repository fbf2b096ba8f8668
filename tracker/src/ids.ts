import { randomFillSync } from 'node:crypto'
import { toBase64Url } from '@shoal/core'
import { ID_BYTES } from './constants.ts'

/**
 * Random bytes are drawn from the system's CSPRNG a pool at a time: a grant request needs a serial per piece,
 * and one call per 16 bytes cost 3% of the tracker's CPU. No byte is handed out twice.
 */
const POOL_BYTES = 4096
let pool = new Uint8Array(0)
let poolAt = 0

/** Random base64url id (uploads, objects, accounts, serials): 16 bytes, 22 characters. */
export function randomId(bytes = ID_BYTES): string {
  if (bytes > POOL_BYTES) return toBase64Url(randomFillSync(new Uint8Array(bytes)))
  if (poolAt + bytes > pool.byteLength) {
    pool = randomFillSync(new Uint8Array(POOL_BYTES))
    poolAt = 0
  }
  const id = toBase64Url(pool.subarray(poolAt, poolAt + bytes))
  poolAt += bytes
  return id
}
