/**
 * Frees a buffer's memory now instead of at the owning thread's next garbage collection. A codec worker makes
 * almost no JavaScript garbage, so its collector runs rarely, and the piece buffers transferred to it piled up
 * to hundreds of MB before one did. Detaching (`ArrayBuffer.prototype.transfer(0)`) drops the backing store at
 * once. Only for buffers this code owns whole: every view of them becomes empty.
 */
export function release(bytes: Uint8Array | undefined): void {
  if (bytes === undefined || !ownsBuffer(bytes)) return
  // ES2024 members, absent from older runtimes (where the collector frees the buffer as before).
  const es2024 = bytes.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer; detached?: boolean }
  if (typeof es2024.transfer === 'function' && es2024.detached !== true) es2024.transfer(0)
}

/** True when `bytes` spans its whole (non-shared) buffer: it can be moved to a worker or freed without a copy. */
export function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
}
