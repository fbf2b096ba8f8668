import { describe, expect, it } from 'vitest'
import {
  AccountKeyring,
  derivePasswordKeys,
  ErrorCode,
  generateContentKey,
  generateMasterKey,
  unwrapMasterKey,
  wrapMasterKey
} from '../src/index.ts'

const FAST = { N: 2 ** 10, r: 8, p: 1 }

describe('account keys', () => {
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
