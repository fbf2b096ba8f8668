import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ReceiptSigner } from '@shoal/client'
import {
  type DownloadGrantsResponse,
  type Grant,
  gibMonths,
  type PayoutStatement,
  type PiecePlacement,
  peekToken,
  type SettlementResponse,
  signToken
} from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parsePeriod } from '../src/billing/metering.ts'
import {
  type AuditOutcome,
  applyAudit,
  type HeldPiece,
  newReputation,
  type ReputationPolicy
} from '../src/ops/reputation.ts'
import { LevelStore } from '../src/store/level-store.ts'
import { PgStore } from '../src/store/pg/pg-store.ts'
import type { Store } from '../src/store/store.ts'
import { expectError, expectOk, FakeNode, signup, startTracker, type TestTracker, uploadObject } from './helpers.ts'
import { createTestDatabase } from './pg-harness.ts'

const MiB = 2 ** 20
const GiB = 2 ** 30
const DAY = 86_400_000
/** ceil((64 MiB + 16-byte GCM tag) / k=2): every piece of a full segment. */
const PIECE = 33_554_440

async function settle(node: FakeNode, t: TestTracker, receipts: { grant: string; receipt: string }[]) {
  const token = await signToken(node.key, { v: 1, kind: 'settlement', node: node.peerId, at: t.clock.now(), receipts })
  return t.request<SettlementResponse>('POST', '/v1/nodes/settlements', { body: { token } })
}

