/**
 * Piece buffers handed back for reuse, by exact size. In a browser a fresh `Uint8Array` of a few MiB costs far
 * more than filling one already touched (38-273 MB/s against ~39,000 MB/s in Chromium here, bench/RESULTS.md
 * session 16), and a download used to allocate one per piece on the page, move it to a codec worker and drop it
 * there. The browser's codec workers now hand the buffers back with each decoded segment; `allocUninitialized`
 * takes from here first. Bounded: beyond MAX_POOLED_BYTES a returned buffer is left to the collector.
 */
const MAX_POOLED_BYTES = 32 * 1024 * 1024

const pooled = new Map<number, ArrayBuffer[]>()
let pooledBytes = 0

/** Keeps `buffer` for a later allocation of its size; its contents are stale and will be overwritten whole. */
export function recycleBuffer(buffer: ArrayBuffer): void {
  const size = buffer.byteLength
  // A detached buffer has length 0; a resizable one (ES2024) could shrink under a later user.
  if (size === 0 || (buffer as { resizable?: boolean }).resizable === true || pooledBytes + size > MAX_POOLED_BYTES) {
    return
  }
  const list = pooled.get(size)
  if (list === undefined) pooled.set(size, [buffer])
  else list.push(buffer)
  pooledBytes += size
}

/** A pooled buffer of exactly `size` bytes (stale contents), or undefined when none is kept. */
export function takeRecycled(size: number): Uint8Array | undefined {
  const buffer = pooled.get(size)?.pop()
  if (buffer === undefined) return undefined
  pooledBytes -= size
  return new Uint8Array(buffer)
}

/** Bytes held for reuse (for tests and diagnostics). */
export function recycledBytes(): number {
  return pooledBytes
}
