import type {
  InvoiceRecord,
  LedgerEntry,
  PayoutRecord,
  PieceMove,
  SettlementRecord,
  StorageSpan
} from '../money-records.ts'
import type { ObjectRecord, ReceiptKeyRecord } from '../records.ts'
import { openSpan, spanEnd } from '../rules.ts'
import type { BillableKind, IdPage, LedgerStore } from '../store.ts'
import { K, type LevelDb, type Op, range, settlementIndexOps, time } from './level-db.ts'

/** The writes that open an object's storage span (commitUpload), indexed by account. */
export function startSpanOps(object: ObjectRecord, nodes?: Record<string, number>): Op[] {
  return [
    { type: 'put', key: K.span(object.id), value: openSpan(object, nodes) },
    { type: 'put', key: K.spanAccount(object.owner, object.id), value: object.id }
  ]
}

/** The writes that close an object's storage span at `at`; a closed span stays as it is. */
export async function endSpanOps(db: LevelDb, objectId: string, at: number): Promise<Op[]> {
  const span = await db.get<StorageSpan>(K.span(objectId))
  if (span === undefined || span.to !== undefined) return []
  return [{ type: 'put', key: K.span(objectId), value: { ...span, to: spanEnd(span, at) } }]
}

/** The writes that record piece moves (updateSegmentPieces). */
export function moveOps(moves: readonly PieceMove[]): Op[] {
  return moves.map((move): Op => ({ type: 'put', key: K.move(move), value: move }))
}

