import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ErrorCode, KiB } from '@shoal/core'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { PieceStore, type PieceStoreInit, shardOf } from '../src/piece-store.ts'
import { type Defer, expectBytes, randomPiece, Teardown, tempDir } from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

async function openStore(defer: Defer, dir: string, init: Partial<PieceStoreInit> = {}): Promise<PieceStore> {
  const db = new Level<string, string>(join(dir, 'index'))
  await db.open()
  defer(() => db.close())
  const store = new PieceStore({ dir, db, ...init })
  await store.open()
  return store
}

async function* chunks(bytes: Uint8Array, size = 64 * KiB): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
}

/** A body that stops part-way until released: keeps a put in flight. */
function gated(bytes: Uint8Array, at: number): { source: AsyncGenerator<Uint8Array>; release: () => void } {
  let release = (): void => undefined
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  return {
    release,
    source: (async function* () {
      yield bytes.subarray(0, at)
      await gate
      yield bytes.subarray(at)
    })()
  }
}

async function readAll(store: PieceStore, piece: { cid: import('@shoal/core').CID }): Promise<Uint8Array> {
  const reader = await store.openReader(piece.cid)
  try {
    const parts: Uint8Array[] = []
    for await (const slice of reader.slices(0, reader.size, 100 * KiB)) parts.push(slice)
    return Buffer.concat(parts)
  } finally {
    await reader.close()
  }
}

describe('PieceStore', () => {
  it('stores pieces in sharded folders named by CID and reads them back', async () => {
    const dir = await tempDir(teardown.defer)
    const store = await openStore(teardown.defer, dir)
    const piece = await randomPiece(300 * KiB)
    expect(await store.put(piece.cid, piece.bytes.byteLength, chunks(piece.bytes))).toEqual({
      existed: false,
      size: piece.bytes.byteLength
    })
    expect(await readdir(join(dir, 'pieces', shardOf(piece.id)))).toEqual([piece.id])
    expect(shardOf(piece.id)).toHaveLength(2)
    expectBytes(await readAll(store, piece), piece.bytes)
    expect(store.stats).toMatchObject({ used: piece.bytes.byteLength, pieces: 1, reserved: 0 })
    expect(await store.stat(piece.cid)).toMatchObject({ size: piece.bytes.byteLength })
  })

  it('books capacity before writing, so concurrent puts cannot overshoot it', async () => {
    const dir = await tempDir(teardown.defer)
    const store = await openStore(teardown.defer, dir, { capacity: 1000 * KiB })
    const pieces = await Promise.all([randomPiece(400 * KiB), randomPiece(400 * KiB), randomPiece(400 * KiB)])
    const gates = pieces.map((p) => gated(p.bytes, 100 * KiB))
    const puts = pieces.map((p, i) =>
      store.put(p.cid, p.bytes.byteLength, (gates[i] as ReturnType<typeof gated>).source)
    )
    const settled = Promise.allSettled(puts)
    for (const g of gates) g.release()
    const results = await settled
    const failed = results.filter((r) => r.status === 'rejected')
    expect(failed).toHaveLength(1)
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({ code: ErrorCode.NODE_FULL })
    expect(store.stats).toMatchObject({ used: 800 * KiB, pieces: 2, reserved: 0 })
    expect(await readdir(join(dir, 'tmp'))).toEqual([])
  })

  it('counts a write in progress as reserved and releases it when the body falls short', async () => {
    const dir = await tempDir(teardown.defer)
    const store = await openStore(teardown.defer, dir, { capacity: 1000 * KiB })
    const piece = await randomPiece(600 * KiB)
    const short = piece.bytes.subarray(0, 500 * KiB)
    const g = gated(short, 100 * KiB)
    const put = store.put(piece.cid, piece.bytes.byteLength, g.source)
    put.catch(() => undefined)
    await expect.poll(() => store.stats.reserved).toBe(600 * KiB)
    expect(await store.free()).toBe(400 * KiB)
    g.release()
    await expect(put).rejects.toMatchObject({ code: ErrorCode.TRUNCATED })
    expect(store.stats).toMatchObject({ used: 0, reserved: 0, pieces: 0 })
    expect(await readdir(join(dir, 'tmp'))).toEqual([])
  })

  it('refuses bytes that do not hash to the CID and keeps nothing', async () => {
    const dir = await tempDir(teardown.defer)
    const store = await openStore(teardown.defer, dir)
    const piece = await randomPiece(200 * KiB)
    const other = await randomPiece(200 * KiB)
    await expect(store.put(piece.cid, other.bytes.byteLength, chunks(other.bytes))).rejects.toMatchObject({
      code: ErrorCode.PIECE_CORRUPT
    })
    expect(await store.has(piece.cid)).toBe(false)
    expect(store.stats).toMatchObject({ used: 0, reserved: 0 })
    expect(await readdir(join(dir, 'tmp'))).toEqual([])
    expect(await readdir(join(dir, 'pieces'))).toEqual([])
  })

  it('frees space on delete and reports whether the piece was there', async () => {
    const dir = await tempDir(teardown.defer)
    const store = await openStore(teardown.defer, dir)
    const piece = await randomPiece(10 * KiB)
    await store.put(piece.cid, piece.bytes.byteLength, chunks(piece.bytes))
    expect(await store.delete(piece.cid)).toBe(true)
    expect(await store.delete(piece.cid)).toBe(false)
    expect(store.stats).toMatchObject({ used: 0, pieces: 0 })
    await expect(store.openReader(piece.cid)).rejects.toMatchObject({ code: ErrorCode.PIECE_NOT_FOUND })
  })

  it('on open, makes index and files agree after a crash', async () => {
    const dir = await tempDir(teardown.defer)
    const first = new Teardown()
    const store = await openStore(first.defer, dir)
    const [kept, lost, resized] = await Promise.all([
      randomPiece(10 * KiB),
      randomPiece(20 * KiB),
      randomPiece(30 * KiB)
    ])
    for (const p of [kept, lost, resized]) await store.put(p.cid, p.bytes.byteLength, chunks(p.bytes))
    await first.run()

    // A piece file vanished; another was cut short; a renamed-but-never-indexed file and partial writes remain.
    await unlink(join(dir, 'pieces', shardOf(lost.id), lost.id))
    await writeFile(join(dir, 'pieces', shardOf(resized.id), resized.id), resized.bytes.subarray(0, 100))
    const orphan = await randomPiece(5 * KiB)
    await mkdir(join(dir, 'pieces', shardOf(orphan.id)), { recursive: true })
    await writeFile(join(dir, 'pieces', shardOf(orphan.id), orphan.id), orphan.bytes)
    await writeFile(join(dir, 'tmp', `${kept.id}.partial.tmp`), 'half a piece')

    const reopened = await openStore(teardown.defer, dir)
    expect(reopened.stats).toMatchObject({ pieces: 1, used: kept.bytes.byteLength })
    expect(await reopened.has(lost.cid)).toBe(false)
    expect(await reopened.has(resized.cid)).toBe(false)
    expect(await reopened.has(orphan.cid)).toBe(false)
    expect(await readdir(join(dir, 'pieces', shardOf(orphan.id)))).not.toContain(orphan.id)
    expect(await readdir(join(dir, 'tmp'))).toEqual([])
    expectBytes(await readAll(reopened, kept), kept.bytes)
    const listed: string[] = []
    for await (const cid of reopened.list()) listed.push(cid.toString())
    expect(listed).toEqual([kept.id])
  })
})
