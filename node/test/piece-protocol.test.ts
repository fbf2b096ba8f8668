import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import {
  ErrorCode,
  encodeFrame,
  KiB,
  MAX_FRAME_HEADER_BYTES,
  MAX_PIECE_BYTES,
  PROTOCOL_GET,
  PROTOCOL_PUT,
  verifyReceipt
} from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  call,
  del,
  expectBytes,
  expectCode,
  expectOk,
  frame,
  GrantSigner,
  get,
  type NodeFixture,
  put,
  randomPiece,
  randomSerial,
  rawFrame,
  startClient,
  startNode,
  Teardown,
  waitFor
} from './helpers.ts'

const teardown = new Teardown()
let fx: NodeFixture
let client: Libp2p

beforeAll(async () => {
  fx = await startNode(teardown.defer, { capacity: 64 * 1024 * 1024 })
  client = await startClient(teardown.defer)
})
afterAll(() => teardown.run())

async function tmpFiles(): Promise<string[]> {
  return readdir(join(fx.dir, 'tmp'))
}

describe('put and get', () => {
  it('stores a piece, answers with a valid receipt, and serves it whole and by range', async () => {
    const piece = await randomPiece(700 * KiB)
    const grant = await fx.grant('put', piece.id, { serial: 'put-serial-1' })
    const stored = expectOk(await put(client, fx.node, { grant, piece: piece.id, bytes: piece.bytes }))
    const receipt = await verifyReceipt(stored.receipt, {
      node: fx.node.peerId.toString(),
      piece: piece.id,
      serial: 'put-serial-1',
      size: piece.bytes.byteLength
    })
    expect(receipt.kind).toBe('put')

    const whole = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id })
    expect(expectOk(whole)).toMatchObject({ size: piece.bytes.byteLength, pieceSize: piece.bytes.byteLength })
    expectBytes(whole.body, piece.bytes)

    const size = piece.bytes.byteLength
    const ranges = [
      { offset: 0, length: 1 },
      { offset: 1000, length: 300_000 },
      { offset: size - 10, length: 10 },
      { offset: size - 10 },
      { offset: size, length: 0 },
      { offset: size }
    ]
    for (const range of ranges) {
      const reply = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id, ...range })
      const offset = range.offset
      const end = range.length === undefined ? size : offset + range.length
      expect(expectOk(reply).size, JSON.stringify(range)).toBe(end - offset)
      expectBytes(reply.body, piece.bytes.subarray(offset, end))
    }
  })

  it('refuses ranges outside the piece and ranges larger than the grant', async () => {
    const piece = await randomPiece(10 * KiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
    const size = piece.bytes.byteLength
    for (const range of [{ offset: size + 1 }, { offset: size - 10, length: 11 }, { offset: 0, length: size + 1 }]) {
      const reply = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id, ...range })
      expectCode(reply, ErrorCode.INVALID_INPUT)
    }
    const limited = await fx.grant('get', piece.id, { size: 100 })
    expectCode(await get(client, fx.node, { grant: limited, piece: piece.id }), ErrorCode.GRANT_LIMIT)
    const ok = await get(client, fx.node, {
      grant: await fx.grant('get', piece.id, { size: 100 }),
      piece: piece.id,
      length: 100
    })
    expectBytes(ok.body, piece.bytes.subarray(0, 100))
  })

  it('answers ERR_PIECE_NOT_FOUND for a piece it does not hold', async () => {
    const piece = await randomPiece(1000)
    const reply = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id })
    expectCode(reply, ErrorCode.PIECE_NOT_FOUND)
  })

  it('a second put of a stored piece is verified and answered with a receipt, without using more space', async () => {
    const piece = await randomPiece(20 * KiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
    const used = fx.node.stats.store.used
    const again = await put(client, fx.node, {
      grant: await fx.grant('put', piece.id),
      piece: piece.id,
      bytes: piece.bytes
    })
    expect(typeof expectOk(again).receipt).toBe('string')
    expect(fx.node.stats.store.used).toBe(used)
    // The idempotent path still checks the body.
    const wrong = new Uint8Array(piece.bytes)
    wrong[5] = (wrong[5] as number) ^ 1
    const corrupt = await put(client, fx.node, {
      grant: await fx.grant('put', piece.id),
      piece: piece.id,
      bytes: wrong
    })
    expectCode(corrupt, ErrorCode.PIECE_CORRUPT)
  })

  it('refuses bytes that do not match the CID and keeps nothing', async () => {
    const piece = await randomPiece(300 * KiB)
    const other = await randomPiece(300 * KiB)
    const before = fx.node.stats.store
    const reply = await put(client, fx.node, {
      grant: await fx.grant('put', piece.id),
      piece: piece.id,
      bytes: other.bytes
    })
    expectCode(reply, ErrorCode.PIECE_CORRUPT)
    expect(fx.node.stats.store).toMatchObject({ used: before.used, pieces: before.pieces, reserved: 0 })
    expect(await tmpFiles()).toEqual([])
    const lookup = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id })
    expectCode(lookup, ErrorCode.PIECE_NOT_FOUND)
  })

  it('refuses a put larger than its grant or than the largest piece', async () => {
    const piece = await randomPiece(10 * KiB)
    const small = await fx.grant('put', piece.id, { size: 1000 })
    expectCode(await put(client, fx.node, { grant: small, piece: piece.id, bytes: piece.bytes }), ErrorCode.GRANT_LIMIT)
    // Declares a size beyond MAX_PIECE_BYTES and sends no body: refused from the header alone.
    const huge = await fx.grant('put', piece.id, { size: MAX_PIECE_BYTES + 1 })
    const reply = await call(client, fx.node.multiaddrs, PROTOCOL_PUT, [
      frame({ grant: huge, piece: piece.id, size: MAX_PIECE_BYTES + 1 })
    ])
    expectCode(reply, ErrorCode.FRAME_TOO_LARGE)
  })
})

