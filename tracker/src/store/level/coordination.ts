import { type BucketKey, MemoryBuckets } from '../../rate-limit.ts'
import type { CoordinationStore } from '../store.ts'

/**
 * One process owns a level database, so its rate-limit buckets and leases can stay in memory: a restart refills
 * the buckets, and the holder of a lease is always this process's own.
 */
export class LevelCoordination implements CoordinationStore {
  readonly #buckets = new MemoryBuckets()
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>()

  async takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number> {
    return this.#buckets.take(keys, now)
  }

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    const lease = this.#leases.get(name)
    if (lease !== undefined && lease.holder !== holder && lease.expiresAt > now) return false
    this.#leases.set(name, { holder, expiresAt: now + ttlMs })
    return true
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.#leases.get(name)?.holder === holder) this.#leases.delete(name)
  }
}
