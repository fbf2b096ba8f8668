import { allocUninitialized } from '../bytes/alloc.browser.ts'
import { recycleBuffer } from '../bytes/buffer-pool.ts'
import { concatInto } from '../bytes.ts'
import { importAesKey, openSegment, sealSegment } from './aes-gcm.ts'
import { type SegmentCipher, totalBytes } from './segment-cipher.ts'

/** Browsers: WebCrypto, which takes one contiguous input and cannot stream. */
export function createSegmentCipher(contentKey: Uint8Array, objectNonce: Uint8Array): SegmentCipher {
  const key = importAesKey(contentKey)
  const nonce = Uint8Array.from(objectNonce)
  return {
    async sealInto(index, isLast, plaintext, out) {
      out.set(await sealSegment(await key, nonce, index, isLast, plaintext))
    },
    open(index, isLast, parts) {
      // Gathered before the first await: the caller may reuse the parts' memory once this returns. Into a
      // recycled buffer when there is one: a fresh segment-sized buffer per segment is costly in a browser.
      const sealed = concatInto(parts, allocUninitialized(totalBytes(parts)))
      return key.then((k) => {
        // WebCrypto copies its input before `decrypt` returns its promise (the spec's "get a copy of the bytes
        // held by data"), and openSegment calls it before its first await: the gather buffer is free again.
        const opened = openSegment(k, nonce, index, isLast, sealed)
        recycleBuffer(sealed.buffer as ArrayBuffer)
        return opened
      })
    }
  }
}
