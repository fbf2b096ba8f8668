import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  ByteReader,
  ErrorCode,
  KiB,
  MAX_PIECE_BYTES,
  MiB,
  PROTOCOL_GET,
  PROTOCOL_PUT,
  readRequiredFrame
} from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, IDENTITY_FILE, READ_HIGH_WATER_BYTES, STREAM_WINDOW_BYTES } from '../src/index.ts'
import {
  boundedPut,
  del,
  expectBytes,
  expectCode,
  expectOk,
  frame,
  GrantSigner,
  get,
  put,
  randomPiece,
  startClient,
  startNode,
  startPieceServer,
  Teardown,
  tempDir,
  waitFor
} from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

describe('capacity', () => {
  it('refuses a put beyond capacity with ERR_NODE_FULL and takes it once space is freed', async () => {
    const fx = await startNode(teardown.defer, { capacity: 1 * MiB })
    const client = await startClient(teardown.defer)
    const [a, b] = await Promise.all([randomPiece(600 * KiB), randomPiece(600 * KiB)])
    expectOk(await put(client, fx.node, { grant: await fx.grant('put', a.id), piece: a.id, bytes: a.bytes }))
    expectCode(
      await put(client, fx.node, { grant: await fx.grant('put', b.id), piece: b.id, bytes: b.bytes }),
      ErrorCode.NODE_FULL
    )
    expect(fx.node.stats.store).toMatchObject({ used: 600 * KiB, reserved: 0, pieces: 1 })
    expectOk(await del(client, fx.node, { grant: await fx.grant('delete', a.id), piece: a.id }))
    expectOk(await put(client, fx.node, { grant: await fx.grant('put', b.id), piece: b.id, bytes: b.bytes }))
  })

  it('lets exactly one of two concurrent puts into the last free space', async () => {
    const fx = await startNode(teardown.defer, { capacity: 1 * MiB })
    const client = await startClient(teardown.defer)
    const [a, b] = await Promise.all([randomPiece(600 * KiB), randomPiece(600 * KiB)])
    const replies = await Promise.all(
      [a, b].map(async (p) => put(client, fx.node, { grant: await fx.grant('put', p.id), piece: p.id, bytes: p.bytes }))
    )
    expect(replies.filter((r) => r.header.ok === true)).toHaveLength(1)
    expect(replies.filter((r) => r.header.code === ErrorCode.NODE_FULL)).toHaveLength(1)
    expect(fx.node.stats.store).toMatchObject({ used: 600 * KiB, reserved: 0 })
  })
})

