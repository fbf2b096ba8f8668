import type { DeleteOrderRecord, NodeRecord } from '../records.ts'
import type { NodeStore } from '../store.ts'
import type { Db, PgDb } from './pg-db.ts'

/** Queues delete orders inside a transaction; an order already queued (same node and serial) stays as it is. */
export async function queueDeletes(db: Db, deletes: readonly DeleteOrderRecord[]): Promise<void> {
  if (deletes.length === 0) return
  await db.query(
    `INSERT INTO delete_orders (node, serial, created_at, record)
       SELECT e->>'node', e->>'serial', (e->>'createdAt')::bigint, e FROM jsonb_array_elements($1::jsonb) AS e
       ON CONFLICT (node, serial) DO NOTHING`,
    [JSON.stringify(deletes)]
  )
}

/**
 * Most acknowledged serials a heartbeat's one statement leaves out of its read of the node's queue: each row
 * read is compared with every one (PostgreSQL hashes no parameter array), 10,000 of them took 0.7 s.
 */
const MAX_INLINE_ACKNOWLEDGED = 64

export class PgNodes implements NodeStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  /**
   * One statement: a conditional upsert (its row lock makes "newer than the last" exact under races), only when
   * it wrote the acknowledged delete orders removed, and the node's queued orders read. The read sees the
   * statement's snapshot, with the acknowledged orders still in it: it leaves them out by serial, a comparison
   * with each acknowledged serial per row read. A heartbeat that acknowledges many (thousands after a large
   * delete) reads its orders in a second statement instead.
   */
  async recordHeartbeat(
    node: NodeRecord,
    acknowledged: readonly string[],
    orders = 0
  ): Promise<DeleteOrderRecord[] | undefined> {
    const inline = orders > 0 && acknowledged.length <= MAX_INLINE_ACKNOWLEDGED
    const [row] = await this.#db.queryRetried<{ accepted: boolean; orders: DeleteOrderRecord[] | null }>(
      `WITH up AS (
         INSERT INTO nodes (peer_id, last_at, record) VALUES ($1, $2, $3)
         ON CONFLICT (peer_id) DO UPDATE SET last_at = EXCLUDED.last_at, record = EXCLUDED.record
         WHERE nodes.last_at < EXCLUDED.last_at
         RETURNING 1
       ),
       del AS (
         DELETE FROM delete_orders WHERE node = $1 AND serial = ANY($4::text[]) AND EXISTS (SELECT 1 FROM up)
       ),
       queued AS (
         SELECT record, created_at, serial FROM delete_orders
         WHERE node = $1 AND EXISTS (SELECT 1 FROM up) AND NOT (serial = ANY($4::text[]))
         ORDER BY created_at, serial LIMIT $5
       )
       SELECT EXISTS (SELECT 1 FROM up) AS accepted,
         (SELECT json_agg(record ORDER BY created_at, serial) FROM queued) AS orders`,
      [node.peerId, node.lastAt, JSON.stringify(node), acknowledged, inline ? orders : 0]
    )
    if (row?.accepted !== true) return undefined
    if (inline) return row.orders ?? []
    return orders > 0 ? this.listDeleteOrders(node.peerId, orders) : []
  }

  async getNode(peerId: string): Promise<NodeRecord | undefined> {
    const [row] = await this.#db.query<{ record: NodeRecord }>('SELECT record FROM nodes WHERE peer_id = $1', [peerId])
    return row?.record
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.#db.query<{ record: NodeRecord }>('SELECT record FROM nodes ORDER BY peer_id')).map(
      (r) => r.record
    )
  }

  async listDeleteOrders(node: string, limit: number): Promise<DeleteOrderRecord[]> {
    const rows = await this.#db.query<{ record: DeleteOrderRecord }>(
      'SELECT record FROM delete_orders WHERE node = $1 ORDER BY created_at, serial LIMIT $2',
      [node, limit]
    )
    return rows.map((r) => r.record)
  }

  queueDeletes(deletes: readonly DeleteOrderRecord[]): Promise<void> {
    return this.#db.tx((db) => queueDeletes(db, deletes))
  }
}
