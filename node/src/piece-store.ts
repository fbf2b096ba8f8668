import { createHash, randomUUID } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { type CID, ErrorCode, equalBytes, parsePieceCid, ShoalError } from '@shoal/core'
import type { Level } from 'level'
import { type Logger, pino } from 'pino'
import { DEFAULT_CAPACITY, WRITE_BLOCK_BYTES } from './constants.ts'

/** What the index keeps per piece: the file is the data, this is the bookkeeping. */
export interface PieceRecord {
  size: number
  storedAt: number
  /**
   * The objects (uploads) the piece was stored for, from the put grants' `obj`. A delete grant releases one of
   * them; the file goes when none is left. Absent on pieces stored before this existed: delete grants never
   * remove those (only the tracker-signed retain list does, retain-sweeper.ts).
   */
  refs?: string[]
}

/** What releasing one object's hold on a piece did. */
export interface ReleaseResult {
  /** The piece was stored here. */
  existed: boolean
  /** The object held the piece and no longer does. */
  released: boolean
  /** The file is gone: no object holds it any more. */
  deleted: boolean
}

export interface PieceStoreInit {
  /** The node's data folder: pieces go to `pieces/`, partial writes to `tmp/`. */
  dir: string
  /** The node's level database; the store keeps its index in the `pieces` sublevel. */
  db: Level<string, string>
  /** Most bytes of pieces stored, counting writes in progress. */
  capacity?: number
  logger?: Logger
}

export interface PieceStoreStats {
  capacity: number
  /** Bytes of stored pieces. */
  used: number
  /** Bytes promised to writes in progress. */
  reserved: number
  pieces: number
}

export interface PutResult {
  /** True when the piece was already stored: the body was verified and dropped. */
  existed: boolean
  size: number
}

/** An opened piece file: ranges are read from it even if the piece is deleted meanwhile. */
export interface PieceReader {
  readonly size: number
  /** Reads [offset, offset + length) in fresh buffers of at most `sliceSize` (callers may keep them). */
  slices(offset: number, length: number, sliceSize: number): AsyncGenerator<Uint8Array>
  close(): Promise<void>
}

function openIndex(db: Level<string, string>) {
  return db.sublevel<string, PieceRecord>('pieces', { valueEncoding: 'json' })
}
type PieceIndex = ReturnType<typeof openIndex>

/**
 * Shard folder for a piece. Every piece CID starts with the same prefix ('bafkrei'), so the shard comes from
 * the end; the very last character of a 36-byte CID in base32 carries only 3 bits, so it uses the two before
 * it: 1,024 folders of evenly spread names.
 */
export function shardOf(cid: string): string {
  return cid.slice(-3, -1)
}

/** Holder of a piece stored before pieces had owners: no delete grant names it. */
const LEGACY_REF = '(legacy)'

