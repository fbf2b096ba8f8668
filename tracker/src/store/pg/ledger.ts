import type {
  InvoiceRecord,
  LedgerEntry,
  PayoutRecord,
  PieceMove,
  SettlementRecord,
  StorageSpan
} from '../money-records.ts'
import type { ReceiptKeyRecord } from '../records.ts'
import type { BillableKind, IdPage, LedgerStore } from '../store.ts'
import type { Db, PgDb } from './pg-db.ts'

/** Opens an object's storage span inside a transaction (commitUpload). */
/** Opens many storage spans in one statement (importObjects). */
export async function startSpans(db: Db, spans: readonly StorageSpan[]): Promise<void> {
  await db.query(
    `INSERT INTO storage_spans (object_id, account, from_at, record)
     SELECT e->>'objectId', e->>'account', (e->>'from')::bigint, e FROM jsonb_array_elements($1::jsonb) AS e`,
    [JSON.stringify(spans)]
  )
}

export /** Closes an object's storage span at `at` (never before it began); a closed span stays as it is. */
async function endSpan(db: Db, objectId: string, at: number): Promise<void> {
  await db.query(
    `UPDATE storage_spans SET to_at = GREATEST($2::bigint, from_at),
       record = jsonb_set(record, '{to}', to_jsonb(GREATEST($2::bigint, from_at)))
     WHERE object_id = $1 AND to_at IS NULL`,
    [objectId, at]
  )
}

/** Records piece moves inside a transaction (updateSegmentPieces). */
export async function recordMoves(db: Db, objectId: string, at: number, moves: readonly PieceMove[]): Promise<void> {
  if (moves.length === 0) return
  await db.query(
    `INSERT INTO piece_moves (object_id, at, from_node, to_node, bytes)
     SELECT $1, $2, f, t, b FROM unnest($3::text[], $4::text[], $5::bigint[]) AS m(f, t, b)`,
    [objectId, at, moves.map((m) => m.from ?? null), moves.map((m) => m.to ?? null), moves.map((m) => m.bytes)]
  )
}

