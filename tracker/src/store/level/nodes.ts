import type { DeleteOrderRecord, NodeRecord } from '../records.ts'
import type { NodeStore } from '../store.ts'
import { K, type LevelDb, type Op } from './level-db.ts'

/** Adds to `ops` the writes that queue `deletes` (each order also indexed by serial, to acknowledge it). */
export function queueOps(ops: Op[], deletes: readonly DeleteOrderRecord[]): void {
  for (const order of deletes) {
    const key = K.order(order)
    ops.push(
      { type: 'put', key, value: order },
      { type: 'put', key: K.orderSerial(order.node, order.serial), value: key }
    )
  }
}

export class LevelNodes implements NodeStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  recordHeartbeat(
    node: NodeRecord,
    acknowledged: readonly string[],
    orders = 0
  ): Promise<DeleteOrderRecord[] | undefined> {
    return this.#db.locks.run(K.node(node.peerId), async () => {
      const previous = await this.#db.get<NodeRecord>(K.node(node.peerId))
      if (previous !== undefined && node.lastAt <= previous.lastAt) return undefined
      const ops: Op[] = [{ type: 'put', key: K.node(node.peerId), value: node }]
      const serialKeys = acknowledged.map((serial) => K.orderSerial(node.peerId, serial))
      const orderKeys = serialKeys.length === 0 ? [] : await this.#db.level.getMany(serialKeys)
      serialKeys.forEach((serialKey, i) => {
        const orderKey = orderKeys[i]
        if (typeof orderKey !== 'string') return
        ops.push({ type: 'del', key: serialKey }, { type: 'del', key: orderKey })
      })
      await this.#db.batch(ops)
      return orders > 0 ? this.listDeleteOrders(node.peerId, orders) : []
    })
  }

  getNode(peerId: string): Promise<NodeRecord | undefined> {
    return this.#db.get(K.node(peerId))
  }

  listNodes(): Promise<NodeRecord[]> {
    return this.#db.values('node:')
  }

  listDeleteOrders(node: string, limit: number): Promise<DeleteOrderRecord[]> {
    return this.#db.values(`order:${node}:`, limit)
  }

  async queueDeletes(deletes: readonly DeleteOrderRecord[]): Promise<void> {
    const ops: Op[] = []
    queueOps(ops, deletes)
    await this.#db.batch(ops)
  }
}
