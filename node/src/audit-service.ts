import { setTimeout as sleep } from 'node:timers/promises'
import type { Connection, PublicKey, Stream } from '@libp2p/interface'
import {
  auditBodyLength,
  ByteReader,
  type CID,
  describeError,
  ErrorCode,
  encodeAuditPaths,
  encodeFrame,
  fromBase64Url,
  MERKLE_HASH_BYTES,
  MERKLE_LEAF_BYTES,
  merkleLeafCount,
  merkleLeafHash,
  merkleLeafRange,
  merkleProofs,
  parseAuditRequest,
  parsePieceCid,
  readFrame,
  ShoalError,
  sendBounded,
  toBase64Url,
  verifyGrant
} from '@shoal/core'
import type { Level } from 'level'
import type { Logger } from 'pino'
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS, GRANT_SKEW_MS } from './constants.ts'
import type { PieceStore } from './piece-store.ts'
import { sendRefusal } from './refusal.ts'
import type { UsedSerials } from './used-serials.ts'

export type AuditStorage = Pick<PieceStore, 'stat' | 'openReader' | 'has'>

export interface AuditServiceComponents {
  peerId: string
  trackerKey: PublicKey
  store: AuditStorage
  serials: UsedSerials
  /** The node's level database; leaf hashes are cached in the `merkle` sublevel. */
  db: Level<string, string>
  logger: Logger
}

export interface AuditStats {
  /** Audit requests answered with proofs. */
  answered: number
  /** Audit requests refused (bad grant, unknown piece, ...). */
  refused: number
  /** Leaves sent in answers. */
  leaves: number
  /** Piece bytes read from disk for audits (leaves, plus whole pieces when their tree was built). */
  bytesRead: number
  /** Trees built from a whole piece (the first audit of a piece since it was stored). */
  treesBuilt: number
}

interface CachedTree {
  storedAt: number
  leafBytes: number
  /** base64url of the concatenated leaf hashes. */
  hashes: string
}

/**
 * Answers audits (`/shoal/piece/audit/1.0.0`): the tracker's signed audit grant names a piece and the leaves it
 * challenges; the node sends each leaf read from disk with its Merkle path.
 *
 * Paths need every leaf hash, which the node builds by reading the whole piece once, at its first audit, and
 * caches (32 bytes per 16 KiB leaf). Later audits read only the challenged leaves. The cache cannot hide
 * corruption: a leaf read now that no longer matches its cached hash fails against the root, and a tree built
 * after the bytes rotted produces a wrong root for every leaf.
 */
export class AuditService {
  readonly #c: AuditServiceComponents
  readonly #log: Logger
  readonly #trees: ReturnType<typeof openTrees>
  readonly #idleMs: number
  readonly #stats: AuditStats = { answered: 0, refused: 0, leaves: 0, bytesRead: 0, treesBuilt: 0 }
  readonly #inflight = new Set<Promise<void>>()
  #stopping = false
  #loop: { controller: AbortController; done: Promise<void> } | undefined

  constructor(components: AuditServiceComponents, init: { idleTimeoutMs?: number } = {}) {
    this.#c = components
    this.#log = components.logger
    this.#trees = openTrees(components.db)
    this.#idleMs = init.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS
  }

