import { describeError, ErrorCode, REPAIR_ACCOUNT, ShoalError, type UsageResponse } from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from '../config.ts'
import { PeriodicTask, type Startable } from '../lifecycle.ts'
import type {
  AccountRecord,
  BillableKind,
  InvoiceRecord,
  LedgerEntry,
  NodeReputation,
  PayoutRecord,
  PieceMove,
  SettlementRecord,
  StorageSpan,
  StoreParts
} from '../store/store.ts'
import {
  byteHours,
  egressBytes,
  egressMicros,
  movedByteMs,
  type Period,
  periodOf,
  previousPeriod,
  pricedCharges,
  storageByteMs,
  storageMicros,
  unpaidByteMs
} from './metering.ts'
import { findPlan, type Plan } from './plans.ts'

/** What nodes earn, in micro-units: per GiB-month of pieces held and per GiB served. */
export const NODE_RATES = { storageMicrosPerGiBMonth: 1_500, egressMicrosPerGiB: 2_000 } as const

/**
 * Share of a node's earnings held back in its first months (by statement number), as Storj does: a node that
 * leaves early or loses data forfeits it; afterwards nothing is held.
 */
export const HELD_BACK_PERCENT: readonly number[] = [75, 75, 75, 50, 50, 50, 25, 25, 25]

/** How long after a month ends the background job closes it. */
export const CLOSE_GRACE_MS = 3_600_000
/** Accounts or nodes read per store statement when a month closes. */
const BILLABLE_PAGE = 500

/** The period to date, as GET /v1/account/usage serves it. */
export type Usage = UsageResponse

/**
 * Metering, invoices and payouts. Storage comes from storage spans (an object counts from its commit to its
 * deletion; failed uploads never start one), egress from settled receipts. Closing a month writes each invoice
 * and statement together with its balanced ledger entries, once: the store refuses a second one for the same
 * period, so several trackers may run the monthly job at once and nobody is billed twice.
 */
export class Billing implements Startable {
  readonly #store: StoreParts<'accounts' | 'ledger' | 'reputations'>
  readonly #clock: Clock
  readonly #plans: readonly Plan[]
  readonly #logger: Logger
  readonly #task: PeriodicTask
  #closed: string | undefined