describe('restart', () => {
  it('keeps its peer id, its pieces and its used serials across a restart', async () => {
    const dir = await tempDir(teardown.defer)
    const tracker = await GrantSigner.create()
    const client = await startClient(teardown.defer)
    const piece = await randomPiece(256 * KiB)

    const first = new Teardown()
    const fx = await startNode(first.defer, { dataDir: dir, tracker })
    const putGrant = await fx.grant('put', piece.id)
    const getGrant = await fx.grant('get', piece.id)
    expectOk(await put(client, fx.node, { grant: putGrant, piece: piece.id, bytes: piece.bytes }))
    expectOk(await get(client, fx.node, { grant: getGrant, piece: piece.id }))
    const peerId = fx.node.peerId.toString()
    await first.run()
    expect(fx.node.status).toBe('stopped')
    expect((await stat(join(dir, IDENTITY_FILE))).mode & 0o777).toBe(0o600)

    const again = await startNode(teardown.defer, { dataDir: dir, tracker })
    expect(again.node.peerId.toString()).toBe(peerId)
    expect(again.node.stats.store).toMatchObject({ pieces: 1, used: piece.bytes.byteLength })
    const reply = await get(client, again.node, { grant: await again.grant('get', piece.id), piece: piece.id })
    expectBytes(reply.body, piece.bytes)
    expectCode(
      await put(client, again.node, { grant: putGrant, piece: piece.id, bytes: piece.bytes }),
      ErrorCode.GRANT_REPLAYED
    )
    expectCode(await get(client, again.node, { grant: getGrant, piece: piece.id }), ErrorCode.GRANT_REPLAYED)
  })

  it('start and stop are idempotent, and a stopped node can start again', async () => {
    const fx = await startNode(teardown.defer)
    await Promise.all([fx.node.start(), fx.node.start()])
    expect(fx.node.status).toBe('started')
    await Promise.all([fx.node.stop(), fx.node.stop()])
    expect(fx.node.status).toBe('stopped')
    expect(fx.node.multiaddrs).toEqual([])
    await fx.node.start()
    const client = await startClient(teardown.defer)
    const piece = await randomPiece(KiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
  })

  it('refuses to start under a tracker key other than the pinned one', async () => {
    const dir = await tempDir(teardown.defer)
    const first = new Teardown()
    await startNode(first.defer, { dataDir: dir })
    await first.run()
    const impostor = await GrantSigner.create()
    const node = await createNode({ dataDir: dir, trackerPublicKey: impostor.key.publicKey, listen: [] })
    await expect(node.start()).rejects.toMatchObject({ code: ErrorCode.CONFLICT })
    expect(node.status).toBe('stopped')
  })
})

describe('egress limit', () => {
  it('paces downloads to the configured rate', async () => {
    const rate = 2 * MiB
    const fx = await startNode(teardown.defer, { egressLimit: rate })
    const client = await startClient(teardown.defer)
    const piece = await randomPiece(3 * MiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
    const started = performance.now()
    const reply = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id })
    const seconds = (performance.now() - started) / 1000
    expectBytes(reply.body, piece.bytes)
    // 3 MiB at 2 MiB/s, less one 256 KiB slice of burst: at least ~1.37 s. Only a generous lower bound.
    expect(seconds).toBeGreaterThan(1.0)
  })
})

describe('slow readers', () => {
  it('a client that stops reading does not make the node read the piece into memory', async () => {
    const fx = await startNode(teardown.defer, { capacity: 256 * MiB })
    const client = await startClient(teardown.defer, { maxStreamWindowSize: 1 * MiB })
    const piece = await randomPiece(48 * MiB)
    expectOk(
      await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes })
    )
    const before = fx.node.stats.requests.bytesOut
    const stream = await client.dialProtocol(fx.node.multiaddrs, PROTOCOL_GET)
    stream.maxReadBufferLength = 64 * MiB
    const reader = new ByteReader(stream)
    stream.send(frame({ grant: await fx.grant('get', piece.id), piece: piece.id }))
    await stream.close()
    const header = await readRequiredFrame(reader, 'response')
    expect(header).toMatchObject({ ok: true, size: piece.bytes.byteLength })
    // Read a little (window updates flow, libp2p signals 'drain' to the node's writer), then stop reading.
    const head = Buffer.from(await reader.readExactly(2 * MiB))
    stream.pause()

    let last = -1
    let steady = 0
    await waitFor(() => {
      const out = fx.node.stats.requests.bytesOut - before
      steady = out === last ? steady + 1 : 0
      last = out
      return steady >= 20
    }, 'the node to stop reading from disk')
    // What was read plus the client's 1 MiB window plus the node's 1 MiB write-buffer bound and a slice or two.
    expect(last).toBeLessThan(6 * MiB)

    stream.resume()
    const rest = Buffer.from(await reader.readExactly(piece.bytes.byteLength - head.byteLength))
    expectBytes(Buffer.concat([head, rest]), piece.bytes)
  })
})