  get stats(): AuditStats {
    return { ...this.#stats }
  }

  readonly handle = (stream: Stream, connection: Connection): Promise<void> => {
    if (this.#stopping) {
      stream.abort(new ShoalError(ErrorCode.ABORTED, 'node is stopping'))
      return Promise.resolve()
    }
    const task = this.#serve(stream, connection)
    this.#inflight.add(task)
    return task.finally(() => this.#inflight.delete(task))
  }

  /** Starts dropping cached trees of deleted pieces every `pruneIntervalMs` (default 10 minutes). */
  start(pruneIntervalMs = 10 * 60_000): void {
    if (this.#loop !== undefined) return
    this.#stopping = false
    const controller = new AbortController()
    const signal = controller.signal
    const run = async (): Promise<void> => {
      while (!signal.aborted) {
        try {
          await sleep(pruneIntervalMs, undefined, { signal })
          const pruned = await this.pruneTrees(signal)
          if (pruned > 0) this.#log.debug({ pruned }, 'dropped cached Merkle trees of deleted pieces')
        } catch (err) {
          if (!signal.aborted) this.#log.warn({ err: describeError(err) }, 'pruning cached Merkle trees failed')
        }
      }
    }
    this.#loop = { controller, done: run() }
  }

  async stop(): Promise<void> {
    this.#stopping = true
    const loop = this.#loop
    this.#loop = undefined
    loop?.controller.abort()
    await loop?.done
    await Promise.allSettled([...this.#inflight])
  }

  /** Drops cached trees of pieces no longer stored; returns how many. */
  async pruneTrees(signal?: AbortSignal): Promise<number> {
    const gone: string[] = []
    for await (const key of this.#trees.keys()) {
      signal?.throwIfAborted()
      if (!(await this.#c.store.has(parsePieceCid(key)))) gone.push(key)
    }
    if (gone.length > 0) await this.#trees.batch(gone.map((key) => ({ type: 'del' as const, key })))
    return gone.length
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const timeout = AbortSignal.timeout(this.#idleMs)
    const onTimeout = (): void => stream.abort(new ShoalError(ErrorCode.TIMEOUT, 'audit took too long'))
    timeout.addEventListener('abort', onTimeout, { once: true })
    const log = this.#log.child({ op: 'audit', peer: connection.remotePeer.toString() })
    let responded = false
    try {
      const frame = await readFrame(new ByteReader(stream))
      if (frame === undefined) throw new ShoalError(ErrorCode.TRUNCATED, 'stream ended before the request header')
      const request = parseAuditRequest(frame)
      const cid = parsePieceCid(request.piece)
      const grant = await verifyGrant(request.grant, this.#c.trackerKey, {
        kind: 'audit',
        node: this.#c.peerId,
        piece: request.piece,
        now: Date.now(),
        skewMs: GRANT_SKEW_MS
      })
      await this.#c.serials.claim(grant.serial, grant.exp + GRANT_SKEW_MS)
      const leaves = grant.leaves ?? []
      const record = await this.#c.store.stat(cid)
      if (record === undefined) {
        throw new ShoalError(ErrorCode.PIECE_NOT_FOUND, `piece ${request.piece} is not stored here`)
      }
      const count = merkleLeafCount(record.size)
      const outside = leaves.find((l) => l >= count)
      if (outside !== undefined) {
        throw new ShoalError(ErrorCode.INVALID_INPUT, `leaf ${outside} is outside a piece of ${count} leaves`)
      }
      const hashes = await this.#leafHashes(cid, record)
      const paths = await merkleProofs(hashes, leaves)
      const bodies = await this.#readLeaves(cid, record.size, leaves)
      responded = true
      const header = { ok: true, pieceSize: record.size, leafBytes: MERKLE_LEAF_BYTES, paths: encodeAuditPaths(paths) }
      await sendBounded(stream, [encodeFrame(header), ...bodies], { signal: timeout })
      await stream.close({ signal: timeout })
      this.#stats.answered++
      this.#stats.leaves += leaves.length
      log.debug({ piece: request.piece, leaves: leaves.length }, 'audit answered')
    } catch (err) {
      this.#stats.refused++
      const error =
        err instanceof ShoalError ? err : new ShoalError(ErrorCode.INTERNAL, 'internal error', { cause: err })
      if (error.code === ErrorCode.INTERNAL) log.error({ err }, 'audit failed')
      else log.info({ code: error.code, err: error.message }, 'audit refused')
      if (responded) stream.abort(error)
      else await sendRefusal(stream, error, timeout, log, 'audit')
    } finally {
      timeout.removeEventListener('abort', onTimeout)
    }
  }

  /** Leaf hashes from the cache, or built from the whole piece and cached. */
  async #leafHashes(cid: CID, record: { size: number; storedAt: number }): Promise<Uint8Array[]> {
    const key = cid.toString()
    const cached = await this.#trees.get(key)
    if (cached !== undefined && cached.storedAt === record.storedAt && cached.leafBytes === MERKLE_LEAF_BYTES) {
      const all = fromBase64Url(cached.hashes)
      const out: Uint8Array[] = []
      for (let i = 0; i < all.byteLength; i += MERKLE_HASH_BYTES) out.push(all.subarray(i, i + MERKLE_HASH_BYTES))
      if (out.length === merkleLeafCount(record.size)) return out
    }
    const reader = await this.#c.store.openReader(cid)
    const hashes: Uint8Array[] = []
    try {
      if (record.size === 0) hashes.push(await merkleLeafHash(new Uint8Array(0)))
      // One leaf per slice: memory stays at one leaf whatever the piece size.
      for await (const leaf of reader.slices(0, record.size, MERKLE_LEAF_BYTES)) {
        this.#stats.bytesRead += leaf.byteLength
        hashes.push(await merkleLeafHash(leaf))
      }
    } finally {
      await reader.close()
    }
    const all = new Uint8Array(hashes.length * MERKLE_HASH_BYTES)
    for (const [i, h] of hashes.entries()) all.set(h, i * MERKLE_HASH_BYTES)
    await this.#trees.put(key, { storedAt: record.storedAt, leafBytes: MERKLE_LEAF_BYTES, hashes: toBase64Url(all) })
    this.#stats.treesBuilt++
    return hashes
  }

  /** Reads exactly the challenged leaves from disk, in the grant's order. */
  async #readLeaves(cid: CID, size: number, leaves: readonly number[]): Promise<Uint8Array[]> {
    const reader = await this.#c.store.openReader(cid)
    const out: Uint8Array[] = []
    try {
      for (const leaf of leaves) {
        const { offset, length } = merkleLeafRange(size, leaf)
        for await (const slice of reader.slices(offset, length, MERKLE_LEAF_BYTES)) out.push(slice)
        this.#stats.bytesRead += length
      }
    } finally {
      await reader.close()
    }
    const total = out.reduce((sum, b) => sum + b.byteLength, 0)
    if (total !== auditBodyLength(size, MERKLE_LEAF_BYTES, leaves)) {
      throw new ShoalError(ErrorCode.INTERNAL, `piece ${cid} changed size while it was audited`)
    }
    return out
  }
}

function openTrees(db: Level<string, string>) {
  return db.sublevel<string, CachedTree>('merkle', { valueEncoding: 'json' })
}
