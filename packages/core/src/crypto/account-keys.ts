import { scryptAsync } from '@noble/hashes/scrypt.js'
import { fromBase64Url, fromUtf8, randomBytes, toBase64Url, utf8 } from '../bytes.ts'
import { CONTENT_KEY_BYTES } from '../constants.ts'
import { ErrorCode, ShoalError } from '../errors.ts'
import { importAesKey, openBlob, sealBlob } from './aes-gcm.ts'

/**
 * Password-derived keys. One scrypt run yields two halves: the auth key, which is sent to the tracker as the
 * login secret (the tracker stores only a salted hash of it), and the key-encryption key, which never leaves the
 * device and unwraps the account's random master key. The tracker therefore never sees the password or any key
 * that decrypts data.
 */
export interface KdfParams {
  N: number
  r: number
  p: number
}

/** ~32 MiB of memory and a few hundred ms in pure JS: the same cost in the browser and in Node. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 15, r: 8, p: 1 }

/**
 * The weakest parameters a client derives keys with, whatever a tracker says (/v1/info serves them). A tracker
 * that served N = 2 could brute-force the password from the auth key it receives and unwrap the master key:
 * that would break "the tracker cannot read" (issue 12). DEFAULT_KDF is at the floor.
 */
export const KDF_FLOOR: KdfParams = { N: 2 ** 15, r: 8, p: 1 }
/** And the costliest a client accepts: a tracker must not make a login take gigabytes or minutes either. */
export const KDF_CEILING = { memoryBytes: 512 * 1024 * 1024, p: 16 }

/**
 * Checks KDF parameters from a tracker: ERR_KDF_TOO_WEAK below KDF_FLOOR (N a power of two at least the
 * floor's, r and p at least theirs), ERR_INVALID_INPUT when malformed or beyond KDF_CEILING.
 */
export function checkKdf(kdf: unknown): KdfParams {
  const k = kdf as Partial<KdfParams> | null
  const int = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0
  if (k === null || typeof k !== 'object' || !int(k.N) || !int(k.r) || !int(k.p) || (k.N & (k.N - 1)) !== 0) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'KDF parameters are malformed')
  }
  if (k.N < KDF_FLOOR.N || k.r < KDF_FLOOR.r || k.p < KDF_FLOOR.p) {
    throw new ShoalError(ErrorCode.KDF_TOO_WEAK, `KDF parameters N=${k.N} r=${k.r} p=${k.p} are below the floor`, {
      details: { floor: KDF_FLOOR, got: { N: k.N, r: k.r, p: k.p } }
    })
  }
  if (128 * k.N * k.r > KDF_CEILING.memoryBytes || k.p > KDF_CEILING.p) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `KDF parameters N=${k.N} r=${k.r} p=${k.p} cost too much`)
  }
  return { N: k.N, r: k.r, p: k.p }
}

export interface PasswordKeys {
  /** Sent to the tracker at sign-up and login. */
  authKey: string
  /** Unwraps the master key; stays on the device. */
  kek: Uint8Array
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

export async function derivePasswordKeys(
  email: string,
  password: string,
  kdf: KdfParams = DEFAULT_KDF
): Promise<PasswordKeys> {
  const salt = utf8(`shoal/account/v1/${normalizeEmail(email)}`)
  const out = await scryptAsync(utf8(password.normalize('NFKC')), salt, { ...kdf, dkLen: 64 })
  return { authKey: toBase64Url(out.subarray(0, 32)), kek: out.slice(32) }
}

export function generateMasterKey(): Uint8Array {
  return randomBytes(CONTENT_KEY_BYTES)
}

export async function wrapMasterKey(kek: Uint8Array, masterKey: Uint8Array): Promise<string> {
  return toBase64Url(await sealBlob(await importAesKey(kek), masterKey, 'shoal/master-key/v1'))
}

export async function unwrapMasterKey(kek: Uint8Array, wrapped: string): Promise<Uint8Array> {
  return openBlob(await importAesKey(kek), fromBase64Url(wrapped), 'shoal/master-key/v1')
}

/** Bytes of a recovery key: 160 bits, drawn at random, so no stretching is needed to derive keys from it. */
export const RECOVERY_KEY_BYTES = 20
/** Crockford's base32: no I, L, O or U, so a key copied by hand from paper reads back unambiguously. */
const RECOVERY_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/**
 * A new recovery key as a person writes it down: 32 base32 characters in groups of four
 * (`7K3Q-...-M2XD`). It unwraps a second copy of the master key, so it resets a forgotten password.
 */
export function generateRecoveryKey(): string {
  return formatRecoveryKey(randomBytes(RECOVERY_KEY_BYTES))
}

export function formatRecoveryKey(bytes: Uint8Array): string {
  if (bytes.byteLength !== RECOVERY_KEY_BYTES) throw new TypeError(`a recovery key is ${RECOVERY_KEY_BYTES} bytes`)
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += RECOVERY_ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return (out.match(/.{4}/g) as string[]).join('-')
}

/**
 * The bytes of a recovery key as typed: case, spaces and dashes do not matter, and O, I and L read as 0, 1 and
 * 1. ERR_INVALID_INPUT when it is not one.
 */
export function parseRecoveryKey(text: string): Uint8Array {
  const chars = text.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1')
  const invalid = () =>
    new ShoalError(ErrorCode.INVALID_INPUT, 'that is not a recovery key (32 letters and digits, e.g. 7K3Q-9XWB-...)')
  if (chars.length !== (RECOVERY_KEY_BYTES * 8) / 5) throw invalid()
  const out = new Uint8Array(RECOVERY_KEY_BYTES)
  let bits = 0
  let value = 0
  let i = 0
  for (const c of chars) {
    const digit = RECOVERY_ALPHABET.indexOf(c)
    if (digit < 0) throw invalid()
    value = ((value << 5) | digit) & 0xffff
    bits += 5
    if (bits >= 8) {
      out[i++] = (value >>> (bits - 8)) & 0xff
      bits -= 8
    }
  }
  return out
}

/**
 * The recovery key's two halves, like a password's (PasswordKeys): an auth key the tracker checks before it hands
 * out the recovery copy of the master key, and the key that unwraps that copy, which never leaves the device.
 * HKDF, not scrypt: the key is random, there is nothing to guess.
 */
export async function deriveRecoveryKeys(recoveryKey: Uint8Array): Promise<PasswordKeys> {
  const base = await crypto.subtle.importKey('raw', new Uint8Array(recoveryKey), 'HKDF', false, ['deriveBits'])
  const half = async (info: string): Promise<Uint8Array> =>
    new Uint8Array(
      await crypto.subtle.deriveBits(
        { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(info) as Uint8Array<ArrayBuffer> },
        base,
        256
      )
    )
  return {
    authKey: toBase64Url(await half('shoal/recovery/auth/v1')),
    kek: await half('shoal/recovery/kek/v1')
  }
}

/**
 * Keys derived from the master key with HKDF, one per purpose, so a leak of one use does not weaken another.
 */
export class AccountKeyring {
  readonly #wrapKey: CryptoKey
  readonly #metaKey: CryptoKey
  readonly #nameKey: CryptoKey

