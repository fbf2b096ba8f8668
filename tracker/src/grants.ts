import type { PrivateKey } from '@libp2p/interface'
import {
  type DeleteOrder,
  fastPrivateKey,
  type GrantKind,
  type RepairOrder,
  signGrant,
  signRepairOrder,
  signRetainList
} from '@shoal/core'
import type { Clock } from './config.ts'
import { randomId } from './ids.ts'
import type { DeleteOrderRecord } from './store/store.ts'

export interface GrantRequest {
  kind: GrantKind
  piece: string
  node: string
  account: string
  size: number
  /** Reuse a serial (a re-signed delete order); default a fresh one. */
  serial?: string
  /** Get grants: the client's receipt key (download receipts, billing/settlement.ts). */
  rk?: string
  /** Get grants with `rk`: who asked, `a:<account>` or `s:<share>` (the receipt key's holder). */
  by?: string
  /** Audit grants: the leaves challenged. */
  leaves?: number[]
  /** Put and delete grants: the upload/object the piece belongs to (nodes own pieces per object). */
  obj?: string
}

/** Signs grants with the tracker key; every grant lives `ttlMs` from now. */
export class GrantSigner {
  readonly #key: PrivateKey
  readonly #clock: Clock
  readonly #ttlMs: number

  constructor(key: PrivateKey, clock: Clock, ttlMs: number) {
    this.#key = fastPrivateKey(key)
    this.#clock = clock
    this.#ttlMs = ttlMs
  }

  async sign(request: GrantRequest): Promise<{ serial: string; grant: string }> {
    const serial = request.serial ?? randomId()
    const iat = this.#clock.now()
    const grant = await signGrant(this.#key, {
      v: 1,
      kind: request.kind,
      piece: request.piece,
      node: request.node,
      account: request.account,
      size: request.size,
      serial,
      iat,
      exp: iat + this.#ttlMs,
      ...(request.rk === undefined ? {} : { rk: request.rk }),
      ...(request.by === undefined ? {} : { by: request.by }),
      ...(request.leaves === undefined ? {} : { leaves: request.leaves }),
      ...(request.obj === undefined ? {} : { obj: request.obj })
    })
    return { serial, grant }
  }

  /** Signs a node's retain list (wire/retain-list.ts): the node acts only on lists the tracker signed. */
  signRetain(list: { node: string; createdAt: number; filter: unknown }): Promise<string> {
    return signRetainList(this.#key, list)
  }

  /** Signs a repair order for one worker (repair protocol v2): only that node carries it out, only until it expires. */
  signRepair(worker: string, order: RepairOrder): Promise<string> {
    const iat = this.#clock.now()
    return signRepairOrder(this.#key, { v: 2, kind: 'repair', worker, iat, exp: iat + this.#ttlMs, ...order })
  }

  /**
   * Signs a queued delete order. Orders wait in the queue until their node comes back, however long that is, so
   * the grant is signed when it is handed out rather than when the order was made: it is never stale on arrival.
   */
  async signDelete(order: DeleteOrderRecord): Promise<DeleteOrder> {
    const { object, ...rest } = order
    const { grant } = await this.sign({ kind: 'delete', ...rest, obj: object })
    return { piece: order.piece, grant }
  }
}

/**
 * Delete orders for pieces on nodes, each with a fresh serial, each releasing only `object`'s hold on its piece:
 * a node deletes the file only when every object it was stored for released it (docs/security.md).
 */
export function deleteOrders(
  pieces: Iterable<{ node: string; cid: string; size: number }>,
  account: string,
  now: number,
  object: string
): DeleteOrderRecord[] {
  const orders: DeleteOrderRecord[] = []
  const seen = new Set<string>()
  for (const piece of pieces) {
    // The same piece can appear twice (placed and committed): one order per (node, piece) is enough.
    const key = `${piece.node}/${piece.cid}`
    if (seen.has(key)) continue
    seen.add(key)
    orders.push({
      node: piece.node,
      serial: randomId(),
      piece: piece.cid,
      account,
      size: piece.size,
      createdAt: now,
      object
    })
  }
  return orders
}
