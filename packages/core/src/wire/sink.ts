import type { AbortOptions } from '@libp2p/interface'

/** The writable half of a libp2p stream, as far as Shoal needs it. */
export interface WritableByteStream {
  send(data: Uint8Array): boolean
  onDrain(options?: AbortOptions): Promise<void>
}

/** Writes honouring backpressure: when the transport's buffer is full, wait for it to drain. */
export async function sendAll(
  stream: WritableByteStream,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options?: AbortOptions
): Promise<number> {
  let sent = 0
  for await (const chunk of chunks) {
    options?.signal?.throwIfAborted()
    sent += chunk.byteLength
    if (!stream.send(chunk)) await stream.onDrain(options)
  }
  return sent
}

/** Splits a large buffer into writes of a size the muxer frames efficiently. */
export function* slices(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, Math.min(bytes.byteLength, i + size))
}
