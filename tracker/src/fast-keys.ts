// Moved to @shoal/core (storage nodes and clients sign and verify the same tokens).
export { fastPrivateKey, fastPublicKey, KeyCache } from '@shoal/core'
