import { describe, expect, it } from 'vitest'
import {
  AccountKeyring,
  derivePasswordKeys,
  deriveRecoveryKeys,
  ErrorCode,
  formatRecoveryKey,
  fromBase64Url,
  generateContentKey,
  generateMasterKey,
  generateRecoveryKey,
  parseRecoveryKey,
  RECOVERY_KEY_BYTES,
  unwrapMasterKey,
  wrapMasterKey
} from '../src/index.ts'

const FAST = { N: 2 ** 10, r: 8, p: 1 }

describe('account keys', () => {
  it('a recovery key reads back as written, forgiving case, spacing and look-alike letters', () => {
    const key = generateRecoveryKey()
    expect(key).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/)
    expect(formatRecoveryKey(parseRecoveryKey(key))).toBe(key)
    const bytes = Uint8Array.from({ length: RECOVERY_KEY_BYTES }, (_, i) => i * 13)
    const text = formatRecoveryKey(bytes)
    expect(parseRecoveryKey(` ${text.toLowerCase().replaceAll('-', ' ')} `)).toEqual(bytes)
    expect(parseRecoveryKey(text.replaceAll('0', 'O').replaceAll('1', 'l'))).toEqual(bytes)
    for (const bad of ['', text.slice(0, -1), `${text}X`, text.replace(/.$/, 'U')]) {
      expect(() => parseRecoveryKey(bad)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_INPUT }))
    }
  })

  it('the recovery key unwraps its copy of the master key; its auth key, all the tracker sees, does not', async () => {
    const master = generateMasterKey()
    const keys = await deriveRecoveryKeys(parseRecoveryKey(generateRecoveryKey()))
    const wrapped = await wrapMasterKey(keys.kek, master)
    expect(await unwrapMasterKey(keys.kek, wrapped)).toEqual(master)
    // The tracker holds the auth key (a hash of it) and the wrap: trying the auth key as the key opens nothing.
    await expect(unwrapMasterKey(fromBase64Url(keys.authKey), wrapped)).rejects.toThrow()
    const other = await deriveRecoveryKeys(parseRecoveryKey(generateRecoveryKey()))
    await expect(unwrapMasterKey(other.kek, wrapped)).rejects.toThrow()
  })

  it('the same password gives the same keys; another password or email does not', async () => {
    const a = await derivePasswordKeys('Ann@Example.com ', 'correct horse', FAST)
    const b = await derivePasswordKeys('ann@example.com', 'correct horse', FAST)
    const c = await derivePasswordKeys('ann@example.com', 'wrong horse', FAST)
    const d = await derivePasswordKeys('bob@example.com', 'correct horse', FAST)
    expect(a.authKey).toBe(b.authKey)
    expect(a.authKey).not.toBe(c.authKey)
    expect(a.authKey).not.toBe(d.authKey)
  })

  it('the master key unwraps only with the right password', async () => {
    const master = generateMasterKey()
    const right = await derivePasswordKeys('ann@example.com', 'pw-1', FAST)
    const wrong = await derivePasswordKeys('ann@example.com', 'pw-2', FAST)
    const wrapped = await wrapMasterKey(right.kek, master)
    expect(await unwrapMasterKey(right.kek, wrapped)).toEqual(master)
    expect((await unwrapMasterKey(wrong.kek, wrapped).catch((e) => e)).code).toBe(ErrorCode.DECRYPT_FAILED)
  })

  it('keyring wraps content keys, seals metadata and hashes names deterministically', async () => {
    const ring = await AccountKeyring.fromMasterKey(generateMasterKey())
    const other = await AccountKeyring.fromMasterKey(generateMasterKey())
    const key = generateContentKey()
    const wrapped = await ring.wrapContentKey(key)
    expect(await ring.unwrapContentKey(wrapped)).toEqual(key)
    expect((await other.unwrapContentKey(wrapped).catch((e) => e)).code).toBe(ErrorCode.DECRYPT_FAILED)
    const meta = await ring.sealMetadata({ name: 'photos/cat.jpg', size: 12 })
    expect(await ring.openMetadata(meta)).toEqual({ name: 'photos/cat.jpg', size: 12 })
    expect(await ring.nameHash('a.txt')).toBe(await ring.nameHash('a.txt'))
    expect(await ring.nameHash('a.txt')).not.toBe(await other.nameHash('a.txt'))
  })
})
