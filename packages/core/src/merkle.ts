import { sha256 } from 'multiformats/hashes/sha2'
import { equalBytes, fromBase64Url, toBase64Url } from './bytes.ts'
import { KiB } from './constants.ts'
import { ErrorCode, ShoalError } from './errors.ts'

/**
 * Proof of storage without the tracker holding data: a binary Merkle tree over fixed-size leaves of a piece.
 * The client computes the root while it encodes (it has the bytes anyway) and the tracker records it beside
 * the piece CID; an audit asks a node for a few random leaves with their paths, which the tracker checks
 * against the root alone.
 *
 * 16 KiB leaves: a 2 MiB piece has 128 leaves and 7-hash paths; a challenge costs one leaf of disk and
 * bandwidth. Smaller leaves make each challenge cheaper but the root costlier in the browser, where every
 * hash is an await.
 */
export const MERKLE_LEAF_BYTES = 16 * KiB
export const MERKLE_HASH_BYTES = 32

// Domain separation: a leaf can never be passed off as an inner node (second-preimage attacks on the tree).
export const MERKLE_LEAF_TAG = 0
const LEAF_TAG = MERKLE_LEAF_TAG
const NODE_TAG = 1

/** Leaves of a piece of `size` bytes; an empty piece still has one (empty) leaf. */
export function merkleLeafCount(size: number, leafBytes = MERKLE_LEAF_BYTES): number {
  return Math.max(1, Math.ceil(size / leafBytes))
}

/** Byte range of leaf `index` in a piece of `size` bytes. */
export function merkleLeafRange(
  size: number,
  index: number,
  leafBytes = MERKLE_LEAF_BYTES
): { offset: number; length: number } {
  const offset = index * leafBytes
  return { offset, length: Math.max(0, Math.min(leafBytes, size - offset)) }
}

/** sha256 is synchronous in Node (native) and a promise in browsers (WebCrypto); both are awaited the same way. */
async function hashTagged(tag: number, ...parts: Uint8Array[]): Promise<Uint8Array> {
  let length = 1
  for (const p of parts) length += p.byteLength
  const input = new Uint8Array(length)
  input[0] = tag
  let offset = 1
  for (const p of parts) {
    input.set(p, offset)
    offset += p.byteLength
  }
  return sha256.encode(input)
}

export function merkleLeafHash(leaf: Uint8Array): Promise<Uint8Array> {
  return hashTagged(LEAF_TAG, leaf)
}

function merkleNodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return hashTagged(NODE_TAG, left, right)
}

/** Leaf hashes of a whole piece in memory. */
export async function merkleLeafHashes(bytes: Uint8Array, leafBytes = MERKLE_LEAF_BYTES): Promise<Uint8Array[]> {
  const count = merkleLeafCount(bytes.byteLength, leafBytes)
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const { offset, length } = merkleLeafRange(bytes.byteLength, i, leafBytes)
    out.push(await merkleLeafHash(bytes.subarray(offset, offset + length)))
  }
  return out
}

/**
 * Every level of the tree, leaves first, root last. A level with an odd count carries its last hash up
 * unchanged (rather than pairing it with itself, which would let two different leaf lists share a root).
 */
async function merkleLevels(leafHashes: readonly Uint8Array[]): Promise<Uint8Array[][]> {
  if (leafHashes.length === 0) throw new TypeError('a Merkle tree needs at least one leaf')
  const levels: Uint8Array[][] = [[...leafHashes]]
  for (let level = levels[0] as Uint8Array[]; level.length > 1; ) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Uint8Array
      const right = level[i + 1]
      next.push(right === undefined ? left : await merkleNodeHash(left, right))
    }
    levels.push(next)
    level = next
  }
  return levels
}

export async function merkleRootFromLeafHashes(leafHashes: readonly Uint8Array[]): Promise<Uint8Array> {
  const levels = await merkleLevels(leafHashes)
  return (levels.at(-1) as Uint8Array[])[0] as Uint8Array
}

