import type { PrivateKey, PublicKey } from '@libp2p/interface'

/* Browsers: @libp2p/crypto signs and verifies with WebCrypto or noble; there is no per-call key import to save. */

export function fastPrivateKey(key: PrivateKey): PrivateKey {
  return key
}

export function fastPublicKey(key: PublicKey): PublicKey {
  return key
}