describe('large puts from a bounded sender', () => {
  it('stores a 48 MiB piece sent through sendBounded to a slow disk, never resetting the stream', async () => {
    // 24 MB/s: the disk is far slower than loopback, so the node pauses and resumes the stream many times.
    const server = await startPieceServer(teardown.defer, { diskRate: 24e6 })
    const client = await startClient(teardown.defer)
    const piece = await randomPiece(48 * MiB)
    const reply = await boundedPut(client, server.libp2p.getMultiaddrs(), {
      grant: await server.grant('put', piece.id),
      piece: piece.id,
      bytes: piece.bytes
    })
    expect(typeof expectOk(reply).receipt).toBe('string')
    expect(server.resets).toBe(0)
    expect(server.consumed).toBe(piece.bytes.byteLength)
    // Memory per stream stays bounded: what a paused stream still receives (one window) plus what one resume
    // hands over (another window) plus the reader's high-water mark; nowhere near the piece.
    expect(server.peakHeld).toBeGreaterThan(READ_HIGH_WATER_BYTES)
    expect(server.peakHeld).toBeLessThanOrEqual(2 * STREAM_WINDOW_BYTES + READ_HIGH_WATER_BYTES)
  })

  it('stores a largest possible piece sent through sendBounded to a running node at full speed', async () => {
    const fx = await startNode(teardown.defer, { capacity: 256 * MiB })
    const client = await startClient(teardown.defer)
    const piece = await randomPiece(MAX_PIECE_BYTES)
    const reply = await boundedPut(client, fx.node.multiaddrs, {
      grant: await fx.grant('put', piece.id),
      piece: piece.id,
      bytes: piece.bytes
    })
    expectOk(reply)
    const back = await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id })
    expectBytes(back.body, piece.bytes)
  })
})

describe('limits and shutdown', () => {
  /** Starts a put that sends its header and part of the body, then stalls with the stream open. */
  async function stalledPut(
    fx: Awaited<ReturnType<typeof startNode>>,
    client: Awaited<ReturnType<typeof startClient>>
  ) {
    const piece = await randomPiece(512 * KiB)
    const stream = await client.dialProtocol(fx.node.multiaddrs, PROTOCOL_PUT)
    stream.send(frame({ grant: await fx.grant('put', piece.id), piece: piece.id, size: piece.bytes.byteLength }))
    stream.send(piece.bytes.subarray(0, 100 * KiB))
    await waitFor(async () => (await readdir(join(fx.dir, 'tmp'))).length === 1, 'the put to be under way')
    return stream
  }

  it('sheds requests beyond maxConcurrentRequests with ERR_NODE_OVERLOADED', async () => {
    const fx = await startNode(teardown.defer, { maxConcurrentRequests: 1 })
    const client = await startClient(teardown.defer)
    const stream = await stalledPut(fx, client)
    const piece = await randomPiece(KiB)
    expectCode(
      await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id }),
      ErrorCode.NODE_OVERLOADED
    )
    stream.abort(new Error('done'))
    await waitFor(() => fx.node.stats.requests.active === 0, 'the stalled put to end')
    expectCode(
      await get(client, fx.node, { grant: await fx.grant('get', piece.id), piece: piece.id }),
      ErrorCode.PIECE_NOT_FOUND
    )
  })

  it('aborts a request whose peer goes silent and removes its partial piece', async () => {
    const fx = await startNode(teardown.defer, { idleTimeoutMs: 300 })
    const client = await startClient(teardown.defer)
    const stream = await stalledPut(fx, client)
    await waitFor(() => stream.status !== 'open', 'the node to reset the stream')
    await waitFor(async () => (await readdir(join(fx.dir, 'tmp'))).length === 0, 'the partial file to go')
    expect(fx.node.stats.store).toMatchObject({ reserved: 0, used: 0 })
    expect(fx.node.stats.requests.active).toBe(0)
  })

  it('stop() ends requests in flight and leaves no partial piece', async () => {
    const fx = await startNode(teardown.defer)
    const client = await startClient(teardown.defer)
    await stalledPut(fx, client)
    await fx.node.stop()
    expect(await readdir(join(fx.dir, 'tmp'))).toEqual([])
    expect(fx.node.status).toBe('stopped')
  })
})

describe('data folder', () => {
  it('refuses to start a second node on a folder in use', async () => {
    const fx = await startNode(teardown.defer)
    const second = await createNode({ dataDir: fx.dir, trackerPublicKey: fx.tracker.key.publicKey, listen: [] })
    await expect(second.start()).rejects.toMatchObject({ code: ErrorCode.CONFLICT })
  })
})