const isNotFound = (err: unknown): boolean => (err as { code?: unknown }).code === 'ENOENT'
const isDiskFull = (err: unknown): boolean => {
  const code = (err as { code?: unknown }).code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/**
 * Pieces as files in sharded folders, written to a temporary name while streaming, hashed as they arrive,
 * fsynced and renamed into place, with an index in level. Capacity is booked before a byte is written, so
 * concurrent puts can never overshoot it. Piece ids reach this class only as parsed CIDs, so a path is always
 * `pieces/<2 chars>/<canonical CID>`.
 */
export class PieceStore {
  readonly #piecesDir: string
  readonly #tmpDir: string
  readonly #index: PieceIndex
  readonly #capacity: number
  readonly #log: Logger
  #used = 0
  #count = 0
  #reserved = 0
  /** Bytes reserved but not yet written: what statfs does not see yet. */
  #unwritten = 0
  /** Serialises commit and delete of one piece; holds only operations in flight. */
  readonly #locks = new Map<string, Promise<void>>()
  #opened = false

  constructor(init: PieceStoreInit) {
    this.#piecesDir = join(init.dir, 'pieces')
    this.#tmpDir = join(init.dir, 'tmp')
    this.#index = openIndex(init.db)
    this.#capacity = init.capacity ?? DEFAULT_CAPACITY
    this.#log = init.logger ?? pino({ level: 'silent' })
  }

  get stats(): PieceStoreStats {
    return { capacity: this.#capacity, used: this.#used, reserved: this.#reserved, pieces: this.#count }
  }

  /**
   * Prepares the folders and makes index and files agree after any crash: removes partial writes, drops index
   * entries whose file is gone or has the wrong size, and removes piece files the index does not know (a crash
   * between rename and index write: no receipt was ever given for them, so nobody references them).
   */
  async open(): Promise<void> {
    if (this.#opened) return
    await mkdir(this.#piecesDir, { recursive: true })
    await rm(this.#tmpDir, { recursive: true, force: true })
    await mkdir(this.#tmpDir, { recursive: true })

    let used = 0
    let count = 0
    const stale: string[] = []
    for await (const [key, record] of this.#index.iterator()) {
      let size: number | undefined
      try {
        size = (await stat(this.#path(key))).size
      } catch (err) {
        if (!isNotFound(err)) throw err
      }
      if (size === record.size) {
        used += size
        count++
      } else {
        this.#log.warn({ piece: key, indexed: record.size, onDisk: size ?? null }, 'dropping inconsistent index entry')
        stale.push(key)
        if (size !== undefined) await unlink(this.#path(key)).catch(() => undefined)
      }
    }
    for (let i = 0; i < stale.length; i += 1000) {
      await this.#index.batch(stale.slice(i, i + 1000).map((key) => ({ type: 'del' as const, key })))
    }

    for (const shard of await readdir(this.#piecesDir)) {
      let names: string[]
      try {
        names = await readdir(join(this.#piecesDir, shard))
      } catch {
        continue
      }
      for (const name of names) {
        let cid: CID
        try {
          cid = parsePieceCid(name)
        } catch {
          this.#log.warn({ file: join(this.#piecesDir, shard, name) }, 'ignoring a file that is not a piece')
          continue
        }
        const key = cid.toString()
        if (shardOf(key) === shard && (await this.#index.get(key)) !== undefined) continue
        this.#log.warn({ piece: key }, 'removing a piece file the index does not know')
        await unlink(join(this.#piecesDir, shard, name)).catch(() => undefined)
      }
    }
    this.#used = used
    this.#count = count
    this.#opened = true
    this.#log.info({ pieces: count, used, capacity: this.#capacity }, 'piece store open')
  }

  async has(cid: CID): Promise<boolean> {
    return (await this.stat(cid)) !== undefined
  }

  async stat(cid: CID): Promise<PieceRecord | undefined> {
    const record = await this.#index.get(cid.toString())
    return record ?? undefined
  }

  /** Stored piece ids, in index order; streams, so memory does not grow with the number of pieces. */
  async *list(options?: { signal?: AbortSignal }): AsyncGenerator<CID> {
    for await (const key of this.#index.keys()) {
      options?.signal?.throwIfAborted()
      yield parsePieceCid(key)
    }
  }

  /** Bytes the store can still take: capacity left, bounded by the disk's free space. */
  async free(): Promise<number> {
    const left = Math.max(0, this.#capacity - this.#used - this.#reserved)
    return Math.min(left, Math.max(0, (await this.#diskFree()) - this.#unwritten))
  }

  /**
   * Streams a piece of `size` bytes to disk and checks it against its CID. Exactly `size` bytes must come from
   * `source`. A piece already stored is verified and dropped (idempotent put). Errors: ERR_NODE_FULL or
   * ERR_DISK_FULL before anything is written, ERR_DISK_FULL when the disk fills up while writing,
   * ERR_PIECE_CORRUPT on a hash mismatch, ERR_TRUNCATED on a short body. Nothing partial is ever kept.
   */
  async put(
    cid: CID,
    size: number,
    source: AsyncIterable<Uint8Array>,
    options: { signal?: AbortSignal; ref?: string; onChunk?: (chunk: Uint8Array) => Promise<void> | void } = {}
  ): Promise<PutResult> {
    this.#assertOpen()
    const key = cid.toString()
    const { ref, onChunk } = options
    if ((await this.#index.get(key)) !== undefined) {
      await this.#verifyOnly(cid, size, source, onChunk)
      if (ref !== undefined && !(await this.#addRef(key, ref))) {
        // Deleted while the body was checked: store it again (the bytes are gone, so the caller retries).
        throw new ShoalError(ErrorCode.CONFLICT, `piece ${key} was deleted while it was stored again`)
      }
      return { existed: true, size }
    }

    // Book the bytes synchronously, before any await: two puts racing for the last free bytes cannot both pass.
    if (this.#used + this.#reserved + size > this.#capacity) {
      throw new ShoalError(ErrorCode.NODE_FULL, `node is full: ${size} more bytes would exceed its capacity`, {
        details: { capacity: this.#capacity, used: this.#used, reserved: this.#reserved }
      })
    }
    this.#reserved += size
    this.#unwritten += size
    let unwritten = size
    const tmp = join(this.#tmpDir, `${key}.${randomUUID()}.tmp`)
    let file: FileHandle | undefined
    let kept = false
    try {
      const diskFree = await this.#diskFree()
      if (diskFree - (this.#unwritten - size) < size) {
        throw new ShoalError(ErrorCode.DISK_FULL, `disk is full: ${size} bytes do not fit in ${diskFree} free`)
      }
      file = await open(tmp, 'wx', 0o644)
      const hash = createHash('sha256')
      const block = Buffer.allocUnsafe(Math.min(WRITE_BLOCK_BYTES, Math.max(1, size)))
      let filled = 0
      let received = 0
      const flush = async (handle: FileHandle): Promise<void> => {
        await writeFully(handle, block.subarray(0, filled))
        this.#unwritten -= filled
        unwritten -= filled
        filled = 0
      }
      for await (const chunk of source) {
        options.signal?.throwIfAborted()
        received += chunk.byteLength
        if (received > size) throw new ShoalError(ErrorCode.PROTOCOL, `piece body is longer than ${size} bytes`)
        hash.update(chunk)
        await onChunk?.(chunk)
        let offset = 0
        while (offset < chunk.byteLength) {
          const take = Math.min(chunk.byteLength - offset, block.byteLength - filled)
          block.set(chunk.subarray(offset, offset + take), filled)
          filled += take
          offset += take
          if (filled === block.byteLength) await flush(file)
        }
      }
      if (received !== size) {
        throw new ShoalError(ErrorCode.TRUNCATED, `piece body ended after ${received} of ${size} bytes`)
      }
      if (filled > 0) await flush(file)
      if (!equalBytes(hash.digest(), cid.multihash.digest)) {
        throw new ShoalError(ErrorCode.PIECE_CORRUPT, `received bytes do not match piece ${key}`, {
          details: { cid: key }
        })
      }
      await file.sync()
      await file.close()
      file = undefined

      return await this.#withLock(key, async () => {
        if ((await this.#index.get(key)) !== undefined) {
          if (ref !== undefined) await this.#addRefLocked(key, ref)
          return { existed: true, size }
        }
        const shardDir = join(this.#piecesDir, shardOf(key))
        const created = await mkdir(shardDir, { recursive: true })
        await rename(tmp, join(shardDir, key))
        kept = true
        try {
          await fsyncDir(shardDir)
          if (created !== undefined) await fsyncDir(this.#piecesDir)
          await this.#index.put(key, { size, storedAt: Date.now(), ...(ref === undefined ? {} : { refs: [ref] }) })
        } catch (err) {
          // Not indexed means not stored: take the file back out rather than leave an unaccounted piece.
          await unlink(join(shardDir, key)).catch(() => undefined)
          throw err
        }
        this.#used += size
        this.#count++
        return { existed: false, size }
      })
    } catch (err) {
      if (isDiskFull(err)) {
        throw new ShoalError(ErrorCode.DISK_FULL, `disk filled up while writing piece ${key}`, { cause: err })
      }
      throw err
    } finally {
      this.#reserved -= size
      this.#unwritten -= unwritten
      if (file !== undefined) await file.close().catch(() => undefined)
      if (!kept) await unlink(tmp).catch(() => undefined)
    }
  }

  /** Opens a stored piece for reading; ERR_PIECE_NOT_FOUND if it is not here. */
  async openReader(cid: CID): Promise<PieceReader> {
    this.#assertOpen()
    const key = cid.toString()
    const record = await this.#index.get(key)
    if (record === undefined) throw notFound(key)
    let file: FileHandle
    try {
      file = await open(this.#path(key), 'r')
    } catch (err) {
      if (isNotFound(err)) throw notFound(key)
      throw err
    }
    const size = record.size
    return {
      size,
      async *slices(offset: number, length: number, sliceSize: number): AsyncGenerator<Uint8Array> {
        if (offset < 0 || length < 0 || offset + length > size) throw new RangeError('range outside the piece')
        let position = offset
        const end = offset + length
        while (position < end) {
          const buffer = Buffer.allocUnsafe(Math.min(sliceSize, end - position))
          let filled = 0
          while (filled < buffer.byteLength) {
            const { bytesRead } = await file.read(buffer, filled, buffer.byteLength - filled, position + filled)
            if (bytesRead === 0) throw new ShoalError(ErrorCode.INTERNAL, `piece ${key} is shorter than indexed`)
            filled += bytesRead
          }
          position += filled
          yield buffer
        }
      },
      close: () => file.close()
    }
  }

  /**
   * Releases object `ref`'s hold on a piece: the file is deleted only when no object holds it any more. A piece
   * stored for another object, or one stored before pieces had owners, is left alone: a delete grant of one
   * object can never remove another's piece, whatever CID it names.
   */
  async release(cid: CID, ref: string): Promise<ReleaseResult> {
    this.#assertOpen()
    const key = cid.toString()
    return this.#withLock(key, async () => {
      const record = await this.#index.get(key)
      if (record === undefined) return { existed: false, released: false, deleted: false }
      const refs = record.refs ?? []
      if (!refs.includes(ref)) return { existed: true, released: false, deleted: false }
      const left = refs.filter((r) => r !== ref)
      if (left.length > 0) {
        await this.#index.put(key, { ...record, refs: left })
        return { existed: true, released: true, deleted: false }
      }
      await this.#deleteLocked(key, record)
      return { existed: true, released: true, deleted: true }
    })
  }

  /**
   * Removes a piece whatever holds it and frees its capacity; false if it was not stored. Only for the node's
   * own housekeeping under a tracker-signed retain list (retain-sweeper.ts), never for a delete grant.
   */
  async delete(cid: CID): Promise<boolean> {
    this.#assertOpen()
    const key = cid.toString()
    return this.#withLock(key, async () => this.#deleteLocked(key, await this.#index.get(key)))
  }

  /** Adds `ref` to a stored piece's holders; false if the piece is not stored (any more). */
  #addRef(key: string, ref: string): Promise<boolean> {
    return this.#withLock(key, () => this.#addRefLocked(key, ref))
  }

  async #addRefLocked(key: string, ref: string): Promise<boolean> {
    const record = await this.#index.get(key)
    if (record === undefined) return false
    // A legacy piece (no refs) gets its first owner here; the old, unknown holders stay unknowable, so it
    // keeps a marker that no delete grant can release.
    const refs = record.refs ?? [LEGACY_REF]
    if (!refs.includes(ref)) await this.#index.put(key, { ...record, refs: [...refs, ref] })
    return true
  }

  /** File first, so a crash leaves no orphan. */
  async #deleteLocked(key: string, record: PieceRecord | undefined): Promise<boolean> {
    try {
      await unlink(this.#path(key))
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
    if (record === undefined) return false
    await this.#index.del(key)
    this.#used -= record.size
    this.#count--
    return true
  }

  #path(key: string): string {
    return join(this.#piecesDir, shardOf(key), key)
  }

  #assertOpen(): void {
    if (!this.#opened) throw new ShoalError(ErrorCode.INTERNAL, 'piece store is not open')
  }

  async #diskFree(): Promise<number> {
    const fs = await statfs(this.#tmpDir)
    return fs.bavail * fs.bsize
  }

  /** The idempotent path: hash the body without writing it. */
  async #verifyOnly(
    cid: CID,
    size: number,
    source: AsyncIterable<Uint8Array>,
    onChunk?: (chunk: Uint8Array) => Promise<void> | void
  ): Promise<void> {
    const hash = createHash('sha256')
    let received = 0
    for await (const chunk of source) {
      received += chunk.byteLength
      if (received > size) throw new ShoalError(ErrorCode.PROTOCOL, `piece body is longer than ${size} bytes`)
      hash.update(chunk)
      await onChunk?.(chunk)
    }
    if (received !== size) throw new ShoalError(ErrorCode.TRUNCATED, `piece body ended after ${received} of ${size}`)
    if (!equalBytes(hash.digest(), cid.multihash.digest)) {
      throw new ShoalError(ErrorCode.PIECE_CORRUPT, `received bytes do not match piece ${cid}`, {
        details: { cid: cid.toString() }
      })
    }
  }

  async #withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const held = this.#locks.get(key)
      if (held === undefined) break
      await held
    }
    let resolve = (): void => undefined
    this.#locks.set(
      key,
      new Promise<void>((r) => {
        resolve = r
      })
    )
    try {
      return await fn()
    } finally {
      this.#locks.delete(key)
      resolve()
    }
  }
}

function notFound(key: string): ShoalError {
  return new ShoalError(ErrorCode.PIECE_NOT_FOUND, `piece ${key} is not stored here`, { details: { cid: key } })
}

async function writeFully(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.byteLength - offset)
    offset += bytesWritten
  }
}

/** A rename is durable only once its directory is synced. */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
