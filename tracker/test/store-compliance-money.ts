import { ErrorCode } from '@shoal/core'
import { expect, it } from 'vitest'
import type {
  AuditRecord,
  InvoiceRecord,
  LedgerEntry,
  ObjectRecord,
  PayoutRecord,
  SettlementRecord,
  Store,
  UploadRecord
} from '../src/store/store.ts'
import { accountRecord, codeOf, uploadRecord } from './store-compliance.ts'

let n = 0
const audit = (accountId: string, at: number, event = 'test'): AuditRecord => ({
  id: `${String(at).padStart(16, '0')}-${++n}`,
  accountId,
  at,
  event
})

function settlement(serial: string, over: Partial<SettlementRecord> = {}): SettlementRecord {
  return { serial, node: 'nodeA', account: 'acct', piece: 'piece', bytes: 100, grantExp: 50, settledAt: 10, ...over }
}

function objectOf(upload: UploadRecord, createdAt: number): ObjectRecord {
  const { overwrite: _o, expiresAt: _e, minCommitPieces: _m, ...rest } = upload
  return { ...rest, createdAt }
}

function invoice(accountId: string, period: string, total: number): InvoiceRecord {
  return {
    accountId,
    period,
    from: 0,
    to: 1,
    plan: 'free',
    storageByteMs: '0',
    egressBytes: 0,
    storageMicros: total,
    egressMicros: 0,
    totalMicros: total,
    issuedAt: 1,
    txn: `inv-${accountId}-${period}`
  }
}

function entries(txn: string, amount: number, debit: string, credit: string): LedgerEntry[] {
  return [
    { txn, ledger: debit, amount, at: 1, memo: 'm' },
    { txn, ledger: credit, amount: -amount, at: 1, memo: 'm' }
  ]
}

