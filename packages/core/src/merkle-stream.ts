import { sha256 } from 'multiformats/hashes/sha2'
import { toBase64Url } from './bytes.ts'
import { MERKLE_LEAF_BYTES, MERKLE_LEAF_TAG, merkleRootFromLeafHashes } from './merkle.ts'

/**
 * The Merkle root of a piece computed as its bytes stream past, holding one leaf at a time: a node computes
 * the root of every piece it stores this way and signs it in its put receipt (receipt.ts), so the root the
 * tracker audits against is the node's own statement about the bytes it holds, never a client's claim.
 * Same tree as `merkleRoot` (merkle.ts).
 *
 * It runs on every byte a node receives, so the leaf is gathered right behind its domain tag and hashed where
 * it lies (no copy per leaf), synchronously where sha256 is (Node; no microtask per leaf).
 */
export class MerkleAccumulator {
  readonly #leafBytes: number
  /** [MERKLE_LEAF_TAG, leaf bytes...] */
  readonly #tagged: Uint8Array
  #filled = 0
  readonly #hashes: Uint8Array[] = []

  constructor(leafBytes = MERKLE_LEAF_BYTES) {
    this.#leafBytes = leafBytes
    this.#tagged = new Uint8Array(1 + leafBytes)
    this.#tagged[0] = MERKLE_LEAF_TAG
  }

  async update(chunk: Uint8Array): Promise<void> {
    let offset = 0
    while (offset < chunk.byteLength) {
      const take = Math.min(chunk.byteLength - offset, this.#leafBytes - this.#filled)
      this.#tagged.set(chunk.subarray(offset, offset + take), 1 + this.#filled)
      this.#filled += take
      offset += take
      if (this.#filled === this.#leafBytes) {
        const hash = this.#hashLeaf()
        this.#hashes.push(hash instanceof Uint8Array ? hash : await hash)
        this.#filled = 0
      }
    }
  }

  /** The base64url root of everything passed to `update`; an empty piece has one empty leaf. */
  async root(): Promise<string> {
    const hashes = [...this.#hashes]
    if (this.#filled > 0 || hashes.length === 0) hashes.push(await this.#hashLeaf())
    return toBase64Url(await merkleRootFromLeafHashes(hashes))
  }

  #hashLeaf(): Uint8Array | Promise<Uint8Array> {
    return sha256.encode(this.#tagged.subarray(0, 1 + this.#filled))
  }
}
