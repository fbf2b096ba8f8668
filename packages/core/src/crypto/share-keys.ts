import { scryptAsync } from '@noble/hashes/scrypt.js'
import { fromBase64Url, fromUtf8, randomBytes, toBase64Url, utf8 } from '../bytes.ts'
import { CONTENT_KEY_BYTES } from '../constants.ts'
import { ErrorCode, ShoalError } from '../errors.ts'
import { DEFAULT_KDF, type KdfParams, type PasswordKeys } from './account-keys.ts'
import { importAesKey, openBlob, sealBlob } from './aes-gcm.ts'

/**
 * Share links. A link is `<origin>/s/<shareId>#<fragment>`; browsers never send the fragment to any server, and
 * the fragment carries the file's content key:
 * - `k=<key>`: the key itself;
 * - `w=<sealed key>`: with a password, the key sealed under a key derived from the password (scrypt, with a
 *   per-share salt the tracker keeps), so a link without its password decrypts nothing even if the tracker were
 *   bypassed. The same derivation yields an auth key: the tracker hands out grants only against it.
 * The file's name, size and type travel with the share, sealed under a key derived from the content key.
 */
export interface ShareMetadata {
  name: string
  size: number
  mime?: string
}

export type ShareFragment = { kind: 'key'; key: Uint8Array } | { kind: 'wrapped'; wrapped: string }

const SHARE_META_CONTEXT = 'shoal/share-meta/v1'
const SHARE_KEY_CONTEXT = 'shoal/share-key/v1'

async function shareMetaKey(contentKey: Uint8Array): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', new Uint8Array(contentKey), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: new Uint8Array(0),
      info: utf8(SHARE_META_CONTEXT) as Uint8Array<ArrayBuffer>
    },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt']
  )
}

export async function sealShareMetadata(contentKey: Uint8Array, meta: ShareMetadata): Promise<string> {
  return toBase64Url(await sealBlob(await shareMetaKey(contentKey), utf8(JSON.stringify(meta)), SHARE_META_CONTEXT))
}

/** Opens a share's metadata; a wrong key (a damaged link) is ERR_DECRYPT_FAILED. */
export async function openShareMetadata(contentKey: Uint8Array, sealed: string): Promise<ShareMetadata> {
  let plain: Uint8Array
  try {
    plain = await openBlob(await shareMetaKey(contentKey), fromBase64Url(sealed), SHARE_META_CONTEXT)
  } catch (cause) {
    throw new ShoalError(
      ErrorCode.DECRYPT_FAILED,
      'the link is damaged or incomplete: its key does not open this file',
      {
        cause
      }
    )
  }
  const value = JSON.parse(fromUtf8(plain)) as ShareMetadata
  if (typeof value?.name !== 'string' || !Number.isSafeInteger(value.size)) {
    throw new ShoalError(ErrorCode.DECRYPT_FAILED, 'the shared file has unreadable metadata')
  }
  return value
}

export function generateShareSalt(): string {
  return toBase64Url(randomBytes(16))
}

/** The password's two halves for one share: `authKey` goes to the tracker, `kek` seals the content key. */
export async function deriveSharePasswordKeys(
  salt: string,
  password: string,
  kdf: KdfParams = DEFAULT_KDF
): Promise<PasswordKeys> {
  const out = await scryptAsync(utf8(password.normalize('NFKC')), utf8(`shoal/share/v1/${salt}`), { ...kdf, dkLen: 64 })
  return { authKey: toBase64Url(out.subarray(0, 32)), kek: out.slice(32) }
}

export async function wrapShareKey(kek: Uint8Array, contentKey: Uint8Array): Promise<string> {
  return toBase64Url(await sealBlob(await importAesKey(kek), contentKey, SHARE_KEY_CONTEXT))
}

/** A wrong password (or a damaged link) is ERR_DECRYPT_FAILED. */
export async function unwrapShareKey(kek: Uint8Array, wrapped: string): Promise<Uint8Array> {
  try {
    return await openBlob(await importAesKey(kek), fromBase64Url(wrapped), SHARE_KEY_CONTEXT)
  } catch (cause) {
    throw new ShoalError(ErrorCode.DECRYPT_FAILED, 'the password does not open this link', { cause })
  }
}

export function formatShareFragment(fragment: ShareFragment): string {
  return fragment.kind === 'key' ? `k=${toBase64Url(fragment.key)}` : `w=${fragment.wrapped}`
}

/** Parses a link's fragment (with or without '#'); anything malformed is ERR_INVALID_INPUT. */
export function parseShareFragment(text: string): ShareFragment {
  const params = new URLSearchParams(text.startsWith('#') ? text.slice(1) : text)
  const key = params.get('k')
  const wrapped = params.get('w')
  const damaged = () => new ShoalError(ErrorCode.INVALID_INPUT, 'the link is damaged or incomplete: it carries no key')
  try {
    if (key !== null) {
      const bytes = fromBase64Url(key)
      if (bytes.byteLength !== CONTENT_KEY_BYTES) throw damaged()
      return { kind: 'key', key: bytes }
    }
    if (wrapped !== null && wrapped.length > 0) {
      fromBase64Url(wrapped)
      return { kind: 'wrapped', wrapped }
    }
  } catch {
    throw damaged()
  }
  throw damaged()
}