export class LevelLedger implements LedgerStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  settle(records: readonly SettlementRecord[]): Promise<string[]> {
    return this.#db.locks.run('money:settle', async () => {
      const existing = await this.#db.level.getMany(records.map((r) => K.settlement(r.serial)))
      const fresh = new Map<string, SettlementRecord>()
      records.forEach((r, i) => {
        if (existing[i] === undefined && !fresh.has(r.serial)) fresh.set(r.serial, r)
      })
      const ops: Op[] = []
      for (const r of fresh.values()) {
        ops.push({ type: 'put', key: K.settlement(r.serial), value: r }, ...settlementIndexOps(r))
      }
      await this.#db.batch(ops)
      return [...fresh.keys()]
    })
  }

  bindReceiptKey(record: ReceiptKeyRecord): Promise<string> {
    return this.#db.locks.run(K.receiptKey(record.key), async () => {
      const bound = await this.#db.get<ReceiptKeyRecord>(K.receiptKey(record.key))
      if (bound !== undefined) return bound.holder
      await this.#db.batch([{ type: 'put', key: K.receiptKey(record.key), value: record }])
      return record.holder
    })
  }

  async receiptKeyHolders(keys: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(keys)]
    const records = (await this.#db.level.getMany(unique.map(K.receiptKey))) as (ReceiptKeyRecord | undefined)[]
    return new Map(records.filter((r) => r !== undefined).map((r) => [r.key, r.holder]))
  }

  async listSettlements(filter: {
    account?: string
    node?: string
    from: number
    to: number
  }): Promise<SettlementRecord[]> {
    // The narrowest index that answers: one account's or one node's settlements of the period, else all of it.
    const prefix =
      filter.account !== undefined
        ? `settle-account:${filter.account}:`
        : filter.node !== undefined
          ? `settle-node:${filter.node}:`
          : 'settle-time:'
    const serials = (await this.#db.level
      .values({ gte: `${prefix}${time(filter.from)}:`, lt: `${prefix}${time(filter.to)}:` })
      .all()) as string[]
    const records = await this.#db.many<SettlementRecord>(serials.map(K.settlement))
    return records.filter(
      (r) =>
        (filter.account === undefined || r.account === filter.account) &&
        (filter.node === undefined || r.node === filter.node)
    )
  }

  async listStorageSpans(filter: { account?: string; from: number; to: number }): Promise<StorageSpan[]> {
    const spans =
      filter.account === undefined
        ? await this.#db.values<StorageSpan>('span:')
        : await this.#db.many<StorageSpan>(
            (await this.#db.values<string>(`span-account:${filter.account}:`)).map(K.span)
          )
    return spans.filter(
      (s) =>
        (filter.account === undefined || s.account === filter.account) &&
        s.from < filter.to &&
        (s.to === undefined || s.to > filter.from)
    )
  }

  async listPieceMoves(objectIds: readonly string[]): Promise<PieceMove[]> {
    const out: PieceMove[] = []
    for (const id of new Set(objectIds)) out.push(...(await this.#db.values<PieceMove>(`move:${id}:`)))
    return out.sort((a, b) => a.at - b.at)
  }

  async listNodeStorage(node: string, from: number, to: number): Promise<{ spans: StorageSpan[]; moves: PieceMove[] }> {
    // No index by node here (it would need an upgrade of every span): both prefixes are streamed, and only what
    // names the node is kept.
    const moved = new Set<string>()
    for await (const m of this.#db.level.values(range('move:')) as AsyncIterable<PieceMove>) {
      if (m.from === node || m.to === node) moved.add(m.objectId)
    }
    const spans: StorageSpan[] = []
    for await (const s of this.#db.level.values(range('span:')) as AsyncIterable<StorageSpan>) {
      const overlaps = s.from < to && (s.to === undefined || s.to > from)
      if (overlaps && (s.nodes[node] !== undefined || moved.has(s.objectId))) spans.push(s)
    }
    return { spans, moves: await this.listPieceMoves(spans.map((s) => s.objectId)) }
  }

  async listBillable(kind: BillableKind, from: number, to: number, page: IdPage): Promise<string[]> {
    // Streams the spans, the period's settlements (and for nodes the moves), keeping only the page's ids.
    const picked = new PageOfIds(page.after, page.limit)
    const overlaps = (s: StorageSpan | undefined) =>
      s !== undefined && s.from < to && (s.to === undefined || s.to > from)
    for await (const s of this.#db.level.values(range('span:')) as AsyncIterable<StorageSpan>) {
      if (!overlaps(s)) continue
      if (kind === 'accounts') picked.add(s.account)
      else for (const node of Object.keys(s.nodes)) picked.add(node)
    }
    if (kind === 'nodes') {
      for await (const m of this.#db.level.values(range('move:')) as AsyncIterable<PieceMove>) {
        if (m.to !== undefined && picked.wants(m.to) && overlaps(await this.#db.get(K.span(m.objectId)))) {
          picked.add(m.to)
        }
      }
    }
    const serials = this.#db.level.values({ gte: `settle-time:${time(from)}:`, lt: `settle-time:${time(to)}:` })
    let batch: string[] = []
    const flush = async () => {
      for (const r of await this.#db.many<SettlementRecord>(batch.map(K.settlement))) {
        picked.add(kind === 'accounts' ? r.account : r.node)
      }
      batch = []
    }
    for await (const serial of serials as AsyncIterable<string>) {
      batch.push(serial)
      if (batch.length >= 500) await flush()
    }
    await flush()
    return picked.ids
  }

  /** Ledger entries get consecutive sequence numbers under the money lock, so their order is posting order. */
  async #post(ops: Op[], entries: readonly LedgerEntry[]): Promise<void> {
    let seq = (await this.#db.get<number>('meta:ledger-seq')) ?? 0
    for (const entry of entries) ops.push({ type: 'put', key: K.ledger(++seq), value: entry })
    ops.push({ type: 'put', key: 'meta:ledger-seq', value: seq })
  }

  /** Writes `key` and posts `entries` unless `key` exists (a statement is closed once). */
  #closeOnce(key: string, value: unknown, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#db.locks.run('money:ledger', async () => {
      if ((await this.#db.get(key)) !== undefined) return false
      const ops: Op[] = [{ type: 'put', key, value }]
      await this.#post(ops, entries)
      await this.#db.batch(ops)
      return true
    })
  }

  closeInvoice(invoice: InvoiceRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#closeOnce(K.invoice(invoice.accountId, invoice.period), invoice, entries)
  }

  getInvoice(accountId: string, period: string): Promise<InvoiceRecord | undefined> {
    return this.#db.get(K.invoice(accountId, period))
  }

  listInvoices(accountId: string): Promise<InvoiceRecord[]> {
    return this.#db.values(`invoice:${accountId}:`)
  }

  closePayout(payout: PayoutRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#closeOnce(K.payout(payout.node, payout.period), payout, entries)
  }

  listPayouts(node: string): Promise<PayoutRecord[]> {
    return this.#db.values(`payout:${node}:`)
  }

  async listLedger(prefix = ''): Promise<LedgerEntry[]> {
    const entries = await this.#db.values<LedgerEntry>('ledger:')
    return entries.filter((e) => e.ledger.startsWith(prefix))
  }
}

/** The `limit` smallest distinct ids after `after` (bytewise) of a stream: memory bounded by the page. */
class PageOfIds {
  readonly ids: string[] = []
  readonly #after: string
  readonly #limit: number

  constructor(after: string | undefined, limit: number) {
    this.#after = after ?? ''
    this.#limit = limit
  }

  wants(id: string): boolean {
    if (id <= this.#after) return false
    const last = this.ids.at(-1)
    return this.ids.length < this.#limit || last === undefined || id < last
  }

  add(id: string): void {
    if (!this.wants(id)) return
    let i = this.ids.length
    while (i > 0 && (this.ids[i - 1] as string) > id) i--
    if (this.ids[i - 1] === id) return
    this.ids.splice(i, 0, id)
    if (this.ids.length > this.#limit) this.ids.pop()
  }
}
