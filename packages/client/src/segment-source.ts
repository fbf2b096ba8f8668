import { ErrorCode, type ObjectLayout, ShoalError, segmentPlainLength } from '@shoal/core'

/**
 * Regroups an arbitrary byte stream into the object's segments, copying each byte once. Holds at most one
 * segment: memory is bounded by the segment size, not the file size. A source that yields more or fewer bytes
 * than announced (a file that changed while it was read) is an error, never a silently different object.
 */
export async function* segmentSource(
  source: AsyncIterable<Uint8Array>,
  layout: ObjectLayout
): AsyncGenerator<{ index: number; plaintext: Uint8Array }> {
  let index = 0
  let current = new Uint8Array(segmentPlainLength(layout, 0))
  let filled = 0
  let total = 0
  const mismatch = (): ShoalError =>
    new ShoalError(
      ErrorCode.INVALID_INPUT,
      `source has ${total} or more bytes, but only ${layout.size} were announced`,
      {
        details: { expected: layout.size }
      }
    )
  for await (const chunk of source) {
    if (total + chunk.byteLength > layout.size) {
      total += chunk.byteLength
      throw mismatch()
    }
    let offset = 0
    while (offset < chunk.byteLength) {
      const take = Math.min(current.byteLength - filled, chunk.byteLength - offset)
      current.set(chunk.subarray(offset, offset + take), filled)
      filled += take
      offset += take
      total += take
      if (filled === current.byteLength && total < layout.size) {
        yield { index, plaintext: current }
        index++
        current = new Uint8Array(segmentPlainLength(layout, index))
        filled = 0
      }
    }
  }
  if (total !== layout.size) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `source ended after ${total} of ${layout.size} announced bytes`, {
      details: { expected: layout.size, got: total }
    })
  }
  yield { index, plaintext: current }
}
