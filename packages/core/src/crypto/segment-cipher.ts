import { ErrorCode, ShoalError } from '../errors.ts'

/**
 * AES-256-GCM over one object's segments (nonce and associated data as in aes-gcm.ts), shaped for the codec's
 * hot path: sealing writes straight into the shard buffer, and opening reads the ciphertext from the pieces it
 * arrived in, so neither side gathers a segment into a buffer of its own first. Node implements it on
 * node:crypto (streaming, no copies of the input); browsers on WebCrypto (which needs one contiguous input).
 */
export interface SegmentCipher {
  /** Seals `plaintext` into `out` (ciphertext then tag: plaintext.byteLength + 16 bytes). */
  sealInto(index: number, isLast: boolean, plaintext: Uint8Array, out: Uint8Array): Promise<void>
  /**
   * Opens a sealed segment given as consecutive parts (ciphertext then tag). Reads `parts` before it returns,
   * so they may be views of memory that is reused as soon as the call returns its promise.
   */
  open(index: number, isLast: boolean, parts: readonly Uint8Array[]): Promise<Uint8Array>
}

export function authFailed(index: number, cause?: unknown): ShoalError {
  return new ShoalError(
    ErrorCode.DECRYPT_FAILED,
    `segment ${index} failed authentication: wrong key, or its bytes were altered`,
    { cause, details: { segment: index } }
  )
}

export function tooShort(index: number): ShoalError {
  return new ShoalError(ErrorCode.DECRYPT_FAILED, `segment ${index} is shorter than its authentication tag`)
}

/** The first `length` bytes of consecutive parts, as views (no copy). */
export function takeBytes(parts: readonly Uint8Array[], length: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let left = length
  for (const part of parts) {
    if (left === 0) break
    const take = Math.min(left, part.byteLength)
    out.push(take === part.byteLength ? part : part.subarray(0, take))
    left -= take
  }
  if (left > 0) throw new RangeError(`parts hold ${length - left} of ${length} bytes`)
  return out
}

export function totalBytes(parts: readonly Uint8Array[]): number {
  let n = 0
  for (const p of parts) n += p.byteLength
  return n
}
