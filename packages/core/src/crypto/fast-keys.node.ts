import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { toBase64Url } from '../bytes.ts'

/*
 * Node: @libp2p/crypto rebuilds a node:crypto KeyObject from JWK on every Ed25519 sign and verify, which took a third
 * of the tracker's CPU under grant load (bench/RESULTS.md, tracker load) and ~5% of a storage node's while
 * serving (grants and in-band receipts). These wrappers build it once per key.
 * Same keys, same signatures: only the cost changes.
 */

/** The same private key, signing with a cached KeyObject (Ed25519 only; other keys are returned as they are). */
export function fastPrivateKey(key: PrivateKey): PrivateKey {
  if (key.type !== 'Ed25519' || key.raw.byteLength !== 64) return key
  const object = createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: toBase64Url(key.raw.subarray(0, 32)), x: toBase64Url(key.raw.subarray(32)) }
  })
  const fastSign = (data: Uint8Array | { subarray(): Uint8Array }) =>
    new Uint8Array(sign(null, data instanceof Uint8Array ? data : data.subarray(), object))
  return new Proxy(key, {
    get: (target, prop, receiver) => (prop === 'sign' ? fastSign : Reflect.get(target, prop, receiver))
  })
}

function publicObject(key: PublicKey): KeyObject {
  return createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(key.raw) } })
}

/** The same public key, verifying with a cached KeyObject (Ed25519 only). */
export function fastPublicKey(key: PublicKey): PublicKey {
  if (key.type !== 'Ed25519' || key.raw.byteLength !== 32) return key
  const object = publicObject(key)
  const fastVerify = (data: Uint8Array | { subarray(): Uint8Array }, signature: Uint8Array) =>
    signature.byteLength === 64 && verify(null, data instanceof Uint8Array ? data : data.subarray(), object, signature)
  return new Proxy(key, {
    get: (target, prop, receiver) => (prop === 'verify' ? fastVerify : Reflect.get(target, prop, receiver))
  })
}