  constructor(components: {
    store: StoreParts<'accounts' | 'ledger' | 'reputations'>
    clock: Clock
    plans: readonly Plan[]
    logger: Logger
    intervalMs?: number
  }) {
    this.#store = components.store
    this.#clock = components.clock
    this.#plans = components.plans
    this.#logger = components.logger
    this.#task = new PeriodicTask({
      name: 'month close',
      intervalMs: components.intervalMs ?? 3_600_000,
      immediate: true,
      logger: components.logger,
      run: () => this.#closeDue()
    })
  }

  #plan(account: AccountRecord): Plan {
    const plan = findPlan(this.#plans, account.plan)
    if (plan === undefined)
      throw new ShoalError(ErrorCode.INTERNAL, `account ${account.id} has unknown plan ${account.plan}`)
    return plan
  }

  /**
   * The plan in force over each part of [from, to), from the account's recorded plan changes (its current plan
   * throughout when it has none: accounts from before changes were recorded).
   */
  async #planStretches(
    account: AccountRecord,
    from: number,
    to: number
  ): Promise<{ plan: Plan; from: number; to: number }[]> {
    const changes = await this.#store.accounts.listPlanChanges(account.id, to)
    const find = (id: string | undefined): Plan => {
      const plan = findPlan(this.#plans, id)
      if (plan === undefined) throw new ShoalError(ErrorCode.INTERNAL, `account ${account.id} had unknown plan ${id}`)
      return plan
    }
    if (changes.length === 0) return [{ plan: this.#plan(account), from, to }]
    let plan = find(changes[0]?.from)
    let cursor = from
    const out: { plan: Plan; from: number; to: number }[] = []
    for (const change of changes) {
      if (change.at > cursor) {
        out.push({ plan, from: cursor, to: change.at })
        cursor = change.at
      }
      plan = find(change.to)
    }
    if (to > cursor || out.length === 0) out.push({ plan, from: cursor, to: Math.max(cursor, to) })
    // A change back to the same plan, or several at one moment, leaves one stretch.
    const merged: typeof out = []
    for (const s of out) {
      const last = merged.at(-1)
      if (last !== undefined && last.plan.id === s.plan.id) last.to = s.to
      else merged.push({ ...s })
    }
    return merged
  }

  /**
   * Charges of one account over [from, to) of a period, prorated by plan: the fields an invoice and a usage
   * report share.
   */
  async #charges(
    account: AccountRecord,
    from: number,
    to: number,
    spans: readonly StorageSpan[],
    settled: readonly SettlementRecord[]
  ) {
    const stretches = await this.#planStretches(account, from, to)
    const priced = pricedCharges(
      spans,
      settled,
      stretches.map((s) => ({
        from: s.from,
        to: s.to,
        storageMicrosPerGiBMonth: s.plan.storageMicrosPerGiBMonth,
        egressMicrosPerGiB: s.plan.egressMicrosPerGiB
      })),
      (s) => s.size
    )
    const plan = (stretches.at(-1) as { plan: Plan }).plan
    return {
      plan: plan.id,
      ...(stretches.length > 1 ? { plans: stretches.map((s) => ({ plan: s.plan.id, from: s.from, to: s.to })) } : {}),
      storageByteMs: priced.byteMs.toString(),
      storageByteHours: byteHours(priced.byteMs),
      egressBytes: egressBytes(settled),
      storageMicros: priced.storageMicros,
      egressMicros: priced.egressMicros,
      totalMicros: priced.storageMicros + priced.egressMicros
    }
  }

  /** An account's usage and charges in a period (to date, for the current one), prorated by plan. */
  async usage(account: AccountRecord, period: Period): Promise<Usage> {
    const to = Math.min(period.to, Math.max(period.from, this.#clock.now()))
    const [spans, settled] = await Promise.all([
      this.#store.ledger.listStorageSpans({ account: account.id, from: period.from, to }),
      this.#store.ledger.listSettlements({ account: account.id, from: period.from, to: period.to })
    ])
    const charges = await this.#charges(account, period.from, to, spans, settled)
    return { period: period.id, from: period.from, to: period.to, ...charges }
  }

  /** What a node has earned in a period (to date, for the current one), as its statement will say. */
  async nodeEarnings(node: string, period: Period): Promise<Omit<PayoutRecord, 'issuedAt' | 'txn'>> {
    const to = Math.min(period.to, Math.max(period.from, this.#clock.now()))
    // Only what this node held and served: never the whole network's month.
    const [{ spans, moves }, settled, earlier, reputation] = await Promise.all([
      this.#store.ledger.listNodeStorage(node, period.from, to),
      this.#store.ledger.listSettlements({ node, from: period.from, to: period.to }),
      this.#store.ledger.listPayouts(node),
      this.#store.reputations.getReputation(node)
    ])
    return this.#statement(node, period, to, spans, moves, settled, earlier, reputation)
  }

  #statement(
    node: string,
    period: Period,
    to: number,
    spans: readonly StorageSpan[],
    moves: readonly PieceMove[],
    settled: readonly SettlementRecord[],
    earlier: readonly PayoutRecord[],
    reputation: NodeReputation | undefined
  ): Omit<PayoutRecord, 'issuedAt' | 'txn'> {
    // Storage counts only for nodes still standing: a disqualified node failed its audits, its pieces are lost.
    // A node holds what it was given at commit, then what repairs and exits moved to it and not what they moved
    // away (a piece rebuilt elsewhere stops earning from that moment), and is paid only for pieces that pass
    // their audits: from a failed audit until the piece passes again, is stored afresh or moves, it earns nothing.
    const standing = reputation?.disqualified === undefined || reputation.disqualified.at >= period.to
    const holding = standing
      ? storageByteMs(spans, period.from, to, (s) => s.nodes[node] ?? 0) +
        movedByteMs(spans, moves, node, period.from, to)
      : 0n
    const unpaid = standing ? unpaidByteMs(reputation, spans, moves, node, period.from, to) : 0n
    // Never below zero, whatever the records say: a statement pays, it never charges a node for storage.
    const failed = unpaid > holding ? holding : unpaid
    const byteMs = holding - failed
    const served = settled.filter((s) => s.node === node)
    const egress = egressBytes(served)
    const repairEgress = egressBytes(served.filter((s) => s.account === REPAIR_ACCOUNT))
    const s = storageMicros(byteMs, NODE_RATES.storageMicrosPerGiBMonth)
    const e = egressMicros(egress, NODE_RATES.egressMicrosPerGiB)
    const done = earlier.filter((p) => p.period < period.id).length
    const month = done + 1
    const gross = s + e
    const held = Math.floor((gross * (HELD_BACK_PERCENT[month - 1] ?? 0)) / 100)
    return {
      node,
      period: period.id,
      from: period.from,
      to: period.to,
      month,
      storageByteMs: byteMs.toString(),
      ...(failed > 0n ? { failedAuditByteMs: failed.toString() } : {}),
      egressBytes: egress,
      ...(repairEgress > 0 ? { repairEgressBytes: repairEgress } : {}),
      storageMicros: s,
      egressMicros: e,
      grossMicros: gross,
      heldMicros: held,
      paidMicros: gross - held
    }
  }

  /**
   * Closes a finished month: an invoice per account that stored or downloaded anything in it, a statement per
   * node that held or served anything. Idempotent; returns what this call wrote.
   */
  async closeMonth(period: Period): Promise<{ invoices: number; payouts: number }> {
    if (period.to > this.#clock.now()) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `period ${period.id} has not ended yet`)
    }
    // A page of accounts (then of nodes) at a time, each read on its own: memory holds one account's or one
    // node's month, never the network's.
    const now = this.#clock.now()
    const { from, to } = period
    let invoices = 0
    for await (const id of this.#billable('accounts', period)) {
      const account = await this.#store.accounts.getAccount(id)
      if (account === undefined) continue
      if ((await this.#store.ledger.getInvoice(id, period.id)) !== undefined) continue
      const [spans, settled] = await Promise.all([
        this.#store.ledger.listStorageSpans({ account: id, from, to }),
        this.#store.ledger.listSettlements({ account: id, from, to })
      ])
      const { storageByteHours: _hours, ...charges } = await this.#charges(account, from, to, spans, settled)
      const s = charges.storageMicros
      const e = charges.egressMicros
      const txn = `invoice:${id}:${period.id}`
      const invoice: InvoiceRecord = {
        accountId: id,
        period: period.id,
        from: period.from,
        to: period.to,
        ...charges,
        issuedAt: now,
        txn
      }
      const memo = `invoice ${period.id}`
      const legs = balanced(txn, now, memo, [
        [`customer:${id}`, s + e],
        ['revenue:storage', -s],
        ['revenue:egress', -e]
      ])
      if (await this.#store.ledger.closeInvoice(invoice, legs)) invoices++
    }

    let payouts = 0
    for await (const node of this.#billable('nodes', period)) {
      const earlier = await this.#store.ledger.listPayouts(node)
      if (earlier.some((p) => p.period === period.id)) continue
      const [reputation, { spans, moves }, settled] = await Promise.all([
        this.#store.reputations.getReputation(node),
        this.#store.ledger.listNodeStorage(node, from, to),
        this.#store.ledger.listSettlements({ node, from, to })
      ])
      const txn = `payout:${node}:${period.id}`
      const statement = this.#statement(node, period, period.to, spans, moves, settled, earlier, reputation)
      const payout: PayoutRecord = { ...statement, issuedAt: now, txn }
      const s = statement.storageMicros
      const e = statement.egressMicros
      const gross = statement.grossMicros
      const held = statement.heldMicros
      const legs = balanced(txn, now, `payout ${period.id}`, [
        ['expense:storage', s],
        ['expense:egress', e],
        [`node:${node}`, -(gross - held)],
        [`held:${node}`, -held]
      ])
      if (await this.#store.ledger.closePayout(payout, legs)) payouts++
    }
    if (invoices + payouts > 0) this.#logger.info({ period: period.id, invoices, payouts }, 'month closed')
    return { invoices, payouts }
  }

  /** The accounts or nodes a period bills, a page at a time. */
  async *#billable(kind: BillableKind, period: Period): AsyncGenerator<string> {
    for (let after: string | undefined; ; ) {
      const page = await this.#store.ledger.listBillable(kind, period.from, period.to, {
        limit: BILLABLE_PAGE,
        ...(after === undefined ? {} : { after })
      })
      yield* page
      if (page.length < BILLABLE_PAGE) return
      after = page.at(-1)
    }
  }

  /** Sums per ledger, derived from the entries (balances are never stored). */
  async balances(prefix?: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const e of await this.#store.ledger.listLedger(prefix)) out[e.ledger] = (out[e.ledger] ?? 0) + e.amount
    return out
  }

  /** Closes the previous month once it has ended, then checks again every interval. */
  start(): void {
    this.#task.start()
  }

  stop(): Promise<void> {
    return this.#task.stop()
  }

  async #closeDue(): Promise<void> {
    const now = this.#clock.now()
    const period = previousPeriod(periodOf(now))
    // A grace period after the month ends lets settlements that began before midnight commit first.
    if (this.#closed === period.id || now < period.to + CLOSE_GRACE_MS) return
    try {
      await this.closeMonth(period)
      this.#closed = period.id
    } catch (err) {
      this.#logger.error({ err: describeError(err), period: period.id }, 'closing the month failed')
    }
  }
}

/** Ledger legs of one transaction, zero legs left out; throws unless they sum to zero. */
function balanced(txn: string, at: number, memo: string, legs: [string, number][]): LedgerEntry[] {
  const entries = legs
    .filter(([, amount]) => amount !== 0)
    .map(([ledger, amount]) => ({ txn, ledger, amount, at, memo }))
  if (entries.reduce((sum, e) => sum + e.amount, 0) !== 0) {
    throw new ShoalError(ErrorCode.INTERNAL, `ledger transaction ${txn} does not balance`)
  }
  return entries
}
