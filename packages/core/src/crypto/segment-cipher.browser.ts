import { concat } from '../bytes.ts'
import { importAesKey, openSegment, sealSegment } from './aes-gcm.ts'
import type { SegmentCipher } from './segment-cipher.ts'

/** Browsers: WebCrypto, which takes one contiguous input and cannot stream. */
export function createSegmentCipher(contentKey: Uint8Array, objectNonce: Uint8Array): SegmentCipher {
  const key = importAesKey(contentKey)
  const nonce = Uint8Array.from(objectNonce)
  return {
    async sealInto(index, isLast, plaintext, out) {
      out.set(await sealSegment(await key, nonce, index, isLast, plaintext))
    },
    open(index, isLast, parts) {
      // Gathered before the first await: the caller may reuse the parts' memory once this returns.
      const sealed = parts.length === 1 ? parts[0]!.slice() : concat([...parts])
      return key.then((k) => openSegment(k, nonce, index, isLast, sealed))
    }
  }
}
