import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { fastPrivateKey, fastPublicKey, KeyCache, utf8 } from '../src/index.ts'

describe('cached Ed25519 keys', () => {
  it('sign and verify exactly as the keys they wrap', async () => {
    const key = await generateKeyPair('Ed25519')
    const fast = fastPrivateKey(key)
    const data = utf8('grant payload')
    const signature = await fast.sign(data)
    expect(signature).toEqual(new Uint8Array(await key.sign(data)))
    expect(await key.publicKey.verify(data, signature)).toBe(true)
    const fastPub = fastPublicKey(key.publicKey)
    expect(await fastPub.verify(data, signature)).toBe(true)
    expect(await fastPub.verify(utf8('other payload'), signature)).toBe(false)
    const other = await generateKeyPair('Ed25519')
    expect(await fastPublicKey(other.publicKey).verify(data, signature)).toBe(false)
    expect(await fastPub.verify(data, signature.subarray(0, 63))).toBe(false)
    expect(fast.publicKey.equals(key.publicKey)).toBe(true)
    expect(fastPub.toString()).toBe(key.publicKey.toString())
  })

  it('keeps at most its bound of keys, most recently used first', async () => {
    const cache = new KeyCache(2)
    const keys = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')))
    let parsed = 0
    const get = (i: number) =>
      cache.get(String(i), () => {
        parsed++
        return (keys[i] as (typeof keys)[number]).publicKey
      })
    get(0)
    get(1)
    get(0)
    get(2) // evicts 1, the least recently used
    expect(parsed).toBe(3)
    get(0)
    expect(parsed).toBe(3)
    get(1)
    expect(parsed).toBe(4)
  })
})
