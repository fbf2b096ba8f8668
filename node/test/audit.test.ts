import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import {
  ErrorCode,
  fromBase64Url,
  KiB,
  MERKLE_LEAF_BYTES,
  merkleLeafCount,
  merkleRoot,
  PROTOCOL_AUDIT,
  runAudit
} from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { shardOf } from '../src/piece-store.ts'
import {
  expectOk,
  type NodeFixture,
  openStream,
  type Piece,
  put,
  randomPiece,
  startClient,
  startNode,
  Teardown
} from './helpers.ts'

const teardown = new Teardown()
let fx: NodeFixture
let client: Libp2p

beforeAll(async () => {
  fx = await startNode(teardown.defer, { capacity: 64 * 1024 * 1024 })
  client = await startClient(teardown.defer)
})
afterAll(() => teardown.run())

async function store(size: number): Promise<Piece & { root: Uint8Array }> {
  const piece = await randomPiece(size)
  expectOk(await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes }))
  return { ...piece, root: fromBase64Url(await merkleRoot(piece.bytes)) }
}

async function audit(piece: Piece & { root: Uint8Array }, leaves: number[], grant?: string): Promise<number[]> {
  const stream = await openStream(client, fx.node, PROTOCOL_AUDIT)
  return runAudit(stream, {
    grant: grant ?? (await fx.grant('audit', piece.id, { leaves })),
    piece: piece.id,
    leaves,
    root: piece.root,
    pieceSize: piece.bytes.byteLength
  })
}

/** Flips one bit of the stored file, as a failing disk would. */
async function flipOnDisk(piece: Piece, offset: number): Promise<void> {
  const file = await open(join(fx.dir, 'pieces', shardOf(piece.id), piece.id), 'r+')
  try {
    const byte = Buffer.alloc(1)
    await file.read(byte, 0, 1, offset)
    byte[0] = (byte[0] as number) ^ 0x10
    await file.write(byte, 0, 1, offset)
  } finally {
    await file.close()
  }
}

describe('audit protocol', () => {
  it('answers challenged leaves with proofs that verify against the root, reading only those leaves later', async () => {
    const piece = await store(300 * KiB + 123)
    const count = merkleLeafCount(piece.bytes.byteLength)
    expect(await audit(piece, [0, count - 1, 7, 3])).toEqual([])
    const before = fx.node.stats.audits
    expect(before.treesBuilt).toBeGreaterThanOrEqual(1)
    expect(await audit(piece, [5, 6])).toEqual([])
    const after = fx.node.stats.audits
    // The tree is cached: the second audit read two leaves and built nothing.
    expect(after.treesBuilt).toBe(before.treesBuilt)
    expect(after.bytesRead - before.bytesRead).toBe(2 * MERKLE_LEAF_BYTES)
  })

  it('catches a flipped byte on disk in the challenged leaf, and every leaf once the tree is rebuilt', async () => {
    const piece = await store(200 * KiB)
    expect(await audit(piece, [0, 1, 2])).toEqual([])
    await flipOnDisk(piece, 4 * MERKLE_LEAF_BYTES + 99)
    expect(await audit(piece, [4])).toEqual([4])
    expect(await audit(piece, [1, 4, 9])).toEqual([4])

    // Rotted before its first audit: the tree is built over bad bytes, so every leaf's path misses the root.
    const fresh = await store(100 * KiB)
    await flipOnDisk(fresh, 2 * MERKLE_LEAF_BYTES + 1)
    expect(await audit(fresh, [0, 5])).toEqual([0, 5])
  })

  it('refuses a replayed grant, a get grant, a grant for another piece, an unknown piece and a leaf past the end', async () => {
    const piece = await store(40 * KiB)
    const grant = await fx.grant('audit', piece.id, { leaves: [0] })
    expect(await audit(piece, [0], grant)).toEqual([])
    await expect(audit(piece, [0], grant)).rejects.toMatchObject({ code: ErrorCode.GRANT_REPLAYED })
    await expect(audit(piece, [0], await fx.grant('get', piece.id))).rejects.toMatchObject({
      code: ErrorCode.GRANT_WRONG_KIND
    })
    // An audit grant must carry its challenge.
    await expect(audit(piece, [0], await fx.grant('audit', piece.id))).rejects.toMatchObject({
      code: ErrorCode.GRANT_INVALID
    })
    const other = await store(10 * KiB)
    await expect(audit(piece, [0], await fx.grant('audit', other.id, { leaves: [0] }))).rejects.toMatchObject({
      code: ErrorCode.GRANT_WRONG_PIECE
    })
    const missing = await randomPiece(1000)
    await expect(
      audit({ ...missing, root: piece.root }, [0], await fx.grant('audit', missing.id, { leaves: [0] }))
    ).rejects.toMatchObject({ code: ErrorCode.PIECE_NOT_FOUND })
    await expect(audit(piece, [3])).rejects.toMatchObject({ code: ErrorCode.INVALID_INPUT })
  })

  it('a wrong root (the tracker recorded another piece) fails every leaf', async () => {
    const piece = await store(50 * KiB)
    const other = await randomPiece(50 * KiB)
    const root = fromBase64Url(await merkleRoot(other.bytes))
    expect(await audit({ ...piece, root }, [0, 2])).toEqual([0, 2])
  })
})
