import { GiB } from '../constants.ts'

/**
 * Billing over the tracker API: usage, invoices and node payout statements. Money is integer micro-units of
 * the currency (1 unit = 1,000,000); byte-milliseconds can pass 2^53, so they travel as decimal strings.
 */

/** A billing month is 30 days of 24 hours, whatever the calendar month's length. */
export const BILLING_MONTH_MS = 30 * 24 * 3_600_000

/** A stretch of a period billed at one plan: prices follow the plan the account was on at each moment. */
export interface PlanStretch {
  plan: string
  from: number
  to: number
}

/** What an account's period comes to: the same lines in the usage to date and in the month's invoice. */
export interface PeriodCharges {
  period: string
  from: number
  to: number
  /** The plan at the end of the period (for usage to date: now). */
  plan: string
  /** When the plan changed within the period: each stretch and its plan, in order (charges are prorated). */
  plans?: PlanStretch[]
  storageByteMs: string
  egressBytes: number
  storageMicros: number
  egressMicros: number
  totalMicros: number
}

/** GET /v1/account/usage[?period=YYYY-MM]: the period to date, at the account's current plan. */
export interface UsageResponse extends PeriodCharges {
  storageByteHours: string
}

/** GET /v1/account/invoices/:period (and listed by GET /v1/account/invoices). */
export interface Invoice extends PeriodCharges {
  accountId: string
  issuedAt: number
  txn: string
}

/**
 * The `account` of get grants for a repair's reads: repair traffic is the network's cost, paid to the nodes that
 * serve it and billed to no customer.
 */
export const REPAIR_ACCOUNT = 'network:repair'

export interface PayoutStatement {
  node: string
  period: string
  from: number
  to: number
  /** 1 for the node's first statement: the held-back share depends on it. */
  month: number
  /** Byte-ms paid for: held, and not after a failed audit. */
  storageByteMs: string
  /** Byte-ms held while those pieces had failed their audits: left out of `storageByteMs`, not paid. */
  failedAuditByteMs?: string
  /** Bytes served: downloads and repairs. */
  egressBytes: number
  /** The part of `egressBytes` served to repair workers (paid the same, billed to no customer). */
  repairEgressBytes?: number
  storageMicros: number
  egressMicros: number
  grossMicros: number
  heldMicros: number
  paidMicros: number
  issuedAt: number
  txn: string
}

/** GET /v1/nodes/:peerId/payouts */
export interface PayoutsResponse {
  node: string
  payouts: PayoutStatement[]
  totals: { grossMicros: number; paidMicros: number; heldMicros: number }
}

/** Micro-units as a decimal amount: 1234567 -> "1.234567". */
export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : ''
  const abs = Math.abs(micros)
  return `${sign}${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`
}

/** Six decimals of a big ratio, exact (no float rounding of the numerator). */
function ratio(numerator: bigint, denominator: bigint): string {
  const micro = (numerator * 1_000_000n) / denominator
  return `${micro / 1_000_000n}.${String(micro % 1_000_000n).padStart(6, '0')}`
}

export const gibMonths = (byteMs: string): string => ratio(BigInt(byteMs), BigInt(GiB) * BigInt(BILLING_MONTH_MS))
export const gibibytes = (bytes: number): string => ratio(BigInt(bytes), BigInt(GiB))

/**
 * The plan of an invoice or usage as a person reads it: "plus", or for a month with a plan change
 * "free to 2030-04-10T12:00Z then plus" (no commas: it is also a CSV field).
 */
export function planLabel(i: { plan: string; plans?: readonly PlanStretch[] }): string {
  if (i.plans === undefined || i.plans.length < 2) return i.plan
  const at = (ms: number) => `${new Date(ms).toISOString().slice(0, 16)}Z`
  return i.plans.map((p, n) => (n === i.plans!.length - 1 ? p.plan : `${p.plan} to ${at(p.to)}`)).join(' then ')
}

/** An invoice as CSV a person can read in a spreadsheet: one line per item and a total. */
export function invoiceCsv(i: Invoice): string {
  const plan = planLabel(i)
  return [
    'period,account,plan,item,quantity,unit,amount',
    `${i.period},${i.accountId},${plan},storage,${gibMonths(i.storageByteMs)},GiB-month,${formatMicros(i.storageMicros)}`,
    `${i.period},${i.accountId},${plan},download,${gibibytes(i.egressBytes)},GiB,${formatMicros(i.egressMicros)}`,
    `${i.period},${i.accountId},${plan},total,,,${formatMicros(i.totalMicros)}`,
    ''
  ].join('\n')
}

/** A node's statements as CSV, one line per month. */
export function payoutsCsv(payouts: readonly PayoutStatement[]): string {
  return [
    'period,node,month,stored GiB-months,failed audits GiB-months (unpaid),served GiB,of which to repairs GiB,storage,download,gross,held back,paid',
    ...payouts.map((p) =>
      [
        p.period,
        p.node,
        p.month,
        gibMonths(p.storageByteMs),
        gibMonths(p.failedAuditByteMs ?? '0'),
        gibibytes(p.egressBytes),
        gibibytes(p.repairEgressBytes ?? 0),
        formatMicros(p.storageMicros),
        formatMicros(p.egressMicros),
        formatMicros(p.grossMicros),
        formatMicros(p.heldMicros),
        formatMicros(p.paidMicros)
      ].join(',')
    ),
    ''
  ].join('\n')
}