/** Get grants with the client's receipt key for segments [0, count) of an object, 16 segments per request. */
async function grants(t: TestTracker, token: string, objectId: string, count: number, receiptKey: string) {
  const out: DownloadGrantsResponse['segments'] = []
  for (let from = 0; from < count; from += 16) {
    const body = { from, to: Math.min(count, from + 16), receiptKey }
    out.push(
      ...expectOk(await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${objectId}/grants`, { token, body }))
        .segments
    )
  }
  return out.flatMap((s) => s.pieces)
}

/** A tracker on `store` (its own level store when undefined) at 1 April 2030, with `count` nodes that have sent a heartbeat. */
async function aprilNetwork(store: Store | undefined, count: number) {
  const t = await startTracker({
    policy: { k: 2, m: 1, segmentSize: 64 * MiB },
    sessionTtlMs: 90 * DAY,
    ...(store === undefined ? {} : { store })
  })
  const april = Date.UTC(2030, 3, 1)
  t.clock.advance(april - t.clock.now())
  const nodes = await Promise.all(Array.from({ length: count }, () => FakeNode.create(t, 50 * GiB)))
  const beat = async () => {
    for (const n of nodes) expectOk(await n.heartbeat({ capacity: 100 * GiB, used: 50 * GiB }))
  }
  await beat()
  return { t, april, nodes, beat }
}

function simulatedMonth(name: string, store: () => Promise<Store | undefined>) {
  describe(`a simulated month (${name})`, () => {
    it('bills what was stored and downloaded to the micro-unit, pays nodes, and the ledger balances', async () => {
      const { t, nodes, beat } = await aprilNetwork(await store(), 3)
      const { token } = await signup(t)
      expectOk(await t.request('PUT', '/v1/account/plan', { token, body: { plan: 'plus' } }))

      // Day 0: A (6 GiB). Day 10: B (4 GiB), and an upload that fails (aborted: never billed). Day 15: A deleted.
      const a = await uploadObject(t, token, nodes, { size: 6 * GiB })
      t.clock.advance(10 * DAY)
      await beat()
      const b = await uploadObject(t, token, nodes, { size: 4 * GiB })
      const failed = expectOk(
        await t.request<{ uploadId: string }>('POST', '/v1/uploads', {
          token,
          body: { nameHash: 'ZmFpbGVk', meta: 'bWV0YQ', wrappedKey: 'a2V5', nonce: 'AAAAAAAAAAA', size: GiB }
        })
      )
      expectOk(await t.request('DELETE', `/v1/uploads/${failed.uploadId}`, { token }))
      t.clock.advance(5 * DAY)
      expectOk(await t.request('DELETE', `/v1/objects/${a.object.id}`, { token }))

      // Day 15: B downloaded whole, every piece (64 segments x 3 pieces); receipts settled by each node.
      const client = await ReceiptSigner.create()
      const pieces = await grants(t, token, b.object.id, 64, client.receiptKey)
      expect(pieces).toHaveLength(192)
      const byNode = new Map<string, { grant: string; receipt: string }[]>()
      for (const p of pieces) {
        expect((peekToken(p.grant) as Grant).rk).toBe(client.receiptKey)
        const list = byNode.get(p.node.peerId) ?? []
        list.push({ grant: p.grant, receipt: await client.sign(p.grant, PIECE, t.clock.now()) })
        byNode.set(p.node.peerId, list)
      }
      expect([...byNode.values()].map((l) => l.length)).toEqual([64, 64, 64])
      const [n0, n1, n2] = nodes as [FakeNode, FakeNode, FakeNode]
      // Node 0 sends its batch three times at once: each serial is counted once.
      const racing = await Promise.all([0, 1, 2].map(() => settle(n0, t, byNode.get(n0.peerId) ?? [])))
      expect(racing.map((r) => expectOk(r).accepted.length).reduce((x, y) => x + y, 0)).toBe(64)
      for (const n of [n1, n2])
        expect(expectOk(await settle(n, t, byNode.get(n.peerId) ?? [])).accepted).toHaveLength(64)
      // A replay of everything changes nothing.
      for (const n of nodes) {
        const replay = expectOk(await settle(n, t, byNode.get(n.peerId) ?? []))
        expect(replay.accepted).toEqual([])
        expect(new Set(replay.rejected.map((r) => r.reason))).toEqual(new Set(['replayed']))
      }

      // Forged, over-limit, wrong-node and expired receipts are refused, each with its reason.
      const extra = (await grants(t, token, b.object.id, 1, client.receiptKey)).filter(
        (p) => p.node.peerId === n0.peerId
      )
      const grant = extra[0]?.grant as string
      const forger = await ReceiptSigner.create()
      const checks = expectOk(
        await settle(n0, t, [
          { grant, receipt: await forger.sign(grant, PIECE) },
          { grant, receipt: await client.sign(grant, PIECE + 1, t.clock.now()) },
          { grant: byNode.get(n1.peerId)?.[0]?.grant as string, receipt: await client.sign(grant, 1) },
          { grant: `${grant.slice(0, -4)}AAAA`, receipt: await client.sign(grant, 1, t.clock.now()) }
        ])
      )
      expect(checks.accepted).toEqual([])
      expect(checks.rejected.map((r) => r.reason)).toEqual(['forged', 'over-limit', 'forged', 'forged'])
      const late = await grants(t, token, b.object.id, 1, client.receiptKey)
      const lateOwn = late.filter((p) => p.node.peerId === n1.peerId)
      const lateReceipts = await Promise.all(
        lateOwn.map(async (p) => ({ grant: p.grant, receipt: await client.sign(p.grant, PIECE, t.clock.now()) }))
      )
      t.clock.advance(8 * DAY)
      await beat()
      const expired = expectOk(await settle(n1, t, lateReceipts))
      expect(expired.rejected.map((r) => r.reason)).toEqual(['expired'])
      // A forged batch signature is not a settlement at all.
      const stranger = await FakeNode.create(t)
      const wrongSigner = await signToken(stranger.key, {
        v: 1,
        kind: 'settlement',
        node: n0.peerId,
        at: t.clock.now(),
        receipts: []
      })
      expectError(
        await t.request('POST', '/v1/nodes/settlements', { body: { token: wrongSigner } }),
        401,
        'ERR_UNAUTHORIZED'
      )

      /*
       * By hand, plus plan (3,900 micro-units per GiB-month, 6,800 per GiB downloaded; a month is 30 days):
       *   storage: A 6 GiB x 15 days + B 4 GiB x 20 days = 170 GiB-days = 170/30 GiB-months
       *            -> 170 x 3,900 / 30 = 22,100 exactly
       *   download: 192 pieces x 33,554,440 B = 6,442,452,480 B = 6 GiB + 3,072 B
       *            -> floor(6,442,452,480 x 6,800 / 2^30) = floor(40,800.0097) = 40,800
       *   total 62,900 (the aborted upload and the replays add nothing)
       */
      // Month to date (day 23): B has been stored 13 days so far: 90 + 52 = 142 GiB-days -> 142 x 3,900 / 30 = 18,460.
      const usage = expectOk(
        await t.request<{ storageMicros: number; egressMicros: number; totalMicros: number; egressBytes: number }>(
          'GET',
          '/v1/account/usage?period=2030-04',
          { token }
        )
      )
      expect(usage).toMatchObject({ storageMicros: 18_460, egressMicros: 40_800, totalMicros: 59_260 })
      expect(usage.egressBytes).toBe(6_442_452_480)
      // A node's month to date: A 96 pieces x 15 days + B 64 x 13 days = 2,272 piece-days of 33,554,440 B at
      // 1,500 per GiB-month -> floor(3,550.0008) = 3,550; plus 4,000 for its 64 pieces served; 75 % held.
      const earning = expectOk(
        await t.request<{ grossMicros: number; heldMicros: number; month: number }>(
          'GET',
          `/v1/nodes/${n0.peerId}/earnings?period=2030-04`
        )
      )
      expect(earning).toMatchObject({
        month: 1,
        storageMicros: 3_550,
        egressMicros: 4_000,
        grossMicros: 7_550,
        heldMicros: 5_662
      })

      t.clock.advance(Date.UTC(2030, 4, 1) + 2 * 3_600_000 - t.clock.now())
      const april2030 = parsePeriod('2030-04')
      if (april2030 === undefined) throw new Error('bad period')
      // Two closings at once (two trackers' monthly jobs): one invoice, one statement per node.
      const closed = await Promise.all([
        t.tracker.billing.closeMonth(april2030),
        t.tracker.billing.closeMonth(april2030)
      ])
      expect(closed.reduce((sum, c) => sum + c.invoices, 0)).toBe(1)
      expect(closed.reduce((sum, c) => sum + c.payouts, 0)).toBe(3)
      expect(await t.tracker.billing.closeMonth(april2030)).toEqual({ invoices: 0, payouts: 0 })

      const invoice = expectOk(
        await t.request<{
          accountId: string
          totalMicros: number
          storageMicros: number
          egressMicros: number
          plan: string
        }>('GET', '/v1/account/invoices/2030-04', { token })
      )
      expect(invoice).toMatchObject({ plan: 'plus', storageMicros: 22_100, egressMicros: 40_800, totalMicros: 62_900 })
      const csv = await fetch(`${t.url}/v1/account/invoices/2030-04?format=csv`, {
        headers: { authorization: `Bearer ${token}` }
      })
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
      expect((await csv.text()).split('\n')).toContain(`2030-04,${invoice.accountId},plus,total,,,0.062900`)

      /*
       * Each node holds one piece of every segment: A 96 x 15 days + B 64 x 20 days = 2,720 piece-days of
       * 33,554,440 B, at 1,500 per GiB-month -> floor(33,554,440 x 2,720 x 1,500 / (2^30 x 30)) = 4,250;
       * and served 64 pieces = 2,147,484,160 B at 2,000 per GiB -> floor(4,000.0009) = 4,000. First month: 75 %
       * held back: floor(8,250 x 0.75) = 6,187 held, 2,063 paid.
       */
      for (const n of nodes) {
        const statement = expectOk(
          await t.request<{ payouts: unknown[]; totals: { paidMicros: number; heldMicros: number } }>(
            'GET',
            `/v1/nodes/${n.peerId}/payouts`
          )
        )
        expect(statement.payouts).toEqual([
          expect.objectContaining({
            period: '2030-04',
            month: 1,
            storageMicros: 4_250,
            egressMicros: 4_000,
            grossMicros: 8_250,
            heldMicros: 6_187,
            paidMicros: 2_063
          })
        ])
        expect(statement.totals).toEqual({ grossMicros: 8_250, paidMicros: 2_063, heldMicros: 6_187 })
      }

      const balances = await t.tracker.billing.balances()
      expect(Object.values(balances).reduce((x, y) => x + y, 0)).toBe(0)
      expect(balances).toMatchObject({
        [`customer:${invoice.accountId}`]: 62_900,
        'revenue:storage': -22_100,
        'revenue:egress': -40_800,
        'expense:storage': 3 * 4_250,
        'expense:egress': 3 * 4_000,
        [`node:${n0.peerId}`]: -2_063,
        [`held:${n0.peerId}`]: -6_187
      })
    })
  })
}

function proratedMonth(name: string, store: () => Promise<Store | undefined>) {
  describe(`plan changes within a month (${name})`, () => {
    it('prorates storage by the plan of each stretch and downloads by the plan when they settled', async () => {
      const { t, april, nodes, beat } = await aprilNetwork(await store(), 3)
      const { token } = await signup(t)
      const plan = async (id: string) =>
        expectOk(await t.request('PUT', '/v1/account/plan', { token, body: { plan: id } }))
      // Day 0: plus, and A (6 GiB) stored all month. Day 10: pro. Day 15: A downloaded whole. Day 25: plus again.
      await plan('plus')
      const a = await uploadObject(t, token, nodes, { size: 6 * GiB })
      t.clock.advance(10 * DAY)
      await beat()
      await plan('pro')
      t.clock.advance(5 * DAY)
      await beat()
      const client = await ReceiptSigner.create()
      const pieces = await grants(t, token, a.object.id, 96, client.receiptKey)
      expect(pieces).toHaveLength(288)
      for (const n of nodes) {
        const mine = pieces.filter((p) => p.node.peerId === n.peerId)
        const receipts = await Promise.all(
          mine.map(async (p) => ({ grant: p.grant, receipt: await client.sign(p.grant, PIECE, t.clock.now()) }))
        )
        expect(expectOk(await settle(n, t, receipts)).accepted).toHaveLength(mine.length)
      }
      // Day 20, to date: 6 GiB x (10 days plus at 3,900 + 10 days pro at 3,500) / 30 = 14,800; downloads at pro:
      // 288 x 33,554,440 B = 9 GiB + 4,608 B -> floor(9,663,678,720 x 6,000 / 2^30) = 54,000.
      t.clock.advance(5 * DAY)
      await beat()
      const usage = expectOk(
        await t.request<{ plan: string; plans?: unknown[]; storageMicros: number; egressMicros: number }>(
          'GET',
          '/v1/account/usage?period=2030-04',
          { token }
        )
      )
      expect(usage).toMatchObject({ plan: 'pro', storageMicros: 14_800, egressMicros: 54_000 })
      expect(usage.plans).toHaveLength(2)
      t.clock.advance(5 * DAY)
      await beat()
      await plan('plus')

      t.clock.advance(Date.UTC(2030, 4, 1) + 2 * 3_600_000 - t.clock.now())
      const period = parsePeriod('2030-04')
      if (period === undefined) throw new Error('bad period')
      expect(await t.tracker.billing.closeMonth(period)).toMatchObject({ invoices: 1 })
      /*
       * By hand: storage 6 GiB x (10 days plus at 3,900 + 15 days pro at 3,500 + 5 days plus at 3,900) / 30
       * = 6 x 111,000 / 30 = 22,200; downloads 54,000 (settled under pro). Total 76,200. Priced at the closing
       * plan alone (plus) it would have been 23,400 + 61,200 = 84,600.
       */
      const invoice = expectOk(
        await t.request<{ plan: string; plans?: { plan: string; from: number; to: number }[]; totalMicros: number }>(
          'GET',
          '/v1/account/invoices/2030-04',
          { token }
        )
      )
      expect(invoice).toMatchObject({ plan: 'plus', storageMicros: 22_200, egressMicros: 54_000, totalMicros: 76_200 })
      expect(invoice.plans).toEqual([
        { plan: 'plus', from: april, to: april + 10 * DAY },
        { plan: 'pro', from: april + 10 * DAY, to: april + 25 * DAY },
        { plan: 'plus', from: april + 25 * DAY, to: Date.UTC(2030, 4, 1) }
      ])
      const csv = await fetch(`${t.url}/v1/account/invoices/2030-04?format=csv`, {
        headers: { authorization: `Bearer ${token}` }
      })
      expect((await csv.text()).split('\n')).toContain(
        `2030-04,${(invoice as unknown as { accountId: string }).accountId},plus to 2030-04-11T00:00Z then pro to 2030-04-26T00:00Z then plus,total,,,0.076200`
      )
      const balances = await t.tracker.billing.balances()
      expect(Object.values(balances).reduce((x, y) => x + y, 0)).toBe(0)
      expect(balances['revenue:storage']).toBe(-22_200)
      expect(balances['revenue:egress']).toBe(-54_000)
    })
  })
}

simulatedMonth('level', async () => undefined)
simulatedMonth('PostgreSQL', async () => {
  const db = await createTestDatabase()
  onTestFinished(() => db.drop())
  return new PgStore({ url: db.url, migrate: true })
})

proratedMonth('level', async () => undefined)
proratedMonth('PostgreSQL', async () => {
  const db = await createTestDatabase()
  onTestFinished(() => db.drop())
  return new PgStore({ url: db.url, migrate: true })
})

/** Registers `suite` for a fresh level store and for a fresh PostgreSQL database, one per test. */
function onBothStores(suite: (name: string, store: () => Promise<Store>) => void): void {
  suite('level', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-billing-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    return new LevelStore({ location: dir })
  })
  suite('PostgreSQL', async () => {
    const db = await createTestDatabase()
    onTestFinished(() => db.drop())
    return new PgStore({ url: db.url, migrate: true })
  })
}

/** A 64 MiB object (one segment, 3 pieces) stored on a 4-node April network, and the node holding none of it. */
async function oneSegmentObject(s: Store) {
  const { t, nodes, april } = await aprilNetwork(s, 4)
  const { token } = await signup(t)
  const a = await uploadObject(t, token, nodes, { size: 64 * MiB })
  const [segment] = await s.objects.getObjectSegments(a.object.id, 0, 1)
  if (segment === undefined) throw new Error('no segment')
  const spare = nodes.find((n) => !segment.pieces.some((p) => p.node === n.peerId))?.peerId as string
  /** Moves piece `index` to the spare node now, as Repairer does through the store's swap. */
  const moveToSpare = async (index: number) => {
    const after = segment.pieces.map((p) => (p.index === index ? { ...p, node: spare } : p))
    expect(
      await s.objects.updateSegmentPieces({ objectId: a.object.id, index: 0 }, segment.pieces, after, [], t.clock.now())
    ).toBe(true)
  }
  /** Two hours into May: closes April. */
  const closeApril = async () => {
    t.clock.advance(Date.UTC(2030, 4, 1) + 2 * 3_600_000 - t.clock.now())
    const period = parsePeriod('2030-04')
    if (period === undefined) throw new Error('bad period')
    await t.tracker.billing.closeMonth(period)
    return period
  }
  return { t, april, objectId: a.object.id, segment, spare, moveToSpare, closeApril }
}

function movedPieceMonth(name: string, store: () => Promise<Store>) {
  describe(`payouts follow repaired pieces (${name})`, () => {
    it('a piece moved on day 10 is paid to its old node for 10 days and to its new node for 20', async () => {
      const { t, segment, spare, moveToSpare, closeApril } = await oneSegmentObject(await store())
      const holders = segment.pieces.map((p) => p.node)
      const gone = segment.pieces[1]?.node as string
      // Day 10: a repair rebuilds piece 1 on the spare node.
      t.clock.advance(10 * DAY)
      await moveToSpare(1)
      await closeApril()
      /*
       * By hand, 1,500 per GiB-month for a piece of 33,554,440 B: 30 days -> floor(46.875) = 46; the node that
       * lost it on day 10 -> floor(15.625) = 15; the node that got it -> floor(31.25) = 31.
       */
      const storage = async (peerId: string) =>
        expectOk(
          await t.request<{ payouts: { storageMicros: number }[] }>('GET', `/v1/nodes/${peerId}/payouts`)
        ).payouts.map((p) => p.storageMicros)
      expect(await storage(gone)).toEqual([15])
      expect(await storage(spare)).toEqual([31])
      for (const held of holders.filter((h) => h !== gone)) expect(await storage(held)).toEqual([46])
      const balances = await t.tracker.billing.balances()
      expect(Object.values(balances).reduce((x, y) => x + y, 0)).toBe(0)
      expect(balances['expense:storage']).toBe(46 + 46 + 15 + 31)
    })
  })
}

onBothStores(movedPieceMonth)

const POLICY: ReputationPolicy = {
  auditLambda: 0.95,
  auditDisqualify: 0.6,
  uptimeLambda: 0.99,
  vettingAudits: 10,
  auditRetries: 3,
  maxOfflineMs: 30 * DAY
}

/** One audit of `piece` on `node` at `now`, written to the store as the auditor writes it. */
async function audit(s: Store, node: string, piece: string, outcome: AuditOutcome, now: number, held: HeldPiece) {
  const current = (await s.reputations.getReputation(node)) ?? newReputation(node, now, POLICY)
  const next = { ...applyAudit(current, piece, outcome, now, POLICY, held), version: current.version + 1 }
  expect(await s.reputations.putReputation(next)).toBe(true)
}

function failedAuditMonth(name: string, store: () => Promise<Store>) {
  describe(`payouts leave out pieces that failed their audits (${name})`, () => {
    it('a node is not paid for a piece from its failed audit until it passes again, is moved, or the month ends', async () => {
      const s = await store()
      const { t, april, objectId, segment, spare, moveToSpare, closeApril } = await oneSegmentObject(s)
      const [pa, pb, pc] = segment.pieces as [PiecePlacement, PiecePlacement, PiecePlacement]
      const held = { objectId, bytes: PIECE }
      const day = (d: number) => april + d * DAY

      // A fails on day 5 and passes on day 12; B fails on day 20 and stays failed; C fails on day 25 and a
      // repair moves its piece to the spare node on day 27.
      await audit(s, pa.node, pa.cid, 'failed', day(5), held)
      await audit(s, pa.node, pa.cid, 'passed', day(12), held)
      await audit(s, pb.node, pb.cid, 'failed', day(20), held)
      await audit(s, pc.node, pc.cid, 'failed', day(25), held)
      t.clock.advance(day(27) - t.clock.now())
      await moveToSpare(pc.index)
      const period = await closeApril()
      // What the operator is shown for the month is what its statement says.
      const shown = await t.tracker.billing.nodeEarnings(pb.node, period)
      const statement = async (peerId: string) => {
        const { payouts } = expectOk(
          await t.request<{ payouts: PayoutStatement[] }>('GET', `/v1/nodes/${peerId}/payouts`)
        )
        expect(payouts).toHaveLength(1)
        return payouts[0] as PayoutStatement
      }
      /*
       * By hand, 1,500 per GiB-month (30 days) for a piece of 33,554,440 B is 1.5625 a day:
       * A paid 23 days -> floor(35.9375) = 35; B 20 days -> floor(31.25) = 31; C 25 days (27 held, 2 of them
       * after its failed audit) -> floor(39.0625) = 39; the spare node 3 days -> floor(4.6875) = 4.
       */
      const byteDays = (days: number) => (BigInt(PIECE) * BigInt(days * DAY)).toString()
      const sa = await statement(pa.node)
      expect([sa.storageMicros, sa.storageByteMs, sa.failedAuditByteMs]).toEqual([35, byteDays(23), byteDays(7)])
      const sb = await statement(pb.node)
      expect([sb.storageMicros, sb.storageByteMs, sb.failedAuditByteMs]).toEqual([31, byteDays(20), byteDays(10)])
      expect(shown.storageMicros).toBe(31)
      const sc = await statement(pc.node)
      expect([sc.storageMicros, sc.storageByteMs, sc.failedAuditByteMs]).toEqual([39, byteDays(25), byteDays(2)])
      const sd = await statement(spare)
      expect([sd.storageMicros, sd.failedAuditByteMs]).toEqual([4, undefined])
      const csv = await fetch(`${t.url}/v1/nodes/${pb.node}/payouts?format=csv`)
      const [header, row] = (await csv.text()).split('\n')
      expect(header).toContain('stored GiB-months,failed audits GiB-months (unpaid),')
      expect(row).toContain(`,${gibMonths(byteDays(20))},${gibMonths(byteDays(10))},`)
      const balances = await t.tracker.billing.balances()
      expect(Object.values(balances).reduce((x, y) => x + y, 0)).toBe(0)
      expect(balances['expense:storage']).toBe(35 + 31 + 39 + 4)
    })
  })
}

onBothStores(failedAuditMonth)
