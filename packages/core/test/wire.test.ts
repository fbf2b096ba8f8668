import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import {
  ByteReader,
  ErrorCode,
  encodeFrame,
  fromBase64Url,
  MAX_FRAME_HEADER_BYTES,
  parseBytes,
  parsePieceCid,
  pieceCid,
  readFrame,
  toBase64Url
} from '../src/index.ts'

async function* chunks(...parts: (Uint8Array | Uint8ArrayList)[]): AsyncGenerator<Uint8Array | Uint8ArrayList> {
  for (const p of parts) yield p
}

function split(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.byteLength; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

describe('frames', () => {
  it('round trip a header and a body split at every byte', async () => {
    const frame = encodeFrame({ piece: 'x', size: 5 })
    const body = new Uint8Array([1, 2, 3, 4, 5])
    const all = new Uint8Array([...frame, ...body])
    const reader = new ByteReader(chunks(...split(all, 1)))
    expect(await readFrame(reader)).toEqual({ piece: 'x', size: 5 })
    const got: number[] = []
    for await (const c of reader.stream(5)) got.push(...c)
    expect(got).toEqual([1, 2, 3, 4, 5])
    await reader.expectEnd()
  })

  it('streams a body as views of the transport buffers, never copies, and stops exactly at its end', async () => {
    const a = new Uint8Array([1, 2, 3])
    const b = new Uint8Array([4, 5, 6, 7])
    const list = new Uint8ArrayList(a, b)
    const reader = new ByteReader(chunks(new Uint8Array([9]), list, new Uint8Array([8])))
    expect([...(await reader.readExactly(1))]).toEqual([9])
    const got: Uint8Array[] = []
    for await (const c of reader.stream(5)) got.push(c)
    expect(got.map((c) => [...c])).toEqual([
      [1, 2, 3],
      [4, 5]
    ])
    expect(got[0]?.buffer).toBe(a.buffer)
    expect(got[1]?.buffer).toBe(b.buffer)
    expect([...(await reader.readExactly(3))]).toEqual([6, 7, 8])
    await reader.expectEnd()
  })

  it('a truncated header or body is ERR_TRUNCATED', async () => {
    const frame = encodeFrame({ a: 1 })
    expect((await readFrame(new ByteReader(chunks(frame.subarray(0, frame.length - 1)))).catch((e) => e)).code).toBe(
      ErrorCode.TRUNCATED
    )
    const reader = new ByteReader(chunks(new Uint8Array([1, 2])))
    const err = await (async () => {
      for await (const _ of reader.stream(3)) {
        /* drain */
      }
    })().catch((e) => e)
    expect(err.code).toBe(ErrorCode.TRUNCATED)
  })

  it('an oversized length prefix is ERR_FRAME_TOO_LARGE before any body is read', async () => {
    const prefix = new Uint8Array([0xff, 0xff, 0xff, 0x7f])
    expect((await readFrame(new ByteReader(chunks(prefix))).catch((e) => e)).code).toBe(ErrorCode.FRAME_TOO_LARGE)
    const justOver = MAX_FRAME_HEADER_BYTES + 1
    const p2 = new Uint8Array([(justOver & 0x7f) | 0x80, ((justOver >> 7) & 0x7f) | 0x80, justOver >> 14])
    expect((await readFrame(new ByteReader(chunks(p2))).catch((e) => e)).code).toBe(ErrorCode.FRAME_TOO_LARGE)
  })

  it('non-JSON and non-object headers are ERR_PROTOCOL', async () => {
    for (const text of ['not json', '[1,2]', 'null', '"s"']) {
      const body = new TextEncoder().encode(text)
      const reader = new ByteReader(chunks(new Uint8Array([body.length]), body))
      expect((await readFrame(reader).catch((e) => e)).code).toBe(ErrorCode.PROTOCOL)
    }
  })

  it('a clean end before a frame is undefined; trailing bytes are ERR_PROTOCOL', async () => {
    expect(await readFrame(new ByteReader(chunks()))).toBeUndefined()
    const reader = new ByteReader(chunks(encodeFrame({}), new Uint8Array([9])))
    await readFrame(reader)
    expect((await reader.expectEnd().catch((e) => e)).code).toBe(ErrorCode.PROTOCOL)
  })
})

describe('piece ids', () => {
  it('accepts canonical raw sha2-256 CIDv1 and refuses everything else', async () => {
    const cid = (await pieceCid(new Uint8Array([1]))).toString()
    expect(parsePieceCid(cid).toString()).toBe(cid)
    for (const bad of [
      '../../etc/passwd',
      `${cid}/../x`,
      '',
      'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
      cid.toUpperCase(),
      7
    ]) {
      expect(() => parsePieceCid(bad)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CID }))
    }
  })
})

describe('encodings', () => {
  it('base64url round trips and is strict', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = crypto.getRandomValues(new Uint8Array(n))
      expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes)
    }
    expect(() => fromBase64Url('ab=')).toThrow()
    expect(() => fromBase64Url('a')).toThrow()
    expect(() => fromBase64Url('AB')).toThrow() // non-canonical trailing bits
  })

  it('parses sizes and rates', () => {
    expect(parseBytes('500GB')).toBe(500e9)
    expect(parseBytes('20MB/s')).toBe(20e6)
    expect(parseBytes('1.5 GiB')).toBe(1.5 * 1024 ** 3)
    expect(parseBytes('1024')).toBe(1024)
    expect(() => parseBytes('lots')).toThrow(TypeError)
    expect(() => parseBytes('-5MB')).toThrow(TypeError)
  })
})
