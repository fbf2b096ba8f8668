import { describe, expect, it } from 'vitest'
import {
  auditBodyLength,
  concat,
  encodeAuditPaths,
  fromBase64Url,
  MERKLE_LEAF_BYTES,
  MerkleAccumulator,
  merkleLeafCount,
  merkleLeafHashes,
  merkleLeafRange,
  merkleProofs,
  merkleRoot,
  merkleRootFromLeafHashes,
  parseAuditResponse,
  parseMerkleRoot,
  randomBytes,
  verifyAuditLeaves,
  verifyMerkleProof
} from '../src/index.ts'

const LEAF = 64

async function proveAll(bytes: Uint8Array, leafBytes = LEAF) {
  const hashes = await merkleLeafHashes(bytes, leafBytes)
  const root = await merkleRootFromLeafHashes(hashes)
  const indexes = hashes.map((_, i) => i)
  return { hashes, root, paths: await merkleProofs(hashes, indexes) }
}

describe('Merkle tree over piece leaves', () => {
  it('counts leaves and ranges, one empty leaf for an empty piece', () => {
    expect(merkleLeafCount(0)).toBe(1)
    expect(merkleLeafCount(1)).toBe(1)
    expect(merkleLeafCount(MERKLE_LEAF_BYTES)).toBe(1)
    expect(merkleLeafCount(MERKLE_LEAF_BYTES + 1)).toBe(2)
    expect(merkleLeafRange(100, 1, 64)).toEqual({ offset: 64, length: 36 })
  })

  it('proves every leaf of trees of every shape (odd levels carried up)', async () => {
    for (const size of [0, 1, 63, 64, 65, 64 * 3, 64 * 5 + 7, 64 * 8, 64 * 13 + 1]) {
      const bytes = randomBytes(size)
      const { hashes, root, paths } = await proveAll(bytes)
      expect(toB64(root)).toBe(await merkleRoot(bytes, LEAF))
      for (let i = 0; i < hashes.length; i++) {
        const { offset, length } = merkleLeafRange(size, i, LEAF)
        const leaf = bytes.subarray(offset, offset + length)
        expect(await verifyMerkleProof(root, hashes.length, i, leaf, paths[i] ?? [])).toBe(true)
      }
    }
  })

  it('rejects a flipped byte, a wrong index, a short or long path and a wrong leaf count', async () => {
    const bytes = randomBytes(64 * 6 + 10)
    const { hashes, root, paths } = await proveAll(bytes)
    const leaf = bytes.slice(128, 192)
    const path = paths[2] ?? []
    expect(await verifyMerkleProof(root, hashes.length, 2, leaf, path)).toBe(true)
    const flipped = leaf.slice()
    flipped[17] = (flipped[17] as number) ^ 1
    expect(await verifyMerkleProof(root, hashes.length, 2, flipped, path)).toBe(false)
    expect(await verifyMerkleProof(root, hashes.length, 3, leaf, path)).toBe(false)
    expect(await verifyMerkleProof(root, hashes.length, 2, leaf, path.slice(1))).toBe(false)
    expect(await verifyMerkleProof(root, hashes.length, 2, leaf, [...path, path[0] as Uint8Array])).toBe(false)
    expect(await verifyMerkleProof(root, hashes.length + 9, 2, leaf, path)).toBe(false)
    expect(await verifyMerkleProof(root, hashes.length, -1, leaf, path)).toBe(false)
  })

  it('a leaf cannot be passed off as an inner node (domain separation)', async () => {
    const bytes = randomBytes(64 * 4)
    const { hashes, root } = await proveAll(bytes)
    // The concatenation of two leaf hashes as a "leaf" of a 2-leaf tree must not reproduce the root.
    const fake = concat([hashes[0] as Uint8Array, hashes[1] as Uint8Array])
    const { root: fakeRoot } = await proveAll(concat([fake, fake]))
    expect(toB64(fakeRoot)).not.toBe(toB64(root))
  })

  it('parses roots strictly', () => {
    expect(parseMerkleRoot(toB64(new Uint8Array(32))).byteLength).toBe(32)
    expect(() => parseMerkleRoot('abc')).toThrow(/32 bytes/)
    expect(() => parseMerkleRoot(42)).toThrow(/32 bytes/)
  })
})

describe('audit answers', () => {
  it('verifies challenged leaves from a header and a body, and names the corrupt one', async () => {
    const pieceSize = 64 * 9 + 5
    const bytes = randomBytes(pieceSize)
    const { hashes, root } = await proveAll(bytes)
    const leaves = [8, 0, 3, 9]
    const expect_ = { pieceSize, leafBytes: LEAF, leaves }
    const header = { ok: true, pieceSize, leafBytes: LEAF, paths: encodeAuditPaths(await merkleProofs(hashes, leaves)) }
    const body = concat(
      leaves.map((l) => {
        const { offset, length } = merkleLeafRange(pieceSize, l, LEAF)
        return bytes.subarray(offset, offset + length)
      })
    )
    const parsed = parseAuditResponse(header, expect_)
    expect(parsed.bodyLength).toBe(auditBodyLength(pieceSize, LEAF, leaves))
    expect(parsed.bodyLength).toBe(body.byteLength)
    expect(await verifyAuditLeaves(root, expect_, parsed.paths, body)).toEqual([])
    const bad = body.slice()
    bad[LEAF + 3] = (bad[LEAF + 3] as number) ^ 0x80 // inside leaf 0, the second challenged
    expect(await verifyAuditLeaves(root, expect_, parsed.paths, bad)).toEqual([0])
  })

  it('refuses malformed headers with ERR_PROTOCOL', () => {
    const expect_ = { pieceSize: 640, leafBytes: LEAF, leaves: [1, 2] }
    expect(() => parseAuditResponse({ pieceSize: 641, leafBytes: LEAF, paths: [[], []] }, expect_)).toThrow(
      /piece size/
    )
    expect(() => parseAuditResponse({ pieceSize: 640, leafBytes: 32, paths: [[], []] }, expect_)).toThrow(/leaf size/)
    expect(() => parseAuditResponse({ pieceSize: 640, leafBytes: LEAF, paths: [[]] }, expect_)).toThrow(/one path/)
    expect(() => parseAuditResponse({ pieceSize: 640, leafBytes: LEAF, paths: [['xx'], []] }, expect_)).toThrow(
      /32 bytes/
    )
  })
})

function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

// fromBase64Url is the inverse the tracker uses on recorded roots.
it('roots round-trip through base64url', async () => {
  const root = await merkleRoot(randomBytes(1000))
  expect(fromBase64Url(root).byteLength).toBe(32)
})

describe('MerkleAccumulator', () => {
  it('gives the same root as merkleRoot, whatever the chunking', async () => {
    for (const size of [0, 1, MERKLE_LEAF_BYTES - 1, MERKLE_LEAF_BYTES, 3 * MERKLE_LEAF_BYTES + 5, 2 * 1024 * 1024]) {
      const bytes = randomBytes(size)
      const acc = new MerkleAccumulator()
      let at = 0
      let step = 1
      while (at < size) {
        await acc.update(bytes.subarray(at, Math.min(size, at + step)))
        at += step
        step = (step * 7 + 3) % 40_000 || 1
      }
      expect(await acc.root()).toBe(await merkleRoot(bytes))
    }
  })
})
