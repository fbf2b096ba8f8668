/**
 * A buffer of `size` bytes that the caller will overwrite whole, without zero-filling it first: pieces and
 * segments are 1-8 MiB, and `new Uint8Array` clears each one only for it to be copied over (memset was 4% of a
 * downloading client's CPU, bench/RESULTS.md session 8). A plain Uint8Array spanning its own ArrayBuffer, so
 * it transfers to a worker like any other, and `slice` copies as callers expect (a Buffer's would not).
 */
export function allocUninitialized(size: number): Uint8Array {
  const buffer = Buffer.allocUnsafeSlow(size)
  return new Uint8Array(buffer.buffer, 0, size)
}