describe('grants', () => {
  it('refuses forged, expired, replayed and misdirected grants with their codes', async () => {
    const piece = await randomPiece(4 * KiB)
    const other = await randomPiece(4 * KiB)
    const node = fx.node.peerId.toString()
    const forger = await GrantSigner.create()
    const attempt = async (grant: string, code: string): Promise<void> => {
      expectCode(await put(client, fx.node, { grant, piece: piece.id, bytes: piece.bytes }), code)
    }
    await attempt(await forger.sign('put', piece.id, node), ErrorCode.GRANT_INVALID)
    await attempt('not-a-token', ErrorCode.GRANT_INVALID)
    const past = Date.now() - 3_600_000
    await attempt(await fx.grant('put', piece.id, { iat: past, exp: past + 60_000 }), ErrorCode.GRANT_EXPIRED)
    await attempt(
      await fx.grant('put', piece.id, { node: forger.key.publicKey.toString() }),
      ErrorCode.GRANT_WRONG_NODE
    )
    await attempt(await fx.grant('put', other.id), ErrorCode.GRANT_WRONG_PIECE)
    await attempt(await fx.grant('get', piece.id), ErrorCode.GRANT_WRONG_KIND)
    await attempt(await fx.grant('delete', piece.id), ErrorCode.GRANT_WRONG_KIND)
    expect(fx.node.stats.store.reserved).toBe(0)

    const once = await fx.grant('put', piece.id)
    expectOk(await put(client, fx.node, { grant: once, piece: piece.id, bytes: piece.bytes }))
    await attempt(once, ErrorCode.GRANT_REPLAYED)
    const getOnce = await fx.grant('get', piece.id)
    expectOk(await get(client, fx.node, { grant: getOnce, piece: piece.id }))
    expectCode(await get(client, fx.node, { grant: getOnce, piece: piece.id }), ErrorCode.GRANT_REPLAYED)
  })

  it('lets only one of two concurrent uses of a serial through', async () => {
    const piece = await randomPiece(64 * KiB)
    const grant = await fx.grant('put', piece.id)
    const replies = await Promise.all(
      [0, 1, 2].map(() => put(client, fx.node, { grant, piece: piece.id, bytes: piece.bytes }))
    )
    const ok = replies.filter((r) => r.header.ok === true)
    expect(ok).toHaveLength(1)
    for (const r of replies.filter((r) => r.header.ok !== true)) expectCode(r, ErrorCode.GRANT_REPLAYED)
  })
})

