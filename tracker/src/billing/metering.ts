import { GiB } from '@shoal/core'
import type { NodeReputation, PieceMove, SettlementRecord, StorageSpan } from '../store/store.ts'
import { MONTH_MS } from './plans.ts'

/** A calendar month in UTC: what invoices and payout statements cover. */
export interface Period {
  /** YYYY-MM */
  id: string
  from: number
  to: number
}

export function periodOf(ms: number): Period {
  const d = new Date(ms)
  return monthPeriod(d.getUTCFullYear(), d.getUTCMonth())
}

export function parsePeriod(id: string): Period | undefined {
  const m = /^(\d{4})-(\d{2})$/.exec(id)
  if (m === null) return undefined
  const month = Number(m[2]) - 1
  if (month < 0 || month > 11) return undefined
  return monthPeriod(Number(m[1]), month)
}

export function previousPeriod(p: Period): Period {
  return periodOf(p.from - 1)
}

function monthPeriod(year: number, month: number): Period {
  return {
    id: `${year}-${String(month + 1).padStart(2, '0')}`,
    from: Date.UTC(year, month, 1),
    to: Date.UTC(year, month + 1, 1)
  }
}

/**
 * Byte-milliseconds stored within [from, to): each span counts `bytes(span)` for the part of its life inside
 * the window. BigInt, because a TiB held for a month is about 2^61 byte-ms.
 */
export function storageByteMs(
  spans: readonly StorageSpan[],
  from: number,
  to: number,
  bytes: (span: StorageSpan) => number
): bigint {
  let total = 0n
  for (const span of spans) {
    const start = Math.max(span.from, from)
    const end = Math.min(span.to ?? to, to)
    if (end > start) total += BigInt(bytes(span)) * BigInt(end - start)
  }
  return total
}

/**
 * What piece moves change in one node's byte-ms within [from, to): each move's bytes count for the node it went
 * to, and against the node it left, from the move until the object's span ends. Moves of objects with no span in
 * the list (not stored in the window) change nothing.
 */
export function movedByteMs(
  spans: readonly StorageSpan[],
  moves: readonly PieceMove[],
  node: string,
  from: number,
  to: number
): bigint {
  const within = objectWindow(spans, from, to)
  let total = 0n
  for (const move of moves) {
    const sign = (move.to === node ? 1n : 0n) - (move.from === node ? 1n : 0n)
    if (sign !== 0n) total += sign * within(move.objectId, move.bytes, move.at, to)
  }
  return total
}

/**
 * Byte-ms of `bytes` over [start, end) of an object, within both [from, to) and the object's span; nothing for
 * an object with no span in the list.
 */
function objectWindow(
  spans: readonly StorageSpan[],
  from: number,
  to: number
): (objectId: string, bytes: number, start: number, end: number) => bigint {
  const spanOf = new Map(spans.map((s) => [s.objectId, s]))
  return (objectId, bytes, start, end) => {
    const span = spanOf.get(objectId)
    if (span === undefined) return 0n
    const a = Math.max(start, span.from, from)
    const b = Math.min(end, span.to ?? to, to)
    return b > a ? BigInt(bytes) * BigInt(b - a) : 0n
  }
}

/**
 * Byte-ms within [from, to) that a node held pieces which had failed their audits: not paid for. A closed
 * stretch counts from the failure until the piece passed again or was stored afresh; an open one until the
 * first repair moved a piece of that object off the node (from then on the move itself stops the pay), or the
 * window's end. Both end with the object's span: a deleted object is not paid for either way.
 */
export function unpaidByteMs(
  rep: NodeReputation | undefined,
  spans: readonly StorageSpan[],
  moves: readonly PieceMove[],
  node: string,
  from: number,
  to: number
): bigint {
  if (rep === undefined) return 0n
  const stretch = objectWindow(spans, from, to)
  let total = 0n
  for (const u of rep.unpaid ?? []) total += stretch(u.objectId, u.bytes, u.from, u.to)
  const failed = rep.failedPieces ?? []
  if (failed.length === 0) return total
  // When pieces of each object left this node: one pass over the moves, not one per failed piece.
  const movesAway = new Map<string, number[]>()
  for (const m of moves) {
    if (m.from !== node) continue
    const times = movesAway.get(m.objectId)
    if (times === undefined) movesAway.set(m.objectId, [m.at])
    else times.push(m.at)
  }
  for (const f of failed) {
    if (f.objectId === undefined || f.bytes === undefined) continue
    const movedAway = (movesAway.get(f.objectId) ?? []).filter((at) => at >= f.at).reduce((a, b) => Math.min(a, b), to)
    total += stretch(f.objectId, f.bytes, f.at, movedAway)
  }
  return total
}

export function egressBytes(settlements: readonly SettlementRecord[]): number {
  return settlements.reduce((sum, s) => sum + s.bytes, 0)
}

const GIB = BigInt(GiB)
const GIB_MONTH_MS = GIB * BigInt(MONTH_MS)

/**
 * Micro-units for storage at `microsPerGiBMonth`, rounded down once per line (an invoice line or a statement
 * line), never per object: the customer pays for what was stored, to the micro-unit, never more.
 */
export function storageMicros(byteMs: bigint, microsPerGiBMonth: number): number {
  return Number((byteMs * BigInt(microsPerGiBMonth)) / GIB_MONTH_MS)
}

export function egressMicros(bytes: number, microsPerGiB: number): number {
  return Number((BigInt(bytes) * BigInt(microsPerGiB)) / GIB)
}

/** A stretch of time billed at one set of prices. */
export interface PricedStretch {
  from: number
  to: number
  storageMicrosPerGiBMonth: number
  egressMicrosPerGiB: number
}

/**
 * A customer's charges when prices change within the window (a plan change): storage in each stretch at that
 * stretch's price, each settled receipt at the price in force when it settled. Still rounded down once per line:
 * the exact sum of byte-ms x price is divided once, so splitting a month never costs anyone a micro-unit.
 */
export function pricedCharges(
  spans: readonly StorageSpan[],
  settlements: readonly SettlementRecord[],
  stretches: readonly PricedStretch[],
  bytes: (span: StorageSpan) => number
): { byteMs: bigint; storageMicros: number; egressMicros: number } {
  let byteMs = 0n
  let storage = 0n
  for (const s of stretches) {
    const part = storageByteMs(spans, s.from, s.to, bytes)
    byteMs += part
    storage += part * BigInt(s.storageMicrosPerGiBMonth)
  }
  let egress = 0n
  for (const r of settlements) {
    // Receipts settled after the last stretch (a usage query mid-month) take its price.
    const at = stretches.find((s) => r.settledAt < s.to) ?? stretches.at(-1)
    egress += BigInt(r.bytes) * BigInt(at?.egressMicrosPerGiB ?? 0)
  }
  return { byteMs, storageMicros: Number(storage / GIB_MONTH_MS), egressMicros: Number(egress / GIB) }
}

/** Byte-hours, for people: byte-ms / 3,600,000, with three decimals. */
export function byteHours(byteMs: bigint): string {
  const thousandths = (byteMs * 1000n) / 3_600_000n
  return `${thousandths / 1000n}.${String(thousandths % 1000n).padStart(3, '0')}`
}
