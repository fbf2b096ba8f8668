import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { ErrorCode, KiB } from '@shoal/core'
import { type Logger, pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, encodePublicKey, NODE_VERSION, type ShoalNode, TRACKER_KEY_FILE } from '../src/index.ts'
import { FakeTracker } from './fake-tracker.ts'
import {
  type Defer,
  del,
  expectCode,
  expectOk,
  GrantSigner,
  get,
  put,
  randomPiece,
  startClient,
  Teardown,
  tempDir,
  waitFor
} from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

async function startTracker(defer: Defer, signer?: GrantSigner, port = 0): Promise<FakeTracker> {
  return new FakeTracker((signer ?? (await GrantSigner.create())).key, port).listen(defer)
}

async function nodeFor(
  defer: Defer,
  tracker: { url: string },
  dir: string,
  start = true,
  logger?: Logger
): Promise<ShoalNode> {
  const node = await createNode({
    dataDir: dir,
    trackerUrl: tracker.url,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    ...(logger === undefined ? {} : { logger })
  })
  defer(() => node.stop())
  if (start) await node.start()
  return node
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('tracker link', () => {
  it('pins the tracker key at first contact and heartbeats at once with a signed report', async () => {
    const tracker = await startTracker(teardown.defer)
    const dir = await tempDir(teardown.defer)
    const node = await nodeFor(teardown.defer, tracker, dir)
    expect((await readFile(join(dir, TRACKER_KEY_FILE), 'utf8')).trim()).toBe(encodePublicKey(tracker.key.publicKey))

    const beat = await waitFor(() => tracker.heartbeats[0], 'first heartbeat')
    expect(beat).toMatchObject({
      v: 1,
      kind: 'heartbeat',
      node: node.peerId.toString(),
      capacity: 10 * 1024 ** 3,
      used: 0,
      version: NODE_VERSION,
      deleted: []
    })
    expect(beat.addrs.length).toBeGreaterThan(0)
    for (const addr of beat.addrs) expect(addr).not.toContain('/p2p/')
    expect(beat.free).toBeGreaterThan(0)
    expect(beat.free).toBeLessThanOrEqual(beat.capacity)
    expect(Math.abs(beat.at - Date.now())).toBeLessThan(10_000)
    // Later heartbeats follow the interval the tracker asked for (200 ms here).
    await waitFor(() => tracker.heartbeats.length >= 3, 'more heartbeats')
  })

  it('carries out delete orders from heartbeats, reports their serials once acknowledged, and skips bad orders', async () => {
    const signer = await GrantSigner.create()
    const tracker = await startTracker(teardown.defer, signer)
    const node = await nodeFor(teardown.defer, tracker, await tempDir(teardown.defer))
    const client = await startClient(teardown.defer)
    const peer = node.peerId.toString()
    const [doomed, kept] = await Promise.all([randomPiece(20 * KiB), randomPiece(20 * KiB)])
    for (const p of [doomed, kept]) {
      expectOk(await put(client, node, { grant: await signer.sign('put', p.id, peer), piece: p.id, bytes: p.bytes }))
    }
    const forger = await GrantSigner.create()
    tracker.deletes = [
      { piece: doomed.id, grant: await signer.sign('delete', doomed.id, peer, { serial: 'delete-serial-1' }) },
      { piece: kept.id, grant: await forger.sign('delete', kept.id, peer, { serial: 'forged-serial-1' }) },
      { piece: '../escape', grant: await signer.sign('delete', kept.id, peer) }
    ]
    const reported = await waitFor(
      () => tracker.heartbeats.find((h) => h.deleted.includes('delete-serial-1')),
      'heartbeat reporting the delete'
    )
    expect(reported.deleted).not.toContain('forged-serial-1')
    tracker.deletes = []
    expect(node.stats.store.pieces).toBe(1)
    expectCode(
      await get(client, node, { grant: await signer.sign('get', doomed.id, peer), piece: doomed.id }),
      ErrorCode.PIECE_NOT_FOUND
    )
    expectOk(await get(client, node, { grant: await signer.sign('get', kept.id, peer), piece: kept.id }))
    // Acknowledged: the next heartbeats no longer carry it.
    const seen = tracker.heartbeats.length
    await waitFor(() => tracker.heartbeats.length >= seen + 2, 'two more heartbeats')
    expect(tracker.heartbeats.slice(seen + 1).every((h) => h.deleted.length === 0)).toBe(true)
  })

  it('reports deletes clients sent directly, and treats a repeated order as done', async () => {
    const signer = await GrantSigner.create()
    const tracker = await startTracker(teardown.defer, signer)
    const node = await nodeFor(teardown.defer, tracker, await tempDir(teardown.defer))
    const client = await startClient(teardown.defer)
    const peer = node.peerId.toString()
    const piece = await randomPiece(KiB)
    expectOk(
      await put(client, node, { grant: await signer.sign('put', piece.id, peer), piece: piece.id, bytes: piece.bytes })
    )
    const grant = await signer.sign('delete', piece.id, peer, { serial: 'direct-delete-1' })
    expectOk(await del(client, node, { grant, piece: piece.id }))
    await waitFor(() => tracker.heartbeats.some((h) => h.deleted.includes('direct-delete-1')), 'reported direct delete')
    // The tracker sends the same grant again (its copy of the order): carried out idempotently, reported again.
    tracker.deletes = [{ piece: piece.id, grant }]
    const before = tracker.heartbeats.length
    await waitFor(
      () => tracker.heartbeats.slice(before).some((h) => h.deleted.includes('direct-delete-1')),
      'repeated order reported'
    )
  })

  it('waits for an unreachable tracker at first start, then pins its key', async () => {
    const port = await freePort()
    const signer = await GrantSigner.create()
    const dir = await tempDir(teardown.defer)
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    const node = await nodeFor(teardown.defer, { url: `http://127.0.0.1:${port}` }, dir, false, logger)
    const starting = node.start()
    // Nothing listens yet: the node keeps retrying (and saying so) instead of failing.
    await waitFor(() => lines.filter((l) => String(l.msg).startsWith('tracker unreachable')).length >= 2, 'retries')
    expect(node.status).toBe('starting')
    const tracker = await startTracker(teardown.defer, signer, port)
    await starting
    expect((await readFile(join(dir, TRACKER_KEY_FILE), 'utf8')).trim()).toBe(encodePublicKey(signer.key.publicKey))
    await waitFor(() => tracker.heartbeats.length > 0, 'heartbeat')
  })

  it('serves with its pinned key while the tracker is down, and heartbeats once it is back', async () => {
    const signer = await GrantSigner.create()
    const tracker = await startTracker(teardown.defer, signer)
    const dir = await tempDir(teardown.defer)
    const first = new Teardown()
    await nodeFor(first.defer, tracker, dir)
    await first.run()

    tracker.down = true
    const before = tracker.heartbeats.length
    const node = await nodeFor(teardown.defer, tracker, dir)
    const client = await startClient(teardown.defer)
    const piece = await randomPiece(KiB)
    const peer = node.peerId.toString()
    expectOk(
      await put(client, node, { grant: await signer.sign('put', piece.id, peer), piece: piece.id, bytes: piece.bytes })
    )
    tracker.down = false
    await waitFor(() => tracker.heartbeats.length > before, 'heartbeat after the tracker is back', 40_000)
  })

  it('refuses to start when the tracker presents a key other than the pinned one', async () => {
    const dir = await tempDir(teardown.defer)
    const first = new Teardown()
    const original = await startTracker(first.defer)
    await nodeFor(first.defer, original, dir)
    await first.run()

    const impostor = await startTracker(teardown.defer)
    const node = await nodeFor(teardown.defer, impostor, dir, false)
    await expect(node.start()).rejects.toMatchObject({ code: ErrorCode.CONFLICT })
    expect(node.status).toBe('stopped')
  })

  it('connects to the peers a heartbeat names', async () => {
    const tracker = await startTracker(teardown.defer)
    const a = await nodeFor(teardown.defer, tracker, await tempDir(teardown.defer))
    const b = await nodeFor(teardown.defer, tracker, await tempDir(teardown.defer))
    tracker.peers = [a, b].map((n) => ({
      peerId: n.peerId.toString(),
      addrs: n.multiaddrs.map((ma) => ma.toString().replace(/\/p2p\/.*$/, ''))
    }))
    await waitFor(() => a.libp2p.getConnections(b.peerId).length > 0, 'a connected to b')
  })
})

describe('stopping while starting', () => {
  it('stop() cancels a start that is waiting for an unreachable tracker', async () => {
    const node = await nodeFor(
      teardown.defer,
      { url: `http://127.0.0.1:${await freePort()}` },
      await tempDir(teardown.defer),
      false
    )
    const starting = node.start()
    starting.catch(() => undefined)
    await node.stop()
    await expect(starting).rejects.toMatchObject({ code: ErrorCode.ABORTED })
    expect(node.status).toBe('stopped')
  })
})
