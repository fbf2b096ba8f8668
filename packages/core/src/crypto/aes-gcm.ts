import { concat, randomBytes, utf8 } from '../bytes.ts'
import { CONTENT_KEY_BYTES, GCM_TAG_BYTES, OBJECT_NONCE_BYTES } from '../constants.ts'
import { ErrorCode, ShoalError } from '../errors.ts'

const SEGMENT_AAD_PREFIX = utf8('shoal/segment/v1')
const WRAP_NONCE_BYTES = 12

/** Copies into a fresh ArrayBuffer-backed view: WebCrypto's types reject SharedArrayBuffer-backed views. */
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes)
}

export async function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.byteLength !== CONTENT_KEY_BYTES) throw new TypeError(`AES-256 key must be ${CONTENT_KEY_BYTES} bytes`)
  return crypto.subtle.importKey('raw', buf(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
}

export function generateContentKey(): Uint8Array {
  return randomBytes(CONTENT_KEY_BYTES)
}

export function generateObjectNonce(): Uint8Array {
  return randomBytes(OBJECT_NONCE_BYTES)
}

/**
 * The GCM nonce is the object's random prefix followed by the segment index, so no two segments of one object
 * ever share a nonce under its key, and a segment decrypts only at the index it was sealed for.
 */
export function segmentNonce(objectNonce: Uint8Array, index: number): Uint8Array<ArrayBuffer> {
  if (objectNonce.byteLength !== OBJECT_NONCE_BYTES) throw new TypeError('object nonce must be 8 bytes')
  if (!Number.isInteger(index) || index < 0 || index > 0xffff_ffff) throw new TypeError('segment index out of range')
  const nonce = new Uint8Array(12)
  nonce.set(objectNonce, 0)
  new DataView(nonce.buffer).setUint32(OBJECT_NONCE_BYTES, index)
  return nonce
}

/** The last segment is marked in the associated data, so dropping trailing segments cannot go unnoticed. */
export function segmentAad(index: number, isLast: boolean): Uint8Array<ArrayBuffer> {
  const tail = new Uint8Array(5)
  new DataView(tail.buffer).setUint32(0, index)
  tail[4] = isLast ? 1 : 0
  return buf(concat([SEGMENT_AAD_PREFIX, tail]))
}

export async function sealSegment(
  key: CryptoKey,
  objectNonce: Uint8Array,
  index: number,
  isLast: boolean,
  plaintext: Uint8Array
): Promise<Uint8Array> {
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: segmentNonce(objectNonce, index), additionalData: segmentAad(index, isLast) },
    key,
    buf(plaintext)
  )
  return new Uint8Array(sealed)
}

export async function openSegment(
  key: CryptoKey,
  objectNonce: Uint8Array,
  index: number,
  isLast: boolean,
  ciphertext: Uint8Array
): Promise<Uint8Array> {
  if (ciphertext.byteLength < GCM_TAG_BYTES) {
    throw new ShoalError(ErrorCode.DECRYPT_FAILED, `segment ${index} is shorter than its authentication tag`)
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: segmentNonce(objectNonce, index), additionalData: segmentAad(index, isLast) },
      key,
      buf(ciphertext)
    )
    return new Uint8Array(plain)
  } catch (cause) {
    throw new ShoalError(
      ErrorCode.DECRYPT_FAILED,
      `segment ${index} failed authentication: wrong key, or its bytes were altered`,
      { cause, details: { segment: index } }
    )
  }
}

/** Seals a small secret (a key or metadata) with a random nonce: `nonce || ciphertext || tag`. */
export async function sealBlob(key: CryptoKey, plaintext: Uint8Array, context: string): Promise<Uint8Array> {
  const nonce = randomBytes(WRAP_NONCE_BYTES) as Uint8Array<ArrayBuffer>
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: utf8(context) as Uint8Array<ArrayBuffer> },
    key,
    buf(plaintext)
  )
  return concat([nonce, new Uint8Array(sealed)])
}

export async function openBlob(key: CryptoKey, sealed: Uint8Array, context: string): Promise<Uint8Array> {
  if (sealed.byteLength < WRAP_NONCE_BYTES + GCM_TAG_BYTES) {
    throw new ShoalError(ErrorCode.DECRYPT_FAILED, `${context}: sealed value is too short`)
  }
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: 'AES-GCM',
        iv: buf(sealed.subarray(0, WRAP_NONCE_BYTES)),
        additionalData: utf8(context) as Uint8Array<ArrayBuffer>
      },
      key,
      buf(sealed.subarray(WRAP_NONCE_BYTES))
    )
    return new Uint8Array(plain)
  } catch (cause) {
    throw new ShoalError(ErrorCode.DECRYPT_FAILED, `${context}: wrong key, or the value was altered`, { cause })
  }
}
