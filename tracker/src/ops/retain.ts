import { BloomFilter } from '@shoal/core'
import type { Clock } from '../config.ts'
import type { StoreParts } from '../store/store.ts'
import { walkSegments } from './segments.ts'

/** Most uploads in progress looked at for one set of retain filters. */
const MAX_UPLOADS = 100_000

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

  /** Two passes: count each node's pieces to size its filter, then fill it. */
  async #build(): Promise<FilterSet> {
    const createdAt = this.#clock.now()
    const counts = new Map<string, number>()
    const count = (node: string): void => {
      counts.set(node, (counts.get(node) ?? 0) + 1)
    }
    for await (const { segment } of walkSegments(this.#store)) for (const p of segment.pieces) count(p.node)
    const inUploads: { node: string; cid: string }[] = []
    for (const upload of await this.#store.uploads.listExpiredUploads(Number.MAX_SAFE_INTEGER, MAX_UPLOADS)) {
      for (const segment of await this.#store.uploads.listUploadSegments(upload.id)) {
        for (const piece of [...segment.placement.pieces, ...(segment.stale ?? [])]) {
          inUploads.push(piece)
          count(piece.node)
        }
      }
    }
    const byNode = new Map<string, { pieces: number; filter: BloomFilter }>()
    for (const [node, n] of counts)
      byNode.set(node, { pieces: 0, filter: BloomFilter.forCount(n, this.#falsePositiveRate) })
    const add = (node: string, cid: string): void => {
      // A node first seen in the second pass (a repair between the passes): its own small filter.
      let own = byNode.get(node)
      if (own === undefined) {
        own = { pieces: 0, filter: BloomFilter.forCount(16, this.#falsePositiveRate) }
        byNode.set(node, own)
      }
      own.filter.add(cid)
      own.pieces++
    }
    for await (const { segment } of walkSegments(this.#store)) for (const p of segment.pieces) add(p.node, p.cid)
    for (const p of inUploads) add(p.node, p.cid)
    this.builds++
    const set = { createdAt, byNode }
    this.#current = set
    return set
  }
}
