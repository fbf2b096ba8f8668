import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import {
  ErrorCode,
  grantFromPayload,
  MAX_SETTLEMENT_RECEIPTS,
  MAX_SETTLEMENT_TOKEN_LENGTH,
  openTokenWithLimit,
  PROTOCOL_RECEIPTS,
  receiptKeyId,
  type SettlementPayload,
  type SettlementResponse,
  signGetReceipt
} from '@shoal/core'
import { Level } from 'level'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Settler, type SettlerOptions } from '../src/settlement.ts'
import { call, type Defer, frame, GrantSigner, randomPiece, startClient, Teardown, tempDir } from './helpers.ts'

const teardown = new Teardown()
afterEach(async () => {
  vi.useRealTimers()
  await teardown.run()
})

const logger = pino({ level: 'silent' })
const DAY = 24 * 3_600_000

/**
 * The tracker's settlement endpoint over real HTTP, reduced to what the node relies on: it checks the node's
 * signature, records every batch, credits each serial once (later ones are rejected as replayed, as the real
 * tracker does), and can be down.
 */
class SettlementEndpoint {
  readonly batches: SettlementPayload['receipts'][] = []
  readonly credited = new Map<string, string>()
  down = false
  /** Serials to reject as invalid. */
  readonly reject = new Set<string>()
  url = ''

  static async start(defer: Defer): Promise<SettlementEndpoint> {
    const endpoint = new SettlementEndpoint()
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        endpoint
          .#answer(req.url ?? '', Buffer.concat(chunks).toString('utf8'))
          .then(([status, body]) => {
            res.writeHead(status, { 'content-type': 'application/json' })
            res.end(JSON.stringify(body))
          })
          .catch((err: unknown) => {
            res.writeHead(500)
            res.end(String(err))
          })
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    defer(() => new Promise((resolve) => server.close(resolve)))
    endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    return endpoint
  }

  get receipts(): SettlementPayload['receipts'] {
    return this.batches.flat()
  }

  async #answer(url: string, body: string): Promise<[number, unknown]> {
    if (url !== '/v1/nodes/settlements') return [404, { error: 'not found' }]
    if (this.down) return [503, { error: 'down' }]
    const token = (JSON.parse(body) as { token: string }).token
    const [payloadPart] = token.split('.')
    const claimed = JSON.parse(Buffer.from(payloadPart ?? '', 'base64url').toString('utf8')) as SettlementPayload
    const key = peerIdFromString(claimed.node).publicKey
    if (key === undefined) return [400, { error: 'no key' }]
    const payload = (await openTokenWithLimit(
      token,
      key,
      ErrorCode.UNAUTHORIZED,
      'settlement',
      MAX_SETTLEMENT_TOKEN_LENGTH
    )) as SettlementPayload
    this.batches.push(payload.receipts)
    const response: SettlementResponse = { accepted: [], rejected: [] }
    payload.receipts.forEach(({ grant, receipt }, index) => {
      const serial = (
        JSON.parse(Buffer.from(grant.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
          serial: string
        }
      ).serial
      if (this.reject.has(serial)) {
        response.rejected.push({ serial, index, reason: 'invalid', message: 'rejected by the test' })
      } else if (this.credited.has(serial)) {
        response.rejected.push({ serial, index, reason: 'replayed', message: `serial ${serial} is settled` })
      } else {
        this.credited.set(serial, receipt)
        response.accepted.push(serial)
      }
    })
    return [200, response]
  }
}

interface World {
  dir: string
  tracker: GrantSigner
  nodeKey: PrivateKey
  peerId: string
  clientKey: PrivateKey
  endpoint: SettlementEndpoint
}

async function world(): Promise<World> {
  const nodeKey = await generateKeyPair('Ed25519')
  return {
    dir: await tempDir(teardown.defer),
    tracker: await GrantSigner.create(),
    nodeKey,
    peerId: peerIdFromPrivateKey(nodeKey).toString(),
    clientKey: await generateKeyPair('Ed25519'),
    endpoint: await SettlementEndpoint.start(teardown.defer)
  }
}

/** Opens the node's index; close() stands in for a crash when no settler was stopped first. */
async function openDb(w: World): Promise<Level<string, string>> {
  const db = new Level<string, string>(join(w.dir, 'index'))
  await db.open()
  teardown.defer(() => db.close())
  return db
}

async function startSettler(w: World, db: Level<string, string>, options: SettlerOptions = {}): Promise<Settler> {
  const settler = new Settler(
    {
      peerId: w.peerId,
      privateKey: w.nodeKey,
      trackerKey: w.tracker.key.publicKey,
      trackerUrl: w.endpoint.url,
      logger,
      db
    },
    // Settled by flush() in these tests unless one asks for the quiet timer.
    { intervalMs: 3_600_000, quietMs: 0, ...options }
  )
  await settler.start()
  return settler
}