describe('malformed requests', () => {
  it('refuses path-like piece ids with ERR_INVALID_CID on every protocol', async () => {
    const piece = await randomPiece(1000)
    for (const bad of [
      '../../etc/passwd',
      '..',
      'bafk/../../x',
      '/etc/passwd',
      `${piece.id}/../x`,
      piece.id.toUpperCase()
    ]) {
      const grant = await fx.grant('put', piece.id)
      expectCode(await put(client, fx.node, { grant, piece: bad, bytes: piece.bytes }), ErrorCode.INVALID_CID)
      expectCode(
        await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: bad }),
        ErrorCode.INVALID_CID
      )
      expectCode(
        await del(client, fx.node, { grant: await fx.grant('delete', piece.id), piece: bad }),
        ErrorCode.INVALID_CID
      )
    }
  })

  it('answers an oversized header with ERR_FRAME_TOO_LARGE', async () => {
    const body = new Uint8Array(MAX_FRAME_HEADER_BYTES + 1).fill(0x20)
    for (const protocol of [PROTOCOL_PUT, PROTOCOL_GET]) {
      expectCode(await call(client, fx.node.multiaddrs, protocol, [rawFrame(body)]), ErrorCode.FRAME_TOO_LARGE)
    }
    // A length prefix alone, promising a huge header.
    expectCode(
      await call(client, fx.node.multiaddrs, PROTOCOL_PUT, [rawFrame(new Uint8Array(0), 1 << 27)]),
      ErrorCode.FRAME_TOO_LARGE
    )
  })

  it('answers non-JSON and ill-formed headers with ERR_PROTOCOL', async () => {
    const piece = await randomPiece(1000)
    const grant = await fx.grant('put', piece.id)
    const cases = [
      rawFrame(new TextEncoder().encode('this is not json')),
      rawFrame(new Uint8Array([0xff, 0xfe, 0x7b, 0x7d])),
      frame([1, 2, 3]),
      frame({ grant, piece: piece.id }),
      frame({ grant, piece: piece.id, size: -1 }),
      frame({ grant, piece: piece.id, size: 1.5 }),
      frame({ grant: 7, piece: piece.id, size: 1000 })
    ]
    for (const request of cases) {
      expectCode(await call(client, fx.node.multiaddrs, PROTOCOL_PUT, [request]), ErrorCode.PROTOCOL)
    }
    expect(fx.node.stats.store.reserved).toBe(0)
  })

  it('answers a stream that ends inside the header with ERR_TRUNCATED', async () => {
    const whole = encodeFrame({ grant: 'x', piece: 'y', size: 1 })
    expectCode(
      await call(client, fx.node.multiaddrs, PROTOCOL_PUT, [whole.subarray(0, whole.byteLength - 3)]),
      ErrorCode.TRUNCATED
    )
  })

  it('keeps nothing from a truncated body, whether the client closes or resets', async () => {
    const piece = await randomPiece(900 * KiB)
    const before = fx.node.stats.store
    const half = piece.bytes.subarray(0, 400 * KiB)
    const header = frame({ grant: await fx.grant('put', piece.id), piece: piece.id, size: piece.bytes.byteLength })
    expectCode(await call(client, fx.node.multiaddrs, PROTOCOL_PUT, [header, half]), ErrorCode.TRUNCATED)
    expect(fx.node.stats.store).toMatchObject({ used: before.used, pieces: before.pieces, reserved: 0 })
    expect(await tmpFiles()).toEqual([])

    const header2 = frame({ grant: await fx.grant('put', piece.id), piece: piece.id, size: piece.bytes.byteLength })
    await expect(call(client, fx.node.multiaddrs, PROTOCOL_PUT, [header2, half], { reset: true })).rejects.toThrow()
    await waitFor(async () => fx.node.stats.requests.active === 0 && (await tmpFiles()).length === 0, 'cleanup')
    expect(fx.node.stats.store).toMatchObject({ used: before.used, pieces: before.pieces, reserved: 0 })
    expectCode(
      await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id }),
      ErrorCode.PIECE_NOT_FOUND
    )
  })

  it('the node stays healthy after all of this', async () => {
    const piece = await randomPiece(100 * KiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
    const reply = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id })
    expectBytes(reply.body, piece.bytes)
    expect(randomSerial()).not.toBe(randomSerial())
  })
})

describe('delete', () => {
  it('removes the piece and frees its space; a second delete finds nothing; a replayed grant is refused', async () => {
    const piece = await randomPiece(50 * KiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
    const { used, pieces } = fx.node.stats.store
    const grant = await fx.grant('delete', piece.id)
    expect(expectOk(await del(client, fx.node, { grant, piece: piece.id })).existed).toBe(true)
    expect(fx.node.stats.store).toMatchObject({ used: used - piece.bytes.byteLength, pieces: pieces - 1 })
    expectCode(
      await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id }),
      ErrorCode.PIECE_NOT_FOUND
    )
    expectCode(await del(client, fx.node, { grant, piece: piece.id }), ErrorCode.GRANT_REPLAYED)
    const again = await del(client, fx.node, { grant: await fx.grant('delete', piece.id), piece: piece.id })
    expect(expectOk(again).existed).toBe(false)
  })
})