export class PgLedger implements LedgerStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  settle(records: readonly SettlementRecord[]): Promise<string[]> {
    if (records.length === 0) return Promise.resolve([])
    // One statement: the primary key on serial decides, across every tracker, which settlement is first.
    return this.#db.tx(async (db) => {
      const { rows } = await db.query<{ serial: string }>(
        `INSERT INTO settlements (serial, node, account, bytes, settled_at, record)
         SELECT e->>'serial', e->>'node', e->>'account', (e->>'bytes')::bigint, (e->>'settledAt')::bigint, e
         FROM jsonb_array_elements($1::jsonb) AS e
         ON CONFLICT (serial) DO NOTHING RETURNING serial`,
        [JSON.stringify(uniqueBySerial(records))]
      )
      const fresh = new Set(rows.map((r) => r.serial))
      return [...new Set(records.map((r) => r.serial))].filter((s) => fresh.has(s))
    })
  }

  async bindReceiptKey(record: ReceiptKeyRecord): Promise<string> {
    // One statement decides across trackers: the first holder stays; either way the row is returned.
    const [row] = await this.#db.query<{ holder: string }>(
      `WITH ins AS (
         INSERT INTO receipt_keys (key, holder, bound_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING
         RETURNING holder)
       SELECT holder FROM ins UNION ALL SELECT holder FROM receipt_keys WHERE key = $1 LIMIT 1`,
      [record.key, record.holder, record.boundAt]
    )
    if (row !== undefined) return row.holder
    // Another tracker's insert committed after this statement's snapshot: it is visible to the next one.
    return (await this.receiptKeyHolders([record.key])).get(record.key) ?? record.holder
  }

  async receiptKeyHolders(keys: readonly string[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map()
    const rows = await this.#db.query<{ key: string; holder: string }>(
      'SELECT key, holder FROM receipt_keys WHERE key = ANY($1::text[])',
      [[...new Set(keys)]]
    )
    return new Map(rows.map((r) => [r.key, r.holder]))
  }

  async listSettlements(filter: {
    account?: string
    node?: string
    from: number
    to: number
  }): Promise<SettlementRecord[]> {
    // One statement per filter shape, each on its own index (settlements_account, _node, _time): a prepared
    // "$3 IS NULL OR account = $3" gets a generic plan that scans by time whatever the account.
    const by =
      filter.account !== undefined && filter.node !== undefined
        ? { sql: ' AND account = $3 AND node = $4', params: [filter.account, filter.node] }
        : filter.account !== undefined
          ? { sql: ' AND account = $3', params: [filter.account] }
          : filter.node !== undefined
            ? { sql: ' AND node = $3', params: [filter.node] }
            : { sql: '', params: [] }
    const rows = await this.#db.query<{ record: SettlementRecord }>(
      `SELECT record FROM settlements WHERE settled_at >= $1 AND settled_at < $2${by.sql}
       ORDER BY settled_at, serial COLLATE "C"`,
      [filter.from, filter.to, ...by.params]
    )
    return rows.map((r) => r.record)
  }

  async listStorageSpans(filter: { account?: string; from: number; to: number }): Promise<StorageSpan[]> {
    const rows = await this.#db.query<{ record: StorageSpan }>(
      filter.account === undefined
        ? `SELECT record FROM storage_spans WHERE from_at < $2 AND (to_at IS NULL OR to_at > $1)
           ORDER BY object_id COLLATE "C"`
        : `SELECT record FROM storage_spans WHERE account = $3 AND from_at < $2 AND (to_at IS NULL OR to_at > $1)
           ORDER BY object_id COLLATE "C"`,
      filter.account === undefined ? [filter.from, filter.to] : [filter.from, filter.to, filter.account]
    )
    return rows.map((r) => r.record)
  }

  async listPieceMoves(objectIds: readonly string[]): Promise<PieceMove[]> {
    if (objectIds.length === 0) return []
    const rows = await this.#db.query<{
      object_id: string
      at: number
      from_node: string | null
      to_node: string | null
      bytes: number
    }>(
      'SELECT object_id, at, from_node, to_node, bytes FROM piece_moves WHERE object_id = ANY($1::text[]) ORDER BY at, seq',
      [[...new Set(objectIds)]]
    )
    return rows.map((r) => ({
      objectId: r.object_id,
      at: r.at,
      ...(r.from_node === null ? {} : { from: r.from_node }),
      ...(r.to_node === null ? {} : { to: r.to_node }),
      bytes: r.bytes
    }))
  }

  async listNodeStorage(node: string, from: number, to: number): Promise<{ spans: StorageSpan[]; moves: PieceMove[] }> {
    // By the GIN index on the span's nodes and the piece moves' node indexes (migration 15).
    const rows = await this.#db.query<{ record: StorageSpan }>(
      `SELECT record FROM storage_spans
       WHERE from_at < $2 AND (to_at IS NULL OR to_at > $1)
         AND (record -> 'nodes' ? $3
              OR object_id IN (SELECT object_id FROM piece_moves WHERE to_node = $3
                               UNION SELECT object_id FROM piece_moves WHERE from_node = $3))
       ORDER BY object_id COLLATE "C"`,
      [from, to, node]
    )
    const spans = rows.map((r) => r.record)
    return { spans, moves: await this.listPieceMoves(spans.map((s) => s.objectId)) }
  }

  async listBillable(kind: BillableKind, from: number, to: number, page: IdPage): Promise<string[]> {
    const spans = 'FROM storage_spans s WHERE s.from_at < $2 AND (s.to_at IS NULL OR s.to_at > $1)'
    const settled = 'FROM settlements WHERE settled_at >= $1 AND settled_at < $2'
    const who =
      kind === 'accounts'
        ? `SELECT s.account AS id ${spans} UNION SELECT account ${settled}`
        : `SELECT jsonb_object_keys(s.record -> 'nodes') AS id ${spans}
           UNION SELECT m.to_node FROM piece_moves m JOIN storage_spans s ON s.object_id = m.object_id
             WHERE m.to_node IS NOT NULL AND s.from_at < $2 AND (s.to_at IS NULL OR s.to_at > $1)
           UNION SELECT node ${settled}`
    const rows = await this.#db.query<{ id: string }>(
      `SELECT id FROM (${who}) w WHERE id COLLATE "C" > $3 ORDER BY id COLLATE "C" LIMIT $4`,
      [from, to, page.after ?? '', page.limit]
    )
    return rows.map((r) => r.id)
  }

  closeInvoice(invoice: InvoiceRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#db.tx(async (db) => {
      // The primary key (account, period) is the lock: a second tracker's insert waits, then finds the row.
      const { rowCount } = await db.query(
        'INSERT INTO invoices (account_id, period, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [invoice.accountId, invoice.period, JSON.stringify(invoice)]
      )
      if (rowCount !== 1) return false
      await postEntries(db, entries)
      return true
    })
  }

  async getInvoice(accountId: string, period: string): Promise<InvoiceRecord | undefined> {
    const [row] = await this.#db.query<{ record: InvoiceRecord }>(
      'SELECT record FROM invoices WHERE account_id = $1 AND period = $2',
      [accountId, period]
    )
    return row?.record
  }

  async listInvoices(accountId: string): Promise<InvoiceRecord[]> {
    const rows = await this.#db.query<{ record: InvoiceRecord }>(
      'SELECT record FROM invoices WHERE account_id = $1 ORDER BY period',
      [accountId]
    )
    return rows.map((r) => r.record)
  }

  closePayout(payout: PayoutRecord, entries: readonly LedgerEntry[]): Promise<boolean> {
    return this.#db.tx(async (db) => {
      const { rowCount } = await db.query(
        'INSERT INTO payouts (node, period, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [payout.node, payout.period, JSON.stringify(payout)]
      )
      if (rowCount !== 1) return false
      await postEntries(db, entries)
      return true
    })
  }

  async listPayouts(node: string): Promise<PayoutRecord[]> {
    const rows = await this.#db.query<{ record: PayoutRecord }>(
      'SELECT record FROM payouts WHERE node = $1 ORDER BY period',
      [node]
    )
    return rows.map((r) => r.record)
  }

  async listLedger(prefix = ''): Promise<LedgerEntry[]> {
    const rows = await this.#db.query<LedgerEntry>(
      'SELECT txn, ledger, amount, at, memo FROM ledger_entries WHERE starts_with(ledger, $1) ORDER BY seq',
      [prefix]
    )
    return rows.map((r) => ({ txn: r.txn, ledger: r.ledger, amount: r.amount, at: r.at, memo: r.memo }))
  }
}

async function postEntries(db: Db, entries: readonly LedgerEntry[]): Promise<void> {
  if (entries.length === 0) return
  await db.query(
    `INSERT INTO ledger_entries (txn, ledger, amount, at, memo)
     SELECT e->>'txn', e->>'ledger', (e->>'amount')::bigint, (e->>'at')::bigint, e->>'memo'
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n`,
    [JSON.stringify(entries)]
  )
}

/** The first record of each serial: one INSERT may not touch the same key twice. */
function uniqueBySerial(records: readonly SettlementRecord[]): SettlementRecord[] {
  const seen = new Map<string, SettlementRecord>()
  for (const r of records) if (!seen.has(r.serial)) seen.set(r.serial, r)
  return [...seen.values()]
}
