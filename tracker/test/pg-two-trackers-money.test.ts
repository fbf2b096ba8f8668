import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ReceiptSigner } from '@shoal/client'
import { type DownloadGrantsResponse, type SettlementResponse, signToken } from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parsePeriod } from '../src/billing/metering.ts'
import { RATE_LIMITS } from '../src/rate-limit.ts'
import { PgStore } from '../src/store/pg/pg-store.ts'
import { expectOk, FakeNode, signup, TEST_POLICY, TestClock, TestTracker, uploadObject } from './helpers.ts'
import { createTestDatabase } from './pg-harness.ts'

const DAY = 86_400_000
const MiB = 2 ** 20
const GiB = 2 ** 30

/**
 * `count` trackers on one fresh database, sharing one data folder (one tracker key) as tracker processes
 * sharing a database do; each has its own PgStore (its own connection pool), so they meet only in PostgreSQL.
 */
async function trackers(count: number): Promise<TestTracker[]> {
  const db = await createTestDatabase()
  const dir = await mkdtemp(join(tmpdir(), 'shoal-pg-money-'))
  const start = Date.UTC(2030, 3, 1)
  const ts = Array.from(
    { length: count },
    () =>
      new TestTracker(dir, new TestClock(start), {
        port: 0,
        policy: { ...TEST_POLICY, segmentSize: 64 * MiB },
        heartbeatIntervalMs: 1000,
        sweepIntervalMs: 3_600_000,
        sessionTtlMs: 90 * DAY,
        store: new PgStore({ url: db.url, migrate: true, maxConnections: 4 })
      })
  )
  onTestFinished(async () => {
    for (const t of ts) await t.tracker.stop()
    await db.drop()
    await rm(dir, { recursive: true, force: true })
  })
  for (const t of ts) await t.tracker.start()
  return ts
}

/**
 * April through the given trackers in turn: two uploads, a delete, a full download whose receipts each node
 * settles through every tracker at once, and every tracker closing the month at the same moment. Returns the
 * ledger with node ids replaced by their rank (each run has new node keys) and times left out.
 */
async function april(ts: TestTracker[]) {
  const at = (i: number) => ts[i % ts.length] as TestTracker
  const advance = (ms: number) => {
    for (const t of ts) t.clock.advance(ms)
  }
  const nodes = await Promise.all([0, 1, 2].map(() => FakeNode.create(at(0), 50 * GiB)))
  const beat = async () => {
    for (const [i, n] of nodes.entries()) {
      // Heartbeats alternate between trackers too: nodes are known to all through the database.
      ;(n as unknown as { t: TestTracker }).t = at(i)
      expectOk(await n.heartbeat({ capacity: 100 * GiB, used: 50 * GiB }))
    }
  }
  await beat()
  const { token } = await signup(at(0))
  expectOk(await at(1).request('PUT', '/v1/account/plan', { token, body: { plan: 'plus' } }))
  const a = await uploadObject(at(0), token, nodes, { size: 2 * GiB })
  advance(10 * DAY)
  await beat()
  const b = await uploadObject(at(1), token, nodes, { size: GiB })
  advance(5 * DAY)
  expectOk(await at(0).request('DELETE', `/v1/objects/${a.object.id}`, { token }))

  const client = await ReceiptSigner.create()
  const body = { from: 0, to: 16, receiptKey: client.receiptKey }
  const grants = expectOk(
    await at(1).request<DownloadGrantsResponse>('POST', `/v1/objects/${b.object.id}/grants`, { token, body })
  ).segments.flatMap((s) => s.pieces)
  expect(grants).toHaveLength(48)
  let accepted = 0
  for (const n of nodes) {
    const receipts = await Promise.all(
      grants
        .filter((g) => g.node.peerId === n.peerId)
        .map(async (g) => ({ grant: g.grant, receipt: await client.sign(g.grant, 30_000, at(0).clock.now()) }))
    )
    const token = await signToken(n.key, { v: 1, kind: 'settlement', node: n.peerId, at: at(0).clock.now(), receipts })
    const answers = await Promise.all(
      [...ts, ...ts].map((t) => t.request<SettlementResponse>('POST', '/v1/nodes/settlements', { body: { token } }))
    )
    accepted += answers.reduce((sum, r) => sum + expectOk(r).accepted.length, 0)
  }
  expect(accepted).toBe(48)

  advance(Date.UTC(2030, 4, 1) + 2 * 3_600_000 - at(0).clock.now())
  const period = parsePeriod('2030-04')
  if (period === undefined) throw new Error('bad period')
  const closed = await Promise.all(
    ts.flatMap((t) => [t.tracker.billing.closeMonth(period), t.tracker.billing.closeMonth(period)])
  )
  expect(closed.reduce((sum, c) => sum + c.invoices, 0)).toBe(1)
  expect(closed.reduce((sum, c) => sum + c.payouts, 0)).toBe(3)

  const rank = new Map(
    [...nodes]
      .map((n) => n.peerId)
      .sort()
      .map((id, i) => [id, `n${i}`])
  )
  const store = (ts[0] as TestTracker).tracker
  const balances = await store.billing.balances()
  const named = Object.entries(balances)
    .map(
      ([ledger, amount]) => [ledger.replace(/^(node|held|customer):.*$/, (_m, kind: string) => kind), amount] as const
    )
    .sort(([x, p], [y, q]) => (x === y ? p - q : x < y ? -1 : 1))
  return { named, total: Object.values(balances).reduce((x, y) => x + y, 0), rank: rank.size }
}

