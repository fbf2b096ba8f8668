import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { KiB, MAX_PIECE_BYTES, MiB } from '../constants.ts'
import { ErrorCode, ShoalError } from '../errors.ts'
import { openTokenWithLimit, signToken } from '../signed-token.ts'
import type { NodeAddress } from './tracker-api.ts'

/**
 * The repair protocol: the tracker asks a storage node (the worker) to rebuild the missing pieces of one
 * segment, so repair traffic flows between nodes and never through the tracker. The request is one header
 * frame, a `RepairOrder`: the segment's layout, the pieces to read (each with a get grant for its holder) and
 * the pieces to rebuild (each with the CID it must have and a put grant for the node that gets it). Every grant
 * is the tracker's, so an order nobody at the tracker made does nothing: the worker checks them all before it
 * starts. The answer is one header frame, `RepairAnswer`: each stored piece with its holder's signed receipt,
 * which the tracker checks itself before it trusts the worker's word.
 *
 * Version 2 (issue 12): the request frame is `{ order: <token> }`, the order signed by the tracker for one
 * worker with a short life (`SignedRepairOrder`). Before, any peer holding some valid grants could make a node
 * fetch and push pieces for it, and the order's own k, m and piece size sized a buffer before anything was
 * checked. Now nothing is allocated or dialled until the signature, the worker, the expiry and the bounds hold.
 */
export const PROTOCOL_REPAIR = '/shoal/repair/2.0.0'

/** Largest signed order a worker reads: 256 pieces with their grants fit. */
export const MAX_REPAIR_ORDER_BYTES = 512 * KiB
/** Most bytes one order may make its worker hold: the sources it reads and the pieces it rebuilds. */
export const MAX_REPAIR_BYTES = 2 * (MAX_PIECE_BYTES + 256) + 64 * MiB

/** The payload the tracker signs: the order, for one worker, until `exp`. */
export interface SignedRepairOrder extends RepairOrder {
  v: 2
  kind: 'repair'
  /** Peer id of the only node that may carry it out. */
  worker: string
  iat: number
  exp: number
}

export function signRepairOrder(trackerKey: PrivateKey, order: SignedRepairOrder): Promise<string> {
  return signToken(trackerKey, order)
}

/**
 * Opens a signed repair order: the tracker's signature, meant for `worker`, alive at `now` (give or take
 * `skewMs`), and within the bounds of `parseRepairOrder`. ERR_GRANT_INVALID / ERR_GRANT_WRONG_NODE /
 * ERR_GRANT_EXPIRED / ERR_PROTOCOL otherwise.
 */
export async function openRepairOrder(
  token: unknown,
  trackerKey: PublicKey,
  expect: { worker: string; now: number; skewMs: number }
): Promise<RepairOrder> {
  const p = (await openTokenWithLimit(
    token,
    trackerKey,
    ErrorCode.GRANT_INVALID,
    'repair order',
    MAX_REPAIR_ORDER_BYTES
  )) as Partial<SignedRepairOrder> | null
  if (p === null || typeof p !== 'object' || p.v !== 2 || p.kind !== 'repair') {
    throw new ShoalError(ErrorCode.GRANT_INVALID, 'repair order payload is not a repair order')
  }
  if (p.worker !== expect.worker) {
    throw new ShoalError(ErrorCode.GRANT_WRONG_NODE, 'repair order is for another worker')
  }
  if (!Number.isSafeInteger(p.exp) || !Number.isSafeInteger(p.iat)) {
    throw new ShoalError(ErrorCode.GRANT_INVALID, 'repair order has no valid lifetime')
  }
  if ((p.exp as number) + expect.skewMs < expect.now) {
    throw new ShoalError(ErrorCode.GRANT_EXPIRED, 'repair order expired')
  }
  if ((p.iat as number) - expect.skewMs > expect.now) {
    throw new ShoalError(ErrorCode.GRANT_INVALID, 'repair order is issued in the future')
  }
  return parseRepairOrder(p as Record<string, unknown>)
}

export interface RepairSource {
  index: number
  cid: string
  node: NodeAddress
  /** Get grant for `node`. */
  grant: string
}

export interface RepairTarget {
  index: number
  /** What the rebuilt piece must hash to (the CID in the manifest). */
  cid: string
  node: NodeAddress
  /** Put grant for `node`. */
  grant: string
}

export interface RepairOrder {
  k: number
  m: number
  pieceSize: number
  /** Holders to read from, best first; the worker reads k of them (more when some fail). */
  sources: RepairSource[]
  targets: RepairTarget[]
}

export interface RepairAnswer {
  ok: true
  placed: { index: number; cid: string; node: string; root: string; receipt: string }[]
  failed: { index: number; node: string; message: string }[]
}

const MAX_PIECES = 256
const MAX_FIELD = 8192

/** Checks a repair order's shape from an untrusted peer; grants are checked by the worker afterwards. */
export function parseRepairOrder(frame: Record<string, unknown>): RepairOrder {
  const bad = (what: string): never => {
    throw new ShoalError(ErrorCode.PROTOCOL, `repair order: ${what}`)
  }
  const { k, m, pieceSize, sources, targets } = frame
  const count = (v: unknown, min: number, max: number): v is number =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
  if (!count(k, 1, MAX_PIECES) || !count(m, 0, MAX_PIECES) || (k as number) + (m as number) > MAX_PIECES) {
    bad('k and m are missing or out of range')
  }
  if (!count(pieceSize, 1, MAX_PIECE_BYTES)) bad('pieceSize is missing or out of range')
  const total = (k as number) + (m as number)
  // Checked before anything is allocated: k sources and up to m rebuilt pieces of pieceSize each.
  if (total * (pieceSize as number) > MAX_REPAIR_BYTES) bad('k, m and pieceSize ask for too much memory')
  const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD
  const address = (v: unknown): NodeAddress => {
    const a = v as Partial<NodeAddress> | null
    if (a === null || typeof a !== 'object' || !text(a.peerId) || !Array.isArray(a.addrs)) bad('a node address')
    const addrs = (a as NodeAddress).addrs
    if (addrs.length > 32 || !addrs.every(text)) bad('a node address')
    return { peerId: (a as NodeAddress).peerId, addrs: [...addrs] }
  }
  const piece = (v: unknown): RepairSource => {
    const p = v as Partial<RepairSource> | null
    if (p === null || typeof p !== 'object') return bad('a piece')
    if (!count(p.index, 0, total - 1)) bad('a piece index')
    if (!text(p.cid) || !text(p.grant)) bad('a piece without cid or grant')
    return { index: p.index as number, cid: p.cid as string, node: address(p.node), grant: p.grant as string }
  }
  if (!Array.isArray(sources) || sources.length > MAX_PIECES) bad('sources')
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_PIECES) bad('targets')
  const order: RepairOrder = {
    k: k as number,
    m: m as number,
    pieceSize: pieceSize as number,
    sources: (sources as unknown[]).map(piece),
    targets: (targets as unknown[]).map(piece)
  }
  if (new Set(order.targets.map((t) => t.index)).size !== order.targets.length) bad('a target index twice')
  return order
}