/** The root of a piece, base64url: what the client sends with the piece CID and the tracker records. */
export async function merkleRoot(bytes: Uint8Array, leafBytes = MERKLE_LEAF_BYTES): Promise<string> {
  const sync = merkleRootSync(bytes, leafBytes)
  if (sync !== undefined) return toBase64Url(sync)
  return toBase64Url(await merkleRootFromLeafHashes(await merkleLeafHashes(bytes, leafBytes)))
}

/**
 * The same root without a microtask per hash, where sha256 is synchronous (Node); undefined where it is not
 * (browsers). Every piece of an upload goes through here, so the awaits would add up.
 */
function merkleRootSync(bytes: Uint8Array, leafBytes: number): Uint8Array | undefined {
  const count = merkleLeafCount(bytes.byteLength, leafBytes)
  const scratch = new Uint8Array(1 + Math.max(leafBytes, 2 * MERKLE_HASH_BYTES))
  const hash = (tag: number, a: Uint8Array, b?: Uint8Array): Uint8Array | undefined => {
    scratch[0] = tag
    scratch.set(a, 1)
    if (b !== undefined) scratch.set(b, 1 + a.byteLength)
    const out = sha256.encode(scratch.subarray(0, 1 + a.byteLength + (b?.byteLength ?? 0)))
    return out instanceof Uint8Array ? out : undefined
  }
  let level: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const { offset, length } = merkleLeafRange(bytes.byteLength, i, leafBytes)
    const h = hash(LEAF_TAG, bytes.subarray(offset, offset + length))
    if (h === undefined) return undefined
    level.push(h)
  }
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      next.push(
        right === undefined ? (level[i] as Uint8Array) : (hash(NODE_TAG, level[i] as Uint8Array, right) as Uint8Array)
      )
    }
    level = next
  }
  return level[0]
}

/**
 * Sibling hashes from leaf `index` up to the root (levels where the node has no sibling contribute nothing),
 * for each of `indexes`. The tree is built once for all of them.
 */
export async function merkleProofs(
  leafHashes: readonly Uint8Array[],
  indexes: readonly number[]
): Promise<Uint8Array[][]> {
  const levels = await merkleLevels(leafHashes)
  return indexes.map((leaf) => {
    if (!Number.isInteger(leaf) || leaf < 0 || leaf >= leafHashes.length) {
      throw new RangeError(`leaf ${leaf} is outside a tree of ${leafHashes.length} leaves`)
    }
    const path: Uint8Array[] = []
    let i = leaf
    for (const level of levels.slice(0, -1)) {
      const sibling = level[i ^ 1]
      if (sibling !== undefined) path.push(sibling)
      i >>= 1
    }
    return path
  })
}

/**
 * Checks a leaf and its path against a root, for a piece of `leafCount` leaves. The verifier knows the
 * piece size, hence the tree shape: the path must have exactly the length that shape gives.
 */
export async function verifyMerkleProof(
  root: Uint8Array,
  leafCount: number,
  index: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[]
): Promise<boolean> {
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) return false
  let hash = await merkleLeafHash(leaf)
  let i = index
  let width = leafCount
  let used = 0
  while (width > 1) {
    const hasSibling = (i ^ 1) < width
    if (hasSibling) {
      const sibling = path[used++]
      if (sibling === undefined || sibling.byteLength !== MERKLE_HASH_BYTES) return false
      hash = i % 2 === 0 ? await merkleNodeHash(hash, sibling) : await merkleNodeHash(sibling, hash)
    }
    i >>= 1
    width = Math.ceil(width / 2)
  }
  return used === path.length && equalBytes(hash, root)
}

/** Parses a base64url root from untrusted input. */
export function parseMerkleRoot(text: unknown): Uint8Array {
  let bytes: Uint8Array | undefined
  if (typeof text === 'string' && text.length <= 64) {
    try {
      bytes = fromBase64Url(text)
    } catch {
      bytes = undefined
    }
  }
  if (bytes === undefined || bytes.byteLength !== MERKLE_HASH_BYTES) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'a Merkle root must be 32 bytes in base64url')
  }
  return bytes
}
