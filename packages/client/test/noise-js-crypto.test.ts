import { nodeCrypto, pureJsCrypto } from '@chainsafe/libp2p-noise/crypto'
import { describe, expect, it } from 'vitest'

// The browser's noise runs ChaCha20-Poly1305 in JavaScript (@noble/ciphers, patched: Poly1305 reads its input
// in place instead of copying it first). Checked against Node's OpenSSL for the same bytes.
function random(length: number, offset = 0): Uint8Array {
  const backing = new Uint8Array(length + offset)
  crypto.getRandomValues(backing.subarray(0, Math.min(backing.byteLength, 65536)))
  for (let i = 65536; i < backing.byteLength; i++) backing[i] = (i * 131) & 0xff
  return backing.subarray(offset)
}

describe("noise's JavaScript ChaCha20-Poly1305 (browsers)", () => {
  it.each([0, 1, 15, 16, 17, 1000, 65519])('matches node:crypto for %i bytes and opens what it sealed', (size) => {
    const key = random(32)
    const nonce = random(12)
    const ad = random(32)
    // An odd offset: the noise messages a browser decrypts are views into larger socket buffers.
    const plaintext = random(size, 3)
    const before = plaintext.slice()
    const sealed = pureJsCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key)
    const reference = nodeCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key)
    expect(Buffer.compare(Buffer.from(sealed.subarray()), Buffer.from(reference.subarray()))).toBe(0)
    expect(Buffer.compare(Buffer.from(plaintext), Buffer.from(before))).toBe(0)

    const framed = new Uint8Array(sealed.byteLength + 5)
    framed.set(sealed.subarray(), 5)
    const ciphertext = framed.subarray(5)
    const opened = pureJsCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, key)
    expect(Buffer.compare(Buffer.from(opened.subarray()), Buffer.from(before))).toBe(0)
  })

  it('refuses a message with one flipped bit, in the body or the tag', () => {
    const key = random(32)
    const nonce = random(12)
    const ad = random(32)
    const sealed = pureJsCrypto.chaCha20Poly1305Encrypt(random(65519), nonce, ad, key).subarray()
    for (const at of [0, 40_000, sealed.byteLength - 1]) {
      const altered = sealed.slice()
      altered[at] = (altered[at] as number) ^ 1
      expect(() => pureJsCrypto.chaCha20Poly1305Decrypt(altered, nonce, ad, key)).toThrow()
    }
  })
})
