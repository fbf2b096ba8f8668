import type { PublicKey } from '@libp2p/interface'
import { fastPublicKey } from '#fast-keys'

/** Fast public keys by an id (a peer id, a receipt key), the least recently used forgotten beyond `max`. */
export class KeyCache {
  readonly #keys = new Map<string, PublicKey>()
  readonly #max: number

  constructor(max = 10_000) {
    this.#max = max
  }

  get(id: string, parse: () => PublicKey): PublicKey {
    let key = this.#keys.get(id)
    if (key === undefined) {
      key = fastPublicKey(parse())
      if (this.#keys.size >= this.#max) {
        const oldest = this.#keys.keys().next().value
        if (oldest !== undefined) this.#keys.delete(oldest)
      }
    } else {
      this.#keys.delete(id)
    }
    this.#keys.set(id, key)
    return key
  }
}