  private constructor(wrapKey: CryptoKey, metaKey: CryptoKey, nameKey: CryptoKey) {
    this.#wrapKey = wrapKey
    this.#metaKey = metaKey
    this.#nameKey = nameKey
  }

  static async fromMasterKey(masterKey: Uint8Array): Promise<AccountKeyring> {
    if (masterKey.byteLength !== CONTENT_KEY_BYTES) throw new TypeError('master key must be 32 bytes')
    const base = await crypto.subtle.importKey('raw', new Uint8Array(masterKey), 'HKDF', false, [
      'deriveKey',
      'deriveBits'
    ])
    const derive = (info: string, usage: 'aes' | 'hmac'): Promise<CryptoKey> =>
      crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(info) as Uint8Array<ArrayBuffer> },
        base,
        usage === 'aes' ? { name: 'AES-GCM', length: 256 } : { name: 'HMAC', hash: 'SHA-256', length: 256 },
        false,
        usage === 'aes' ? ['encrypt', 'decrypt'] : ['sign']
      )
    return new AccountKeyring(
      await derive('shoal/content-key-wrap/v1', 'aes'),
      await derive('shoal/metadata/v1', 'aes'),
      await derive('shoal/name-hash/v1', 'hmac')
    )
  }

  async wrapContentKey(contentKey: Uint8Array): Promise<string> {
    return toBase64Url(await sealBlob(this.#wrapKey, contentKey, 'shoal/content-key/v1'))
  }

  async unwrapContentKey(wrapped: string): Promise<Uint8Array> {
    return openBlob(this.#wrapKey, decodeField(wrapped), 'shoal/content-key/v1')
  }

  async sealMetadata(meta: ObjectMetadata): Promise<string> {
    return toBase64Url(await sealBlob(this.#metaKey, utf8(JSON.stringify(meta)), 'shoal/metadata/v1'))
  }

  async openMetadata(sealed: string): Promise<ObjectMetadata> {
    const plain = await openBlob(this.#metaKey, decodeField(sealed), 'shoal/metadata/v1')
    const value = JSON.parse(fromUtf8(plain)) as ObjectMetadata
    if (typeof value?.name !== 'string') throw new TypeError('metadata has no name')
    return value
  }

  /** A keyed hash of the name: the tracker can index and de-duplicate names without learning them. */
  async nameHash(name: string): Promise<string> {
    const mac = await crypto.subtle.sign('HMAC', this.#nameKey, utf8(name.normalize('NFC')) as Uint8Array<ArrayBuffer>)
    return toBase64Url(new Uint8Array(mac))
  }
}

export interface ObjectMetadata {
  name: string
  size: number
  mime?: string
  modified?: number
  /** A small JPEG preview (base64), made on the uploading device; sealed like the rest. */
  thumb?: string
  /** When the image was taken or the file last changed, for albums (ms). */
  taken?: number
  /** Set while the object is in the trash: where it was, and since when. */
  trash?: { from: string; at: number }
}

function decodeField(text: string): Uint8Array {
  try {
    return fromBase64Url(text)
  } catch (cause) {
    throw new TypeError('sealed field is not base64url', { cause })
  }
}
