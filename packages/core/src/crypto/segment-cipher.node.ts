import { createCipheriv, createDecipheriv } from 'node:crypto'
import { allocUninitialized } from '../bytes/alloc.node.ts'
import { CONTENT_KEY_BYTES, GCM_TAG_BYTES } from '../constants.ts'
import { segmentAad, segmentNonce } from './aes-gcm.ts'
import { authFailed, type SegmentCipher, tooShort, totalBytes } from './segment-cipher.ts'

/**
 * Bytes handed to node:crypto per call. Each call returns a new buffer of this size; small enough that the
 * allocator recycles them (warm memory), large enough that the per-call cost vanishes.
 */
const STEP = 256 * 1024

export function createSegmentCipher(contentKey: Uint8Array, objectNonce: Uint8Array): SegmentCipher {
  if (contentKey.byteLength !== CONTENT_KEY_BYTES) throw new TypeError(`AES-256 key must be ${CONTENT_KEY_BYTES} bytes`)
  const key = Uint8Array.from(contentKey)
  return {
    async sealInto(index, isLast, plaintext, out) {
      if (out.byteLength !== plaintext.byteLength + GCM_TAG_BYTES) {
        throw new RangeError(`sealed segment ${index} needs ${plaintext.byteLength + GCM_TAG_BYTES} bytes`)
      }
      const cipher = createCipheriv('aes-256-gcm', key, segmentNonce(objectNonce, index))
      cipher.setAAD(segmentAad(index, isLast))
      let at = 0
      for (let i = 0; i < plaintext.byteLength; i += STEP) {
        const chunk = cipher.update(plaintext.subarray(i, Math.min(plaintext.byteLength, i + STEP)))
        out.set(chunk, at)
        at += chunk.byteLength
      }
      const tail = cipher.final()
      out.set(tail, at)
      out.set(cipher.getAuthTag(), at + tail.byteLength)
    },

    async open(index, isLast, parts) {
      const total = totalBytes(parts)
      if (total < GCM_TAG_BYTES) throw tooShort(index)
      const length = total - GCM_TAG_BYTES
      const out = allocUninitialized(length)
      const decipher = createDecipheriv('aes-256-gcm', key, segmentNonce(objectNonce, index))
      decipher.setAAD(segmentAad(index, isLast))
      const tag = new Uint8Array(GCM_TAG_BYTES)
      let tagAt = 0
      let seen = 0
      for (const part of parts) {
        const body = part.subarray(0, Math.max(0, Math.min(part.byteLength, length - seen)))
        tag.set(part.subarray(body.byteLength), tagAt)
        tagAt += part.byteLength - body.byteLength
        for (let i = 0; i < body.byteLength; i += STEP) {
          out.set(decipher.update(body.subarray(i, Math.min(body.byteLength, i + STEP))), seen + i)
        }
        seen += body.byteLength
      }
      decipher.setAuthTag(tag)
      try {
        decipher.final()
      } catch (cause) {
        throw authFailed(index, cause)
      }
      return out
    }
  }
}
