/** Browsers have no uninitialized allocation: see alloc.node.ts. */
export function allocUninitialized(size: number): Uint8Array {
  return new Uint8Array(size)
}
