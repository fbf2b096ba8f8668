import { toBase64Url } from './bytes.ts'
import { MERKLE_LEAF_BYTES, merkleLeafHash, merkleRootFromLeafHashes } from './merkle.ts'

/**
 * The Merkle root of a piece computed as its bytes stream past, holding one leaf at a time: a node computes
 * the root of every piece it stores this way and signs it in its put receipt (receipt.ts), so the root the
 * tracker audits against is the node's own statement about the bytes it holds, never a client's claim.
 * Same tree as `merkleRoot` (merkle.ts).
 */
export class MerkleAccumulator {
  readonly #leafBytes: number
  readonly #leaf: Uint8Array
  #filled = 0
  readonly #hashes: Uint8Array[] = []

  constructor(leafBytes = MERKLE_LEAF_BYTES) {
    this.#leafBytes = leafBytes
    this.#leaf = new Uint8Array(leafBytes)
  }

  async update(chunk: Uint8Array): Promise<void> {
    let offset = 0
    while (offset < chunk.byteLength) {
      const take = Math.min(chunk.byteLength - offset, this.#leafBytes - this.#filled)
      this.#leaf.set(chunk.subarray(offset, offset + take), this.#filled)
      this.#filled += take
      offset += take
      if (this.#filled === this.#leafBytes) {
        this.#hashes.push(await merkleLeafHash(this.#leaf))
        this.#filled = 0
      }
    }
  }

  /** The base64url root of everything passed to `update`; an empty piece has one empty leaf. */
  async root(): Promise<string> {
    const hashes = [...this.#hashes]
    if (this.#filled > 0 || hashes.length === 0) hashes.push(await merkleLeafHash(this.#leaf.subarray(0, this.#filled)))
    return toBase64Url(await merkleRootFromLeafHashes(hashes))
  }
}
