import { takeRecycled } from './buffer-pool.ts'

/**
 * Browsers have no uninitialized allocation (see alloc.node.ts), and a fresh buffer is costly there: a recycled
 * one of the same size comes first (buffer-pool.ts).
 */
export function allocUninitialized(size: number): Uint8Array {
  return takeRecycled(size) ?? new Uint8Array(size)
}
