import { fromUtf8, utf8 } from '../bytes.ts'
import { MAX_FRAME_HEADER_BYTES } from '../constants.ts'
import { ErrorCode, ShoalError } from '../errors.ts'
import type { ByteReader } from './byte-reader.ts'

/** A header frame: unsigned varint length, then that many bytes of UTF-8 JSON (an object). */
export function encodeFrame(header: object): Uint8Array {
  const body = utf8(JSON.stringify(header))
  if (body.byteLength > MAX_FRAME_HEADER_BYTES) throw new TypeError('frame header too large')
  const prefix: number[] = []
  let n = body.byteLength
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n > 0) byte |= 0x80
    prefix.push(byte)
  } while (n > 0)
  const out = new Uint8Array(prefix.length + body.byteLength)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}

/** Reads one header frame; `undefined` if the stream ended cleanly before it. */
export async function readFrame(
  reader: ByteReader,
  maxBytes = MAX_FRAME_HEADER_BYTES
): Promise<Record<string, unknown> | undefined> {
  const length = await reader.readVarint(maxBytes)
  if (length === undefined) return undefined
  const bytes = await reader.readExactly(length)
  let value: unknown
  try {
    value = JSON.parse(fromUtf8(bytes))
  } catch (cause) {
    throw new ShoalError(ErrorCode.PROTOCOL, 'frame header is not JSON', { cause })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ShoalError(ErrorCode.PROTOCOL, 'frame header must be a JSON object')
  }
  return value as Record<string, unknown>
}

export async function readRequiredFrame(reader: ByteReader, what: string): Promise<Record<string, unknown>> {
  const frame = await readFrame(reader)
  if (frame === undefined) throw new ShoalError(ErrorCode.TRUNCATED, `stream ended before the ${what}`)
  return frame
}