describe('billing with two trackers on one PostgreSQL', () => {
  it('settles and closes a month exactly as one tracker does: same ledger, each serial and invoice once', async () => {
    const two = await april(await trackers(2))
    const one = await april(await trackers(1))
    expect(two).toEqual(one)
    expect(one.total).toBe(0)
    /*
     * By hand, plus plan: A 2 GiB x 15 days + B 1 GiB x 20 days = 50 GiB-days -> 50 x 3,900 / 30 = 6,500;
     * download: 48 receipts x 30,000 B = 1,440,000 B -> floor(1,440,000 x 6,800 / 2^30) = 9. Total 6,509.
     */
    expect(one.named.filter(([ledger]) => ledger === 'customer')).toEqual([['customer', 6_509]])
  })

  it('limits logins once for all trackers: attempts spread over two trackers share one bucket', async () => {
    const [a, b] = (await trackers(2)) as [TestTracker, TestTracker]
    const { email } = await signup(a)
    const wrong = { email, authKey: `${'Q'.repeat(42)}A` }
    const statuses: number[] = []
    for (let i = 0; i < RATE_LIMITS.loginPerEmail.burst + 2; i++) {
      statuses.push((await (i % 2 === 0 ? a : b).request('POST', '/v1/sessions', { body: wrong })).status)
    }
    // The sign-up took no login token: burst wrong passwords, then refusals from whichever tracker is asked.
    expect(statuses.filter((s) => s === 401)).toHaveLength(RATE_LIMITS.loginPerEmail.burst)
    expect(statuses.slice(-2)).toEqual([429, 429])
  })

  it('a session logged out through one tracker stops working on the other within 30 s', async () => {
    const [a, b] = (await trackers(2)) as [TestTracker, TestTracker]
    const { token } = await signup(a)
    // b has seen (and remembers) the session before it is logged out through a.
    expectOk(await b.request('GET', '/v1/account', { token }))
    expectOk(await a.request('DELETE', '/v1/sessions/current', { token }))
    expect((await a.request('GET', '/v1/account', { token })).status).toBe(401)
    for (const t of [a, b]) t.clock.advance(30_000)
    expect((await b.request('GET', '/v1/account', { token })).status).toBe(401)
  })
})
