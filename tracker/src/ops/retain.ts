import { BloomFilter } from '@shoal/core'
import type { Clock } from '../config.ts'
import type { StoreParts } from '../store/store.ts'
import { walkSegments } from './segments.ts'

/** Uploads in progress read per store statement while the filters are built. */
const UPLOAD_PAGE = 500

export interface RetainFilter {
  /** Tracker time the walk began: pieces a node stored after it are not judged by this filter. */
  createdAt: number
  /** Pieces the filter holds. */
  pieces: number
  filter: BloomFilter
}

interface FilterSet {
  createdAt: number
  byNode: Map<string, { pieces: number; filter: BloomFilter }>
}

/**
 * Retain filters: for each node, a Bloom filter of every piece it should hold now (those of committed objects'
 * segments and those placed for uploads in progress, which may still commit). A node may drop any other piece
 * it has held since well before the filter was made.
 *
 * One walk of every segment makes the filters of all nodes, kept for `maxAgeMs` and shared by the requests
 * meanwhile: per request, a walk would cost the whole network's pieces for each node that asks. An older set
 * is still safe to hand out: what was deleted since is only kept longer, and what was stored since is younger
 * than its `createdAt`.
 */
export class RetainFilters {
  readonly #store: StoreParts<'uploads' | 'objects'>
  readonly #clock: Clock
  readonly #maxAgeMs: number
  /** False positives keep a garbage piece until a later filter (with a new seed) misses it. */
  readonly #falsePositiveRate: number
  #current: FilterSet | undefined
  #building: Promise<FilterSet> | undefined
  /** Walks made so far (for tests and metrics). */
  builds = 0

  constructor(
    store: StoreParts<'uploads' | 'objects'>,
    clock: Clock,
    settings: { retainCacheMs: number; retainFalsePositiveRate: number }
  ) {
    this.#store = store
    this.#clock = clock
    this.#maxAgeMs = settings.retainCacheMs
    this.#falsePositiveRate = settings.retainFalsePositiveRate
  }

  async forNode(node: string): Promise<RetainFilter> {
    const set = await this.#fresh()
    const own = set.byNode.get(node)
    return {
      createdAt: set.createdAt,
      pieces: own?.pieces ?? 0,
      filter: own?.filter ?? BloomFilter.forCount(0, this.#falsePositiveRate)
    }
  }

  /** The current set, or the one being built: shared by every request meanwhile, so no one caller cancels it. */
  async #fresh(): Promise<FilterSet> {
    const current = this.#current
    if (current !== undefined && this.#clock.now() - current.createdAt < this.#maxAgeMs) return current
    this.#building ??= this.#build().finally(() => {
      this.#building = undefined
    })
    return this.#building
  }

  /**
   * Two passes: count each node's pieces to size its filter, then fill it. Each pass walks the segments and
   * then every upload in progress, both a page at a time: memory holds the filters, never the walk.
   */
  async #build(): Promise<FilterSet> {
    const createdAt = this.#clock.now()
    const counts = new Map<string, number>()
    await this.#eachPiece((node) => {
      counts.set(node, (counts.get(node) ?? 0) + 1)
    })
    const byNode = new Map<string, { pieces: number; filter: BloomFilter }>()
    for (const [node, n] of counts)
      byNode.set(node, { pieces: 0, filter: BloomFilter.forCount(n, this.#falsePositiveRate) })
    await this.#eachPiece((node, cid) => {
      // A node first seen in the second pass (a repair or an upload between the passes): its own small filter.
      let own = byNode.get(node)
      if (own === undefined) {
        own = { pieces: 0, filter: BloomFilter.forCount(16, this.#falsePositiveRate) }
        byNode.set(node, own)
      }
      own.filter.add(cid)
      own.pieces++
    })
    this.builds++
    const set = { createdAt, byNode }
    this.#current = set
    return set
  }

  /**
   * Every piece a node should hold: those placed for every upload in progress (current and replaced
   * placements: either may still commit), however many there are, then those of committed segments. Uploads
   * first: one that commits while the uploads are read is then an object before the segment walk begins, so its
   * pieces are seen in one walk or the other, never in neither.
   */
  async #eachPiece(visit: (node: string, cid: string) => void): Promise<void> {
    let after: { expiresAt: number; id: string } | undefined
    for (let more = true; more; ) {
      const page = await this.#store.uploads.listExpiredUploads(Number.MAX_SAFE_INTEGER, UPLOAD_PAGE, after)
      for (const upload of page) {
        for (const segment of await this.#store.uploads.listUploadSegments(upload.id)) {
          for (const p of [...segment.placement.pieces, ...(segment.stale ?? [])]) visit(p.node, p.cid)
        }
      }
      const last = page.at(-1)
      more = last !== undefined && page.length === UPLOAD_PAGE
      if (last !== undefined) after = { expiresAt: last.expiresAt, id: last.id }
    }
    for await (const { segment } of walkSegments(this.#store)) for (const p of segment.pieces) visit(p.node, p.cid)
  }
}