/** The money side of every Store (docs/billing.md); called from runStoreCompliance with its `open`. */
export function moneyCompliance(open: () => Promise<{ store: Store }>): void {
  it('changes plans atomically, refusing a downgrade below what the account holds, and logs it', async () => {
    const { store } = await open()
    const account = accountRecord({ quota: 1000, used: 300 })
    await store.accounts.createAccount(account)
    await store.uploads.beginUpload(uploadRecord(account.id, { size: 200 }))
    const up = await store.accounts.changePlan(account.id, 'plus', 5000, audit(account.id, 5, 'plan-changed'))
    expect(up).toMatchObject({ plan: 'plus', quota: 5000, used: 300, reserved: 200 })
    expect(await store.accounts.getAccount(account.id)).toMatchObject({ plan: 'plus', quota: 5000 })
    const refused = await store.accounts.changePlan(account.id, 'free', 499, audit(account.id, 6)).catch((e) => e)
    expect(refused).toMatchObject({ code: ErrorCode.QUOTA_EXCEEDED, details: { quota: 499, used: 500 } })
    expect(await store.accounts.getAccount(account.id)).toMatchObject({ plan: 'plus', quota: 5000 })
    await store.accounts.changePlan(account.id, 'free', 500, audit(account.id, 7, 'plan-changed'))
    await store.accounts.appendAudit(audit(account.id, 8, 'login'))
    await store.accounts.appendAudit(audit('someone-else', 9, 'login'))
    expect((await store.accounts.listAudit(account.id, 10)).map((a) => [a.at, a.event])).toEqual([
      [8, 'login'],
      [7, 'plan-changed'],
      [5, 'plan-changed']
    ])
    expect(await store.accounts.listAudit(account.id, 1)).toHaveLength(1)
    // The refused downgrade left no plan change behind; `before` is exclusive.
    expect(await store.accounts.listPlanChanges(account.id, 100)).toEqual([
      { accountId: account.id, at: 5, to: 'plus' },
      { accountId: account.id, at: 7, from: 'plus', to: 'free' }
    ])
    expect(await store.accounts.listPlanChanges(account.id, 7)).toHaveLength(1)
    expect(await store.accounts.listPlanChanges('someone-else', 100)).toEqual([])
    const plain = accountRecord()
    await store.accounts.createAccount(plain)
    expect(await store.accounts.getAccount(plain.id)).toEqual(plain)

    // Password and recovery key changes touch only their half of the account (docs/decisions.md).
    const recovery = { authSalt: 'rs', authHash: 'rh', wrappedMasterKey: 'rw', createdAt: 11 }
    const withRecovery = accountRecord({ email: 'recovery@example.com', recovery })
    await store.accounts.createAccount(withRecovery)
    expect(await store.accounts.getAccount(withRecovery.id)).toEqual(withRecovery)
    const auth = { authSalt: 'new-salt', authHash: 'new-hash', wrappedMasterKey: 'new-wrap' }
    await store.accounts.updateAccountKeys(withRecovery.id, { auth }, audit(withRecovery.id, 12, 'password-changed'))
    expect(await store.accounts.getAccountByEmail('recovery@example.com')).toEqual({ ...withRecovery, ...auth })
    const next = { ...recovery, authHash: 'rh2', createdAt: 13 }
    await store.accounts.updateAccountKeys(plain.id, { recovery: next }, audit(plain.id, 13, 'recovery-key-set'))
    expect(await store.accounts.getAccount(plain.id)).toEqual({ ...plain, recovery: next })
    expect((await store.accounts.listAudit(plain.id, 1))[0]?.event).toBe('recovery-key-set')
    expect(await codeOf(store.accounts.updateAccountKeys('missing', { auth }, audit('missing', 14)))).toBe(
      ErrorCode.UNAUTHORIZED
    )
  })

  it('keeps API keys by hash, lists them, and revokes one once, only by its owner', async () => {
    const { store } = await open()
    const account = accountRecord()
    await store.accounts.createAccount(account)
    const key = {
      id: 'key1AAAA',
      accountId: account.id,
      hash: 'hash1',
      name: 'backup script',
      scopes: ['read' as const],
      createdAt: 2
    }
    const other = { ...key, id: 'key2AAAA', hash: 'hash2', scopes: ['read' as const, 'write' as const], createdAt: 3 }
    await store.accounts.createApiKey(other, audit(account.id, 3, 'api-key-created'))
    await store.accounts.createApiKey(key, audit(account.id, 2, 'api-key-created'))
    expect(await store.accounts.getApiKeyByHash('hash1')).toEqual(key)
    expect(await store.accounts.getApiKeyByHash('nope')).toBeUndefined()
    expect((await store.accounts.listApiKeys(account.id)).map((k) => k.id)).toEqual(['key1AAAA', 'key2AAAA'])
    expect(await store.accounts.revokeApiKey('intruder', key.id, 4, audit('intruder', 4))).toBe(false)
    expect(await store.accounts.revokeApiKey(account.id, key.id, 5, audit(account.id, 5, 'api-key-revoked'))).toBe(true)
    expect(await store.accounts.revokeApiKey(account.id, key.id, 6, audit(account.id, 6, 'api-key-revoked'))).toBe(
      false
    )
    expect(await store.accounts.getApiKeyByHash('hash1')).toEqual({ ...key, revokedAt: 5 })
    expect((await store.accounts.listAudit(account.id, 10)).map((a) => a.event)).toEqual([
      'api-key-revoked',
      'api-key-created',
      'api-key-created'
    ])
  })

  it('settles each serial once, also under concurrency and within one batch', async () => {
    const { store } = await open()
    expect(
      await store.ledger.settle([settlement('s1'), settlement('s2', { node: 'nodeB', account: 'other' })])
    ).toEqual(['s1', 's2'])
    expect(await store.ledger.settle([settlement('s1', { bytes: 999 }), settlement('s3', { settledAt: 20 })])).toEqual([
      's3'
    ])
    expect(await store.ledger.settle([settlement('s4'), settlement('s4', { bytes: 7 })])).toEqual(['s4'])
    const racing = await Promise.all([0, 1, 2, 3].map(() => store.ledger.settle([settlement('s5', { settledAt: 30 })])))
    expect(racing.flat()).toEqual(['s5'])
    const all = await store.ledger.listSettlements({ from: 0, to: 100 })
    expect(all.map((s) => s.serial).sort()).toEqual(['s1', 's2', 's3', 's4', 's5'])
    expect(all.find((s) => s.serial === 's1')?.bytes).toBe(100)
    expect(all.find((s) => s.serial === 's4')?.bytes).toBe(100)
    expect((await store.ledger.listSettlements({ from: 0, to: 100, node: 'nodeB' })).map((s) => s.serial)).toEqual([
      's2'
    ])
    expect((await store.ledger.listSettlements({ from: 0, to: 100, account: 'other' })).map((s) => s.serial)).toEqual([
      's2'
    ])
    expect((await store.ledger.listSettlements({ from: 20, to: 30 })).map((s) => s.serial)).toEqual(['s3'])
    expect(await store.ledger.settle([])).toEqual([])
  })

  it('opens a storage span when an object commits and closes it when it is replaced or deleted', async () => {
    const { store } = await open()
    const account = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(account)
    const first = uploadRecord(account.id, { size: 100, segmentCount: 1 })
    await store.uploads.beginUpload(first)
    await store.uploads.commitUpload({
      uploadId: first.id,
      object: objectOf(first, 1000),
      segments: [],
      deletes: [],
      nodeBytes: { nodeA: 60, nodeB: 60 }
    })
    const aborted = uploadRecord(account.id, { size: 5000 })
    await store.uploads.beginUpload(aborted)
    await store.uploads.abortUpload(aborted.id, [])
    const second = uploadRecord(account.id, { size: 40, segmentCount: 1, nameHash: first.nameHash, overwrite: true })
    await store.uploads.beginUpload(second)
    await store.uploads.commitUpload({
      uploadId: second.id,
      object: objectOf(second, 3000),
      segments: [],
      replaces: first.id,
      deletes: []
    })
    const third = uploadRecord(account.id, { size: 7, segmentCount: 1 })
    await store.uploads.beginUpload(third)
    await store.uploads.commitUpload({ uploadId: third.id, object: objectOf(third, 4000), segments: [], deletes: [] })
    await store.objects.deleteObject(third.id, [], 6000)
    // The replaced object lived on as an older version (billed) until it was purged at 3500.
    await store.objects.deleteObject(first.id, [], 3500)

    const spans = await store.ledger.listStorageSpans({ from: 0, to: 10_000 })
    const byId = new Map(spans.map((s) => [s.objectId, s]))
    expect(spans).toHaveLength(3)
    expect(byId.get(first.id)).toEqual({
      objectId: first.id,
      account: account.id,
      size: 100,
      nodes: { nodeA: 60, nodeB: 60 },
      from: 1000,
      to: 3500
    })
    expect(byId.get(second.id)).toEqual({ objectId: second.id, account: account.id, size: 40, nodes: {}, from: 3000 })
    expect(byId.get(third.id)).toMatchObject({ size: 7, from: 4000, to: 6000 })
    expect((await store.ledger.listStorageSpans({ from: 3500, to: 4000 })).map((s) => s.objectId)).toEqual([second.id])
    expect((await store.ledger.listStorageSpans({ from: 6000, to: 9000 })).map((s) => s.objectId)).toEqual([second.id])
    expect(await store.ledger.listStorageSpans({ from: 0, to: 10_000, account: 'someone-else' })).toEqual([])
  })

  it("reads one node's spans and moves of a period, and nothing of other nodes", async () => {
    const { store } = await open()
    const account = accountRecord({ quota: 10_000 })
    await store.accounts.createAccount(account)
    const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    const commit = async (node: string, at: number): Promise<string> => {
      const upload = uploadRecord(account.id, { size: 10, segmentCount: 1 })
      await store.uploads.beginUpload(upload)
      await store.uploads.commitUpload({
        uploadId: upload.id,
        object: objectOf(upload, at),
        segments: [{ index: 0, pieces: [{ index: 0, cid, node }] }],
        deletes: [],
        nodeBytes: { [node]: 60 }
      })
      return upload.id
    }
    const onA = await commit('nodeA', 1000)
    const movedToC = await commit('nodeB', 1000)
    const piece = { index: 0, cid, node: 'nodeB' }
    expect(
      await store.objects.updateSegmentPieces(
        { objectId: movedToC, index: 0 },
        [piece],
        [{ ...piece, node: 'nodeC' }],
        [],
        2000
      )
    ).toBe(true)
    const goneBefore = await commit('nodeC', 100)
    await store.objects.deleteObject(goneBefore, [], 500)

    const forC = await store.ledger.listNodeStorage('nodeC', 1000, 10_000)
    expect(forC.spans.map((s) => s.objectId)).toEqual([movedToC])
    expect(forC.moves).toHaveLength(1)
    expect(forC.moves[0]).toMatchObject({ objectId: movedToC, from: 'nodeB', to: 'nodeC', at: 2000 })
    expect((await store.ledger.listNodeStorage('nodeB', 1000, 10_000)).spans.map((s) => s.objectId)).toEqual([movedToC])
    expect(await store.ledger.listNodeStorage('nodeA', 1000, 10_000)).toEqual({
      spans: [{ objectId: onA, account: account.id, size: 10, nodes: { nodeA: 60 }, from: 1000 }],
      moves: []
    })
    expect((await store.ledger.listNodeStorage('nodeC', 0, 600)).spans.map((s) => s.objectId)).toEqual([goneBefore])
    expect(await store.ledger.listNodeStorage('nodeZ', 0, 10_000)).toEqual({ spans: [], moves: [] })

    // Who the period [1000, 10000) bills: by span, by move (nodeC), by settlement (nodeD, payer); page by page.
    await store.ledger.settle([settlement('s9', { node: 'nodeD', account: 'payer', settledAt: 5000 })])
    await store.ledger.settle([settlement('s8', { node: 'nodeE', account: 'late', settledAt: 10_000 })])
    const billable = async (kind: 'accounts' | 'nodes', limit: number) => {
      const pages: string[][] = []
      for (let after: string | undefined; ; ) {
        const page = await store.ledger.listBillable(kind, 1000, 10_000, {
          limit,
          ...(after === undefined ? {} : { after })
        })
        if (page.length === 0) return pages
        pages.push(page)
        after = page.at(-1)
      }
    }
    expect(await billable('nodes', 2)).toEqual([
      ['nodeA', 'nodeB'],
      ['nodeC', 'nodeD']
    ])
    expect((await billable('accounts', 10)).flat()).toEqual([account.id, 'payer'].sort())
    expect(await store.ledger.listBillable('nodes', 100, 600, { limit: 10 })).toEqual(['nodeC'])
  })

  it('closes an invoice or a payout once per period, posting its ledger entries with it', async () => {
    const { store } = await open()
    const racing = await Promise.all(
      [0, 1, 2].map(() =>
        store.ledger.closeInvoice(
          invoice('acct1', '2026-11', 500),
          entries('inv-1', 500, 'customer:acct1', 'revenue:storage')
        )
      )
    )
    expect(racing.filter(Boolean)).toHaveLength(1)
    expect(await store.ledger.getInvoice('acct1', '2026-11')).toEqual(invoice('acct1', '2026-11', 500))
    expect(await store.ledger.getInvoice('acct1', '2026-10')).toBeUndefined()
    await store.ledger.closeInvoice(
      invoice('acct1', '2026-12', 300),
      entries('inv-2', 300, 'customer:acct1', 'revenue:egress')
    )
    expect((await store.ledger.listInvoices('acct1')).map((i) => i.period)).toEqual(['2026-11', '2026-12'])
    const payout: PayoutRecord = {
      node: 'nodeA',
      period: '2026-11',
      from: 0,
      to: 1,
      month: 1,
      storageByteMs: '10',
      egressBytes: 5,
      storageMicros: 100,
      egressMicros: 20,
      grossMicros: 120,
      heldMicros: 90,
      paidMicros: 30,
      issuedAt: 2,
      txn: 'pay-1'
    }
    const legs: LedgerEntry[] = [
      { txn: 'pay-1', ledger: 'expense:storage', amount: 120, at: 2, memo: 'p' },
      { txn: 'pay-1', ledger: 'node:nodeA', amount: -30, at: 2, memo: 'p' },
      { txn: 'pay-1', ledger: 'held:nodeA', amount: -90, at: 2, memo: 'p' }
    ]
    expect(await store.ledger.closePayout(payout, legs)).toBe(true)
    expect(await store.ledger.closePayout({ ...payout, paidMicros: 1 }, legs)).toBe(false)
    expect(await store.ledger.listPayouts('nodeA')).toEqual([payout])
    const ledger = await store.ledger.listLedger()
    expect(ledger.map((e) => [e.txn, e.ledger, e.amount])).toEqual([
      ['inv-1', 'customer:acct1', 500],
      ['inv-1', 'revenue:storage', -500],
      ['inv-2', 'customer:acct1', 300],
      ['inv-2', 'revenue:egress', -300],
      ['pay-1', 'expense:storage', 120],
      ['pay-1', 'node:nodeA', -30],
      ['pay-1', 'held:nodeA', -90]
    ])
    expect(ledger.reduce((sum, e) => sum + e.amount, 0)).toBe(0)
    expect((await store.ledger.listLedger('customer:')).map((e) => e.amount)).toEqual([500, 300])
  })

  it('rate-limits by token buckets: a refill per period, all keys or none, and no extra token under concurrency', async () => {
    const { store } = await open()
    const rule = { burst: 2, refillMs: 1000 }
    const a = [{ key: 'login:1.2.3.4', rule }]
    expect(await store.coordination.takeRateTokens(a, 0)).toBe(0)
    expect(await store.coordination.takeRateTokens(a, 0)).toBe(0)
    expect(await store.coordination.takeRateTokens(a, 0)).toBe(1000)
    expect(await store.coordination.takeRateTokens(a, 600)).toBe(400)
    expect(await store.coordination.takeRateTokens(a, 1000)).toBe(0)
    expect(await store.coordination.takeRateTokens(a, 1000)).toBe(1000)

    // One short key refuses the whole request and takes nothing from the others.
    const b = { key: 'login-email:x@example.com', rule: { burst: 1, refillMs: 5000 } }
    expect(await store.coordination.takeRateTokens([b], 1000)).toBe(0)
    const other = { key: 'login:5.6.7.8', rule }
    expect(await store.coordination.takeRateTokens([other, b], 1000)).toBe(5000)
    expect(await store.coordination.takeRateTokens([other], 1000)).toBe(0)
    expect(await store.coordination.takeRateTokens([other], 1000)).toBe(0)
    expect(await store.coordination.takeRateTokens([other], 1000)).toBeGreaterThan(0)

    // Twenty attempts at once on a bucket of five: exactly five get through.
    const c = [{ key: 'signup:9.9.9.9', rule: { burst: 5, refillMs: 60_000 } }]
    const waits = await Promise.all(Array.from({ length: 20 }, () => store.coordination.takeRateTokens(c, 2000)))
    expect(waits.filter((w) => w === 0)).toHaveLength(5)
    expect(waits.filter((w) => w === 60_000)).toHaveLength(15)
  })
}