interface Delivery {
  serial: string
  grant: string
  receipt: string
}

/** A get grant for the node with the client's receipt key, and the client's receipt for `bytes` of it. */
async function delivery(w: World, bytes: number, grant?: { serial: string; grant: string; piece: string }) {
  const piece = grant?.piece ?? (await randomPiece(16)).id
  let serial = grant?.serial
  let token = grant?.grant
  if (token === undefined || serial === undefined) {
    serial = `serial-${Math.random().toString(36).slice(2, 12)}`
    token = await w.tracker.sign('get', piece, w.peerId, {
      serial,
      rk: receiptKeyId(w.clientKey.publicKey)
    })
  }
  const receipt = await signGetReceipt(w.clientKey, {
    v: 1,
    kind: 'get',
    serial,
    node: w.peerId,
    piece,
    bytes,
    at: Date.now()
  })
  return { serial, grant: token, receipt, piece } satisfies Delivery & { piece: string }
}

async function diskSerials(db: Level<string, string>): Promise<string[]> {
  return db.sublevel<string, unknown>('receipts', { valueEncoding: 'json' }).keys().all()
}

describe('Settler: the receipt queue on disk', () => {
  it('settles receipts acknowledged before a crash exactly once, after the restart', async () => {
    const w = await world()
    // The node's side of the receipts protocol on real libp2p, as a client meets it.
    const db = await openDb(w)
    const settler = await startSettler(w, db)
    const server = await createLibp2p({
      privateKey: w.nodeKey,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()]
    })
    teardown.defer(() => server.stop())
    await server.handle(PROTOCOL_RECEIPTS, settler.handle)
    const client = await startClient(teardown.defer)
    const sent = await Promise.all([100, 200, 300].map((bytes) => delivery(w, bytes)))
    const forged = await delivery({ ...w, tracker: await GrantSigner.create() }, 50)
    const reply = await call(
      client,
      server.getMultiaddrs(),
      PROTOCOL_RECEIPTS,
      [...sent, forged].map(({ grant, receipt }) => frame({ grant, receipt }))
    )
    expect(reply.header).toEqual({ queued: 3 })
    expect(settler.stats.queued).toBe(3)
    // Crash: the settler never stops (no final settlement), the database just goes away.
    await server.stop()
    await db.close()
    expect(w.endpoint.batches).toHaveLength(0)

    const db2 = await openDb(w)
    const restarted = await startSettler(w, db2)
    expect(restarted.stats.queued).toBe(3)
    await restarted.stop()
    expect(w.endpoint.batches).toHaveLength(1)
    expect([...w.endpoint.credited.keys()].sort()).toEqual(sent.map((d) => d.serial).sort())
    expect(restarted.stats).toEqual({ queued: 0, settled: 3, settledBytes: 600, rejected: 0 })
    expect(await diskSerials(db2)).toEqual([])

    // Started again: nothing left to settle, nothing sent twice.
    const again = await startSettler(w, db2)
    expect(again.stats.queued).toBe(0)
    await again.flush()
    await again.stop()
    expect(w.endpoint.batches).toHaveLength(1)
    expect(w.endpoint.receipts).toHaveLength(3)
  })

  it('keeps receipts while the tracker is down and settles them once it answers', async () => {
    const w = await world()
    const db = await openDb(w)
    w.endpoint.down = true
    const settler = await startSettler(w, db)
    const sent = await Promise.all([10, 20].map((bytes) => delivery(w, bytes)))
    for (const d of sent) expect(await settler.add(d.grant, d.receipt)).toBe(true)
    await expect(settler.flush()).rejects.toMatchObject({ code: ErrorCode.TRACKER_UNREACHABLE })
    // stop() tries once more, fails, and keeps them on disk.
    await settler.stop()
    expect(await diskSerials(db)).toHaveLength(2)

    w.endpoint.down = false
    const next = await startSettler(w, db)
    expect(next.stats.queued).toBe(2)
    await next.flush()
    expect(next.stats).toEqual({ queued: 0, settled: 2, settledBytes: 30, rejected: 0 })
    await next.stop()
    expect(w.endpoint.credited.size).toBe(2)
    expect(await diskSerials(db)).toEqual([])
  })

  it('settles soon after receipts stop coming, long before the interval', async () => {
    const w = await world()
    const db = await openDb(w)
    const settler = await startSettler(w, db, { quietMs: 2_000 })
    const first = await delivery(w, 10)
    expect(await settler.add(first.grant, first.receipt)).toBe(true)
    // Receipts arriving closer together than quietMs postpone it: a steady download settles in batches.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(w.endpoint.credited.size).toBe(0)
    const second = await delivery(w, 20)
    expect(await settler.add(second.grant, second.receipt)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(w.endpoint.credited.size).toBe(0)
    // Then quiet: both settle together, with the hour-long interval far away.
    await expect.poll(() => settler.stats.settled, { timeout: 10_000 }).toBe(2)
    expect(w.endpoint.credited.size).toBe(2)
    expect(settler.stats).toMatchObject({ queued: 0, settled: 2, settledBytes: 30 })
    expect(w.endpoint.batches).toHaveLength(1)
    await settler.stop()
  })

  it('settles a steady stream of receipts within maxDelayMs, without waiting for quiet or the interval', async () => {
    const w = await world()
    const db = await openDb(w)
    // Never quiet (receipts every 100 ms, quiet needs an hour): only the delay cap can settle them.
    const settler = await startSettler(w, db, { quietMs: 3_600_000, maxDelayMs: 1_000 })
    let sent = 0
    while (settler.stats.settled === 0 && sent < 200) {
      const next = await delivery(w, 10)
      expect(await settler.add(next.grant, next.receipt)).toBe(true)
      sent++
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // Settled while receipts were still coming, in a batch, not one call per receipt.
    expect(settler.stats.settled).toBeGreaterThan(0)
    expect(sent).toBeLessThan(200)
    expect(w.endpoint.batches.length).toBeLessThan(sent)
    await settler.stop()
  })

  it('queues a receipt the get stream already verified, under the same limits as a delivered one', async () => {
    const w = await world()
    const db = await openDb(w)
    w.endpoint.down = true
    const settler = await startSettler(w, db)
    const d = await delivery(w, 100)
    const grant = grantFromPayload(
      JSON.parse(Buffer.from(d.grant.split('.')[0] as string, 'base64url').toString('utf8'))
    )
    // More than the grant allows, nothing, another node's grant, one past what the tracker settles: refused.
    expect(await settler.addVerified(d.grant, grant, d.receipt, grant.size + 1)).toBe(false)
    expect(await settler.addVerified(d.grant, grant, d.receipt, 0)).toBe(false)
    expect(await settler.addVerified(d.grant, { ...grant, node: 'someone-else' }, d.receipt, 100)).toBe(false)
    expect(await settler.addVerified(d.grant, { ...grant, exp: Date.now() - 9 * DAY }, d.receipt, 100)).toBe(false)
    expect(settler.stats.queued).toBe(0)
    expect(await settler.addVerified(d.grant, grant, d.receipt, 100)).toBe(true)
    expect(settler.stats.queued).toBe(1)
    await settler.stop()

    w.endpoint.down = false
    const next = await startSettler(w, db)
    await next.stop()
    expect(w.endpoint.receipts).toEqual([{ grant: d.grant, receipt: d.receipt }])
    expect(next.stats).toMatchObject({ settled: 1, settledBytes: 100 })
  })

  it('settles a replaced receipt once, the one covering the most bytes', async () => {
    const w = await world()
    const db = await openDb(w)
    w.endpoint.down = true
    const settler = await startSettler(w, db)
    const first = await delivery(w, 100)
    const larger = await delivery(w, 250, first)
    const smaller = await delivery(w, 150, first)
    expect(await settler.add(first.grant, first.receipt)).toBe(true)
    expect(await settler.add(larger.grant, larger.receipt)).toBe(true)
    expect(await settler.add(smaller.grant, smaller.receipt)).toBe(true)
    expect(settler.stats.queued).toBe(1)
    await settler.stop()
    expect(await diskSerials(db)).toEqual([first.serial])

    w.endpoint.down = false
    const next = await startSettler(w, db)
    await next.stop()
    expect(w.endpoint.receipts).toEqual([{ grant: first.grant, receipt: larger.receipt }])
    expect(next.stats).toMatchObject({ settled: 1, settledBytes: 250 })
  })

  it('junk claiming more bytes cannot displace a valid receipt (issue 12)', async () => {
    const w = await world()
    const db = await openDb(w)
    w.endpoint.down = true
    const settler = await startSettler(w, db)
    const valid = await delivery(w, 100, undefined)
    expect(await settler.add(valid.grant, valid.receipt)).toBe(true)
    // Signed by another key, for far more bytes: refused before it touches the queue.
    const forger = await generateKeyPair('Ed25519')
    const grant = JSON.parse(Buffer.from(valid.grant.split('.')[0] as string, 'base64url').toString()) as {
      piece: string
      size: number
    }
    const junk = await signGetReceipt(forger, {
      v: 1,
      kind: 'get',
      serial: valid.serial,
      node: w.peerId,
      piece: grant.piece,
      bytes: 10_000,
      at: Date.now()
    })
    expect(await settler.add(valid.grant, junk)).toBe(false)
    expect(await settler.add(valid.grant, 'not.a-receipt')).toBe(false)
    // More bytes than the grant allows, even signed by the right key: refused too.
    const over = await delivery(w, grant.size + 1, { serial: valid.serial, grant: valid.grant, piece: grant.piece })
    expect(await settler.add(over.grant, over.receipt)).toBe(false)
    await settler.stop()

    w.endpoint.down = false
    const next = await startSettler(w, db)
    await next.stop()
    expect(w.endpoint.receipts).toEqual([{ grant: valid.grant, receipt: valid.receipt }])
  })

  it('drops the oldest receipts beyond maxQueued, from disk too', async () => {
    const w = await world()
    const db = await openDb(w)
    w.endpoint.down = true
    const settler = await startSettler(w, db, { maxQueued: 2 })
    const [a, b, c] = await Promise.all([1, 2, 3].map((bytes) => delivery(w, bytes)))
    if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable')
    for (const d of [a, b, c]) await settler.add(d.grant, d.receipt)
    expect(settler.stats.queued).toBe(2)
    expect((await diskSerials(db)).sort()).toEqual([b.serial, c.serial].sort())
    // A replaced receipt is the newest: `b` replaced, then `d` added, drops `c`.
    await settler.add(b.grant, (await delivery(w, 20, b)).receipt)
    const d = await delivery(w, 4)
    await settler.add(d.grant, d.receipt)
    expect((await diskSerials(db)).sort()).toEqual([b.serial, d.serial].sort())
    await settler.stop()

    // A restart with a smaller bound trims what is on disk to it.
    w.endpoint.down = false
    const next = await startSettler(w, db, { maxQueued: 1 })
    expect(next.stats.queued).toBe(1)
    expect(await diskSerials(db)).toEqual([d.serial])
    await next.stop()
    expect(w.endpoint.receipts.map((r) => r.grant)).toEqual([d.grant])
  })

  it('deletes receipts the tracker rejects', async () => {
    const w = await world()
    const db = await openDb(w)
    const settler = await startSettler(w, db)
    const good = await delivery(w, 5)
    const bad = await delivery(w, 6)
    w.endpoint.reject.add(bad.serial)
    for (const d of [good, bad]) expect(await settler.add(d.grant, d.receipt)).toBe(true)
    await settler.flush()
    expect(settler.stats).toEqual({ queued: 0, settled: 1, settledBytes: 5, rejected: 1 })
    expect(await diskSerials(db)).toEqual([])
    await settler.stop()
    expect(w.endpoint.batches).toHaveLength(1)
  })

  it("drops receipts whose grants are past the tracker's settlement window without sending them", async () => {
    const w = await world()
    const db = await openDb(w)
    const settler = await startSettler(w, db)
    const piece = (await randomPiece(16)).id
    const serial = 'serial-long-expired'
    const grant = await w.tracker.sign('get', piece, w.peerId, {
      serial,
      rk: receiptKeyId(w.clientKey.publicKey),
      iat: Date.now() - 10 * DAY,
      exp: Date.now() - 9 * DAY
    })
    const old = await delivery(w, 7, { serial, grant, piece })
    expect(await settler.add(old.grant, old.receipt)).toBe(false)
    const aging = await delivery(w, 8)
    expect(await settler.add(aging.grant, aging.receipt)).toBe(true)
    expect(await diskSerials(db)).toEqual([aging.serial])
    // Nine days on, its grant (valid for a minute) expired more than the tracker's 7 days ago.
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 9 * DAY)
    await settler.stop()
    expect(await diskSerials(db)).toEqual([])
    expect(settler.stats).toEqual({ queued: 0, settled: 0, settledBytes: 0, rejected: 0 })
    expect(w.endpoint.batches).toHaveLength(0)
  })

  it('settles a long queue in batches of MAX_SETTLEMENT_RECEIPTS', async () => {
    const w = await world()
    const db = await openDb(w)
    w.endpoint.down = true
    const settler = await startSettler(w, db)
    const count = MAX_SETTLEMENT_RECEIPTS + 3
    const piece = (await randomPiece(16)).id
    for (let i = 0; i < count; i++) {
      const serial = `serial-batch-${i}`
      const grant = await w.tracker.sign('get', piece, w.peerId, { serial, rk: receiptKeyId(w.clientKey.publicKey) })
      expect(await settler.add(grant, (await delivery(w, 1, { serial, grant, piece })).receipt)).toBe(true)
    }
    await settler.stop()
    w.endpoint.down = false
    const next = await startSettler(w, db)
    expect(next.stats.queued).toBe(count)
    await next.flush()
    await next.stop()
    expect(w.endpoint.batches.map((b) => b.length)).toEqual([MAX_SETTLEMENT_RECEIPTS, 3])
    expect(w.endpoint.credited.size).toBe(count)
    expect(next.stats).toMatchObject({ queued: 0, settled: count })
  })
})
