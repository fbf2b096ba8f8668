/** Splits a large buffer into writes of a size the muxer frames efficiently. */
export function* slices(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, Math.min(bytes.byteLength, i + size))
}
